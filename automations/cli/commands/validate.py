from __future__ import annotations

import argparse

from automations.engine.config import find_config, load_config
from automations.engine.report.base import NORMAL, Reporter
from automations.errors import EXIT_OK
from automations.wording import plural


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    path = find_config(args.config)
    config = load_config(path)
    steps = sum(len(t.steps) for t in config.tasks.values())
    # -q keeps a valid file's line out of the text (a script checks the exit code); not the event.
    text = [f"{path}: ok ({plural(len(config.tasks), 'task')}, {plural(steps, 'step')})"]
    reporter.result("valid", text if reporter.verbosity >= NORMAL else [], file=str(path), tasks=len(config.tasks),
                    steps=steps)
    return EXIT_OK
