"""`automations logs [TASK]`: the output of a task's last run (or of every task in the most
recent run), as it was recorded: already redacted.

No run recorded yet is the normal state of a fresh environment, not a mistake in the command
line: it exits 0 (like `status` saying `never run`), prints nothing on stdout and says so on
stderr. Exit 2 stays for what is misuse, such as an unknown task."""
from __future__ import annotations

import argparse

from automations.engine.config import find_config, load_config
from automations.errors import EXIT_OK, FatalError
from automations.engine.report.history import RunHistory, newest_run
from automations.engine.report.base import Reporter


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    config = load_config(find_config(args.config))
    history = RunHistory(config.path)
    if args.task:
        if args.task not in config.tasks and args.task not in history.tasks():
            raise FatalError(f"unknown task {args.task!r} (tasks: {', '.join(config.tasks) or 'none'})")
        tasks = [args.task]
    else:
        run_id = newest_run(history, list(config.tasks))
        if run_id is None:
            reporter.warning(f"no runs recorded yet for {config.path} (`automations run TASK` records them)")
            return EXIT_OK
        tasks = [t for t in config.tasks if (history.last(t) or {}).get("run") == run_id]
    for task in tasks:
        record = history.last(task)
        text = history.log(task)
        if record is None or text is None:
            reporter.warning(f"no run of {task!r} recorded yet for {config.path}")
            continue
        _print(reporter, task, record, text, header=len(tasks) > 1)
    return EXIT_OK


def _print(reporter: Reporter, task: str, record: dict, text: str, header: bool) -> None:
    lines = text.splitlines()
    heading = [f"== {task}: {record.get('status')} at {record.get('start')} =="] if header else []
    reporter.result("task_log", heading + lines, task=task, run=record.get("run"), start=record.get("start"),
                    status=record.get("status"), lines=lines)
