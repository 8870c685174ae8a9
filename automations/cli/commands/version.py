from __future__ import annotations

import argparse
from typing import Iterator

from automations import __version__
from automations.errors import EXIT_OK
from automations.engine.report.base import Reporter
from automations.engine.plugins import StepRegistry


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    registry = StepRegistry()
    sources = [registry.source(name) for name in registry.names()]
    plugins = {s.name: s.origin for s in sources if s is not None}
    # A name two distributions claim cannot be used until one is uninstalled: show every claim.
    conflicts = {s.name: [f"{s.origin} ({s.target})", *s.rivals] for s in sources if s is not None and s.rivals}
    reporter.result("version", _describe(plugins, conflicts), version=__version__, steps=plugins, conflicts=conflicts)
    return EXIT_OK


def _describe(plugins: dict[str, str], conflicts: dict[str, list[str]]) -> Iterator[str]:
    yield f"automations {__version__}"
    for name, origin in plugins.items():
        if name in conflicts:
            yield (f"  step {name}: claimed by {len(conflicts[name])} distributions, so unusable until "
                   f"one is uninstalled: {'; '.join(conflicts[name])}")
        else:
            yield f"  step {name}: {origin}"
