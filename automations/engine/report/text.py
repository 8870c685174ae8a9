"""The reporter for people: a line per step, a summary per task, child output prefixed by its
task so concurrent tasks stay readable; errors and warnings on stderr; colour only on a
terminal, and never with NO_COLOR."""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import IO, TYPE_CHECKING, Any

from automations.engine.report.base import NORMAL, VERBOSE, Reporter, after_attempts
from automations.wording import plural

if TYPE_CHECKING:
    from automations.errors import Problem

_COLORS = {"ok": "32", "changed": "33", "skipped": "36", "failed": "31", "cancelled": "31",
           "warning": "33", "error": "31", "dim": "2"}


def use_color(stream: IO[str], requested_off: bool) -> bool:
    if requested_off or "NO_COLOR" in os.environ:
        return False
    return hasattr(stream, "isatty") and stream.isatty()


class TextReporter(Reporter):
    def __init__(self, *, verbosity: int = NORMAL, color: bool = False, out: IO[str] | None = None,
                 err: IO[str] | None = None) -> None:
        super().__init__(verbosity=verbosity, out=out, err=err)
        self.color = color

    def _paint(self, text: str, kind: str) -> str:
        return f"\033[{_COLORS[kind]}m{text}\033[0m" if self.color and kind in _COLORS else text

    def show_log(self, task: str | None, level: str, message: str) -> None:
        prefix = f"{task} | " if task else ""
        marker = self._paint("warning: ", "warning") if level == "warning" else ""
        for line in message.splitlines() or [""]:
            self._write(f"{prefix}{marker}{line}", self.err if level == "warning" else None)

    def show_output(self, task: str, line: str) -> None:
        self._write(f"{self._paint(task + ' |', 'dim')} {line}")

    def show_step_started(self, task: str, step: str) -> None:
        if self.verbosity >= VERBOSE:
            self._write(f"{task} | {step}: started")

    def show_step_outputs(self, task: str, step: str, outputs: Mapping[str, Any]) -> None:
        if self.verbosity >= VERBOSE and outputs:
            from automations.engine.references import output_text

            shown = ", ".join(f"{name}={_one_line(output_text(value))}" for name, value in outputs.items())
            self._write(f"{task} | {step}: outputs: {shown}")

    def show_step_finished(self, task: str, step: str, status: str, seconds: float, message: str,
                           attempts: int) -> None:
        if self.verbosity < NORMAL and status != "failed":
            return
        detail = f": {message}" if message else ""
        self._write(f"{task} | {step}: {self._paint(status, status)}{after_attempts(attempts)} ({seconds:.1f}s){detail}")

    def show_task_finished(self, task: str, status: str, seconds: float, message: str) -> None:
        if self.verbosity < NORMAL and status not in ("failed", "skipped", "cancelled"):
            return
        detail = f": {message}" if message else ""
        self._write(f"{task} {self._paint(status, status)} in {seconds:.1f}s{detail}")

    def summary(self, statuses: dict[str, str], seconds: float) -> None:
        counts: dict[str, int] = {}
        for status in statuses.values():
            counts[status] = counts.get(status, 0) + 1
        parts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        self._write(f"{plural(len(statuses), 'task')}: {parts or 'nothing to do'} ({seconds:.1f}s)")

    def plan(self, task: str, lines: list[str]) -> None:
        self._write(f"{task}:")
        for line in lines:
            self._write(f"  {line}")

    def error(self, message: str) -> None:
        for line in message.splitlines() or [""]:
            self._write(line if _located(line) else self._paint("error: ", "error") + line, self.err)

    def problem(self, problem: Problem) -> None:
        self.error(str(problem))

    def result(self, kind: str, text: Iterable[str], /, *, stderr: Iterable[str] = (), **fields: Any) -> None:
        for line in text:
            self._write(line)
        for line in stderr:
            self._write(line, self.err)


def _one_line(text: str) -> str:
    """A value on one line: one holding a line break or another control character is shown
    JSON-quoted (the redactor knows a secret's JSON-escaped form too)."""
    if any(ord(character) < 32 for character in text):
        import json

        return json.dumps(text, ensure_ascii=False)
    return text


def _located(line: str) -> bool:
    # "FILE:LINE:COL: message" lines already say what they are.
    parts = line.split(":", 3)
    return len(parts) == 4 and parts[1].isdigit() and parts[2].isdigit()
