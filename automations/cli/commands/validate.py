from __future__ import annotations

import argparse

from automations.engine.config import find_config, load_config
from automations.errors import EXIT_OK
from automations.engine.report.output import Reporter, plural


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    path = find_config(args.config)
    config = load_config(path)
    steps = sum(len(t.steps) for t in config.tasks.values())
    if reporter.json_output:
        reporter.event("valid", file=str(path), tasks=len(config.tasks), steps=steps)
    elif reporter.verbosity >= 0:
        reporter.print(f"{path}: ok ({plural(len(config.tasks), 'task')}, {plural(steps, 'step')})")
    return EXIT_OK
