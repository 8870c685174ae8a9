from __future__ import annotations

import argparse

from automations.engine.config import Config, find_config, load_config, select_tasks
from automations.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, FatalError
from automations.engine.report.base import Reporter


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    if not args.tasks and not args.trigger:
        raise FatalError("name the tasks to run (automations run TASK...) or a trigger (--trigger EVENT)")
    config = load_config(find_config(args.config))
    order = select_tasks(config, args.tasks, args.trigger)
    if not order:
        reporter.warning(_nothing_triggered(config, args.trigger))
        return EXIT_OK
    from automations.engine.runner import Runner

    if not args.dry_run:
        from automations.engine.report.history import record_runs

        record_runs(reporter, config.path, trigger=args.trigger)
    outcome = Runner(config, reporter, dry_run=args.dry_run, force=args.force, jobs=args.jobs).run(order)
    if outcome.interrupted:
        return EXIT_INTERRUPTED
    if args.dry_run and outcome.failed:
        cannot = [t for t, status in outcome.statuses.items() if status == "failed"]
        reporter.error(f"cannot plan every step of {', '.join(cannot)}: the run would fail (see `cannot plan` above)")
    return EXIT_FAILED if outcome.failed else EXIT_OK


def _nothing_triggered(config: Config, trigger: str) -> str:
    """Nothing to do is not a failure (exit 0), but a start hook calling the wrong trigger
    should see at once why nothing ran, and which triggers the file does use."""
    used = sorted({t for task in config.tasks.values() for t in task.triggered_by})
    return (f"nothing to run: no task in {config.path.name} is triggered by {trigger}"
            + (f" (its tasks use: {', '.join(used)})" if used else ""))
