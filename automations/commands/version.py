from __future__ import annotations

import argparse

from automations import __version__
from automations.errors import EXIT_OK
from automations.output import Reporter
from automations.plugins import StepRegistry


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    registry = StepRegistry()
    plugins = {name: registry.source(name).origin for name in registry.names()}  # type: ignore[union-attr]
    if reporter.json_output:
        reporter.event("version", version=__version__, steps=plugins)
        return EXIT_OK
    reporter.print(f"automations {__version__}")
    for name, origin in plugins.items():
        reporter.print(f"  step {name}: {origin}")
    return EXIT_OK
