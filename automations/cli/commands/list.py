from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Iterator

from automations.engine.config import find_config, load_config
from automations.errors import EXIT_OK
from automations.engine.report.base import Reporter

if TYPE_CHECKING:
    from automations.engine.config import TaskSpec


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    config = load_config(find_config(args.config))
    for task in config.tasks.values():
        reporter.result("task_info", _describe(task), task=task.id, name=task.name, description=task.description,
                        triggeredBy=task.triggered_by, dependsOn=task.depends_on,
                        steps=[s.label for s in task.steps])
    return EXIT_OK


def _describe(task: TaskSpec) -> Iterator[str]:
    yield f"{task.id}" + (f"  {task.name}" if task.name else "")
    yield f"  triggered by: {', '.join(task.triggered_by)}"
    if task.depends_on:
        yield f"  depends on:   {', '.join(task.depends_on)}"
    yield f"  steps:        {', '.join(s.label for s in task.steps)}"
