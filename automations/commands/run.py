from __future__ import annotations

import argparse

from automations.config import find_config, load_config, select_tasks
from automations.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, FatalError
from automations.output import Reporter


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    if not args.tasks and not args.trigger:
        raise FatalError("name the tasks to run (automations run TASK...) or a trigger (--trigger EVENT)")
    config = load_config(find_config(args.config))
    order = select_tasks(config, args.tasks, args.trigger)
    if not order:
        reporter.warning(f"no task is triggered by {args.trigger}")
        return EXIT_OK
    from automations.runner import Runner

    if not args.dry_run:
        from automations.history import recording

        reporter = recording(reporter, config.path, trigger=args.trigger)
    outcome = Runner(config, reporter, dry_run=args.dry_run, force=args.force, jobs=args.jobs).run(order)
    if outcome.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if outcome.failed else EXIT_OK
