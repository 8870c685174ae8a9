"""What the CLI tells people and machines, behind one interface: `Reporter`.

Two reporters meet it: `TextReporter` (engine/report/text.py: a line per step, a summary per
task, child output prefixed by its task) and `JsonReporter` (engine/report/json.py: one JSON
object per line). cli/main.py chooses one, once; the runner and the commands only say what
happened. A run's events also go to its listeners (`RunListener`), such as the run history
(engine/report/history.py), whatever the console shows.

Every line passes the redactor first, at every verbosity."""
from __future__ import annotations

import _thread  # threading.Lock is _thread.allocate_lock; threading itself waits for a run (start-up)
import sys
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import IO, TYPE_CHECKING, Any, Protocol

from automations.redaction import REDACTOR

if TYPE_CHECKING:
    from automations.errors import Problem

QUIET, NORMAL, VERBOSE, DEBUG = -1, 0, 1, 2

# The least verbosity at which a step's log line of each level is shown.
LOG_THRESHOLDS = {"warning": QUIET, "info": VERBOSE, "debug": DEBUG}


class RunListener(Protocol):
    """Whoever follows a run besides the console: gets every event, at every verbosity."""

    def log(self, task: str | None, level: str, message: str) -> None: ...

    def output(self, task: str, line: str) -> None: ...

    def step_started(self, task: str, step: str, attempt: int) -> None: ...

    def step_outputs(self, task: str, step: str, outputs: Mapping[str, Any]) -> None: ...

    def step_finished(self, task: str, step: str, status: str, seconds: float, message: str,
                      attempts: int) -> None: ...

    def task_finished(self, task: str, status: str, seconds: float, message: str) -> None: ...


class Reporter(ABC):
    """The one interface the runner and the commands report through.

    The run's events (`log` ... `task_finished`) go to the listeners first, then to `show_*`,
    which each reporter implements its own way. A command's findings go to `result`: their
    data for machines and their wording for people, of which the reporter picks one."""

    def __init__(self, *, verbosity: int = NORMAL, out: IO[str] | None = None, err: IO[str] | None = None) -> None:
        self.verbosity = verbosity
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.listeners: list[RunListener] = []
        self._lock = _thread.allocate_lock()

    def _write(self, text: str, stream: IO[str] | None = None, *, redacted: bool = False) -> None:
        with self._lock:
            target = stream or self.out
            _write_encodable(target, (text if redacted else REDACTOR.redact(text)) + "\n")
            target.flush()

    # -- a run's events: listeners first, then the console -------------------------------------

    def log(self, task: str | None, level: str, message: str) -> None:
        for listener in self.listeners:
            listener.log(task, level, message)
        if self.verbosity >= LOG_THRESHOLDS[level]:
            self.show_log(task, level, message)

    def warning(self, message: str, task: str | None = None) -> None:
        self.log(task, "warning", message)

    def output(self, task: str, line: str) -> None:
        for listener in self.listeners:
            listener.output(task, line)
        if self.verbosity >= NORMAL:
            self.show_output(task, line)

    def step_started(self, task: str, step: str, attempt: int = 1) -> None:
        for listener in self.listeners:
            listener.step_started(task, step, attempt)
        self.show_step_started(task, step)

    def step_outputs(self, task: str, step: str, outputs: Mapping[str, Any]) -> None:
        """A step's outputs, once it succeeded, declared secrets already `***` (the runner
        masks them); every value passes the redactor as well. Shown at -v and in the JSON
        `step` event; the run history keeps only the credentials' profile and expiry."""
        for listener in self.listeners:
            listener.step_outputs(task, step, outputs)
        self.show_step_outputs(task, step, outputs)

    def step_finished(self, task: str, step: str, status: str, seconds: float, message: str = "",
                      attempts: int = 1) -> None:
        for listener in self.listeners:
            listener.step_finished(task, step, status, seconds, message, attempts)
        self.show_step_finished(task, step, status, seconds, message, attempts)

    def task_finished(self, task: str, status: str, seconds: float, message: str = "") -> None:
        for listener in self.listeners:
            listener.task_finished(task, status, seconds, message)
        self.show_task_finished(task, status, seconds, message)

    @abstractmethod
    def show_log(self, task: str | None, level: str, message: str) -> None: ...

    @abstractmethod
    def show_output(self, task: str, line: str) -> None: ...

    @abstractmethod
    def show_step_started(self, task: str, step: str) -> None: ...

    @abstractmethod
    def show_step_outputs(self, task: str, step: str, outputs: Mapping[str, Any]) -> None:
        """Called just before `show_step_finished` of a step that succeeded."""

    @abstractmethod
    def show_step_finished(self, task: str, step: str, status: str, seconds: float, message: str,
                           attempts: int) -> None: ...

    @abstractmethod
    def show_task_finished(self, task: str, status: str, seconds: float, message: str) -> None: ...

    @abstractmethod
    def summary(self, statuses: dict[str, str], seconds: float) -> None:
        """The end of a run: each task's status."""

    @abstractmethod
    def plan(self, task: str, lines: list[str]) -> None:
        """What a dry run would do in `task`, a line per step."""

    # -- what went wrong -------------------------------------------------------------------

    @abstractmethod
    def error(self, message: str) -> None: ...

    @abstractmethod
    def problem(self, problem: Problem) -> None:
        """One thing wrong with a file, with its position."""

    def traceback(self, error: BaseException) -> None:
        """At -vv only: where `error` came from, with the exception it was raised from."""
        if self.verbosity < DEBUG:
            return
        import traceback

        self.error("".join(traceback.format_exception(error)).rstrip())

    # -- what a command found --------------------------------------------------------------

    @abstractmethod
    def result(self, kind: str, text: Iterable[str], /, *, stderr: Iterable[str] = (), **fields: Any) -> None:
        """A command's finding: `fields` for machines (an event `kind`), `text` (and `stderr`)
        lines for people. Pass a generator as `text` when its wording costs work: only the
        text reporter reads it."""

    def print(self, text: str = "") -> None:
        """Text the same in every format (the demo's guide)."""
        self._write(text)


def after_attempts(attempts: int) -> str:
    """` after 3 attempts` for a step that took more than one, else nothing."""
    return f" after {attempts} attempts" if attempts > 1 else ""


def _write_encodable(stream: IO[str], text: str) -> None:
    """Write `text`; what the stream's encoding cannot hold (PYTHONIOENCODING=ascii, a C
    locale) as backslash escapes, instead of failing the step whose output it is (#10)."""
    try:
        stream.write(text)
    except UnicodeEncodeError:
        encoding = getattr(stream, "encoding", None) or "ascii"
        stream.write(text.encode(encoding, "backslashreplace").decode(encoding))


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
