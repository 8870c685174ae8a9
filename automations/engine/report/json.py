"""The reporter for machines (`--output json`): one JSON object per line, each with `event`
and `time`. Every value is redacted before it is serialised: escaping would hide a secret
holding `"`, `\\` or non-ASCII from a redactor reading the JSON text. Imported only for JSON
output, so the text CLI never loads the json module for it."""
from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from automations.engine.report.base import Reporter
from automations.redaction import REDACTOR

if TYPE_CHECKING:
    from automations.errors import Problem


class JsonReporter(Reporter):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._outputs: dict[tuple[str, str], dict[str, Any]] = {}  # until the step's event

    def event(self, kind: str, **fields: Any) -> None:
        record = {"event": kind, "time": round(time.time(), 3), **fields}
        self._write(json.dumps(REDACTOR.redact_value(record), default=str), redacted=True)

    def show_log(self, task: str | None, level: str, message: str) -> None:
        self.event("log", task=task, level=level, message=message)

    def show_output(self, task: str, line: str) -> None:
        self.event("output", task=task, line=line)

    def show_step_started(self, task: str, step: str) -> None:
        self.event("step_start", task=task, step=step)

    def show_step_outputs(self, task: str, step: str, outputs: Mapping[str, Any]) -> None:
        with self._lock:
            self._outputs[(task, step)] = dict(outputs)

    def show_step_finished(self, task: str, step: str, status: str, seconds: float, message: str,
                           attempts: int) -> None:
        with self._lock:
            outputs = self._outputs.pop((task, step), {})
        # `outputs`: what the step produced (declared secrets `***`); {} when it failed.
        self.event("step", task=task, step=step, status=status, duration=round(seconds, 3), message=message,
                   attempts=attempts, outputs=outputs)

    def show_task_finished(self, task: str, status: str, seconds: float, message: str) -> None:
        self.event("task", task=task, status=status, duration=round(seconds, 3), message=message)

    def summary(self, statuses: dict[str, str], seconds: float) -> None:
        self.event("summary", tasks=statuses, duration=round(seconds, 3))

    def plan(self, task: str, lines: list[str]) -> None:
        self.event("plan", task=task, steps=lines)

    def error(self, message: str) -> None:
        self.event("error", message=message)

    def problem(self, problem: Problem) -> None:
        self.event("error", file=problem.file, line=problem.line, column=problem.column, message=problem.message)

    def result(self, kind: str, text: Iterable[str], /, *, stderr: Iterable[str] = (), **fields: Any) -> None:
        self.event(kind, **fields)
