"""Everything the CLI prints goes through one `Reporter`: text for people (a line per step,
a summary per task, child output prefixed by its task so concurrent tasks stay readable) or
JSON lines for machines. Every line passes the redactor first, at every verbosity; a JSON
event is redacted value by value before it is serialised (escaping would hide a secret
holding `"`, `\\` or non-ASCII from a redactor reading the JSON text)."""
from __future__ import annotations

import os
import sys
import threading
import time
from typing import IO, TYPE_CHECKING, Any

from automations.redaction import REDACTOR

if TYPE_CHECKING:
    from automations.errors import Problem

QUIET, NORMAL, VERBOSE, DEBUG = -1, 0, 1, 2

_COLORS = {"ok": "32", "changed": "33", "skipped": "36", "failed": "31", "cancelled": "31",
           "warning": "33", "error": "31", "dim": "2"}


def use_color(stream: IO[str], requested_off: bool) -> bool:
    if requested_off or "NO_COLOR" in os.environ:
        return False
    return hasattr(stream, "isatty") and stream.isatty()


class Reporter:
    def __init__(self, *, json_output: bool = False, verbosity: int = NORMAL, color: bool = False,
                 out: IO[str] | None = None, err: IO[str] | None = None) -> None:
        self.json_output = json_output
        self.verbosity = verbosity
        self.color = color
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self._lock = threading.Lock()

    # -- plumbing --------------------------------------------------------------------------

    def _paint(self, text: str, kind: str) -> str:
        return f"\033[{_COLORS[kind]}m{text}\033[0m" if self.color and kind in _COLORS else text

    def _write(self, text: str, stream: IO[str] | None = None, *, redacted: bool = False) -> None:
        with self._lock:
            target = stream or self.out
            _write_encodable(target, (text if redacted else REDACTOR.redact(text)) + "\n")
            target.flush()

    def event(self, kind: str, **fields: Any) -> None:
        """One JSON object per line; every string in it redacted before it is serialised."""
        import json  # only JSON output pays for it

        record = {"event": kind, "time": round(time.time(), 3), **fields}
        self._write(json.dumps(REDACTOR.redact_value(record), default=str), redacted=True)

    # -- what the engine reports -----------------------------------------------------------

    def error(self, message: str) -> None:
        if self.json_output:
            self.event("error", message=message)
        else:
            for line in message.splitlines() or [""]:
                self._write(self._paint("error: ", "error") + line if not _located(line) else line, self.err)

    def traceback(self, error: BaseException) -> None:
        """At -vv only: where `error` came from, with the exception it was raised from."""
        if self.verbosity < DEBUG:
            return
        import traceback

        self.error("".join(traceback.format_exception(error)).rstrip())

    def problem(self, problem: Problem) -> None:
        """One thing wrong with a file: a `FILE:LINE:COL: message` line, or an `error` event
        with file, line, column and message as fields."""
        if self.json_output:
            self.event("error", file=problem.file, line=problem.line, column=problem.column, message=problem.message)
        else:
            self.error(str(problem))

    def warning(self, message: str, task: str | None = None) -> None:
        self.log(task, "warning", message)

    def log(self, task: str | None, level: str, message: str) -> None:
        threshold = {"warning": QUIET, "info": VERBOSE, "debug": DEBUG}[level]
        if self.verbosity < threshold:
            return
        if self.json_output:
            self.event("log", task=task, level=level, message=message)
            return
        prefix = f"{task} | " if task else ""
        marker = self._paint("warning: ", "warning") if level == "warning" else ""
        for line in message.splitlines() or [""]:
            self._write(f"{prefix}{marker}{line}", self.err if level == "warning" else None)

    def output(self, task: str, line: str) -> None:
        if self.verbosity < NORMAL:
            return
        if self.json_output:
            self.event("output", task=task, line=line)
        else:
            self._write(f"{self._paint(task + ' |', 'dim')} {line}")

    def step_started(self, task: str, step: str, attempt: int = 1) -> None:
        if self.json_output:
            self.event("step_start", task=task, step=step)
        elif self.verbosity >= VERBOSE:
            self._write(f"{task} | {step}: started")

    def step_outputs(self, task: str, step: str, outputs: dict[str, Any]) -> None:
        """A step's outputs, once it succeeded: not printed (they may hold anything); the run
        history (automations.engine.report.history) keeps the credentials' profile and expiry."""

    def step_finished(self, task: str, step: str, status: str, seconds: float, message: str = "",
                      attempts: int = 1) -> None:
        if self.json_output:
            self.event("step", task=task, step=step, status=status, duration=round(seconds, 3), message=message,
                       attempts=attempts)
            return
        if self.verbosity < NORMAL and status != "failed":
            return
        detail = f": {message}" if message else ""
        self._write(f"{task} | {step}: {self._paint(status, status)}{after_attempts(attempts)} ({seconds:.1f}s){detail}")

    def task_finished(self, task: str, status: str, seconds: float, message: str = "") -> None:
        if self.json_output:
            self.event("task", task=task, status=status, duration=round(seconds, 3), message=message)
            return
        if self.verbosity < NORMAL and status not in ("failed", "skipped", "cancelled"):
            return
        detail = f": {message}" if message else ""
        self._write(f"{task} {self._paint(status, status)} in {seconds:.1f}s{detail}")

    def summary(self, statuses: dict[str, str], seconds: float) -> None:
        counts: dict[str, int] = {}
        for status in statuses.values():
            counts[status] = counts.get(status, 0) + 1
        if self.json_output:
            self.event("summary", tasks=statuses, duration=round(seconds, 3))
            return
        parts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        self._write(f"{plural(len(statuses), 'task')}: {parts or 'nothing to do'} ({seconds:.1f}s)")

    def plan(self, task: str, lines: list[str]) -> None:
        if self.json_output:
            self.event("plan", task=task, steps=lines)
            return
        self._write(f"{task}:")
        for line in lines:
            self._write(f"  {line}")

    def print(self, text: str = "") -> None:
        self._write(text)


def plural(count: int, noun: str) -> str:
    """`1 task`, `2 tasks`: every count the CLI prints goes through here."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _write_encodable(stream: IO[str], text: str) -> None:
    """Write `text`; what the stream's encoding cannot hold (PYTHONIOENCODING=ascii, a C
    locale) as backslash escapes, instead of failing the step whose output it is (#10)."""
    try:
        stream.write(text)
    except UnicodeEncodeError:
        encoding = getattr(stream, "encoding", None) or "ascii"
        stream.write(text.encode(encoding, "backslashreplace").decode(encoding))


def after_attempts(attempts: int) -> str:
    """` after 3 attempts` for a step that took more than one, else nothing."""
    return f" after {attempts} attempts" if attempts > 1 else ""


def _located(line: str) -> bool:
    # "FILE:LINE:COL: message" lines already say what they are.
    parts = line.split(":", 3)
    return len(parts) == 4 and parts[1].isdigit() and parts[2].isdigit()


class TaskLog:
    """The `StepLog` a step gets: its task's name on every line."""

    def __init__(self, reporter: Reporter, task: str) -> None:
        self._reporter = reporter
        self._task = task

    def info(self, message: str) -> None:
        self._reporter.log(self._task, "info", message)

    def warning(self, message: str) -> None:
        self._reporter.log(self._task, "warning", message)

    def debug(self, message: str) -> None:
        self._reporter.log(self._task, "debug", message)

    def output(self, line: str) -> None:
        self._reporter.output(self._task, line)
