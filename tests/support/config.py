"""What `automations validate` says about a configuration, line by line."""
from __future__ import annotations

from pathlib import Path

from support.cli import run_cli


def problems_of(config: Path, env: dict[str, str], *args: str) -> list[str]:
    """The lines `automations [ARGS] -c CONFIG validate` prints for a refused file (it must be refused)."""
    result = run_cli(*args, "-c", str(config), "validate", cwd=config.parent, env=env)
    assert result.code == 2, result.output
    return result.stderr.splitlines()
