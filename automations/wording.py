"""How counts read in what the CLI and the steps say: `1 task`, `3 secrets`.

A shared mechanic (the engine's reporters, the commands, the AWS readers and the step types
all count things), so it lives here and not in any one of them; plugins get it through
automations.api.
"""
from __future__ import annotations


def plural(count: int, noun: str) -> str:
    """`1 task`, `2 tasks`: every count the CLI prints goes through here."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
