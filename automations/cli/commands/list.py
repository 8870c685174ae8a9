from __future__ import annotations

import argparse

from automations.engine.config import find_config, load_config
from automations.errors import EXIT_OK
from automations.engine.report.output import Reporter


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    config = load_config(find_config(args.config))
    for task in config.tasks.values():
        if reporter.json_output:
            reporter.event("task_info", task=task.id, name=task.name, description=task.description,
                           triggeredBy=task.triggered_by, dependsOn=task.depends_on,
                           steps=[s.label for s in task.steps])
            continue
        title = f"{task.id}" + (f"  {task.name}" if task.name else "")
        reporter.print(title)
        reporter.print(f"  triggered by: {', '.join(task.triggered_by)}")
        if task.depends_on:
            reporter.print(f"  depends on:   {', '.join(task.depends_on)}")
        reporter.print(f"  steps:        {', '.join(s.label for s in task.steps)}")
    return EXIT_OK
