"""The public API a step type is written against.

A step type is a subclass of `Step` with:
- `name`: its `uses:` value;
- `Options`: a subclass of `Options` (automations.engine.options) declaring its options with
  `option()`, validated when the configuration is loaded;
- `retry_policy`: its default retries (one attempt unless it says otherwise): a `RetryPolicy`
  for every error class, or `RetryPolicies(transient=..., throttled=...)`, one per class;
- `error_class(error)`: which of its errors deserve another attempt, and which policy applies:
  `"throttled"` (by default a `ThrottledError`), `"transient"` (by default any other
  `TransientError`, or what `is_transient(error)` accepts), or None (fatal);
- `run(ctx)`: does the job and returns a `StepResult`;
- optionally `describe()`: what a dry run prints instead of running;
- `outputs`: the outputs its `StepResult` carries, name -> description (or an `Output`, to
  say one is secret), which later steps read as `${{ steps.ID.outputs.NAME }}`; `validate`
  refuses a reference to an output not declared. None (the default): the outputs are known
  only when the step runs (a `run` step's), and a reference to one is checked then.

It is registered under the entry-point group `automations.steps` (or listed in the config's
`plugins:`). Everything a step needs from the engine comes through the `StepContext`.
Plugins import all this from `automations.api`.

The engine knows no cloud: what steps of one run hand on to each other (the AWS sessions the
aws-login step obtained, say) is a service of the domain's own type, which the run makes on
first use and shares (`ctx.shared(AwsSessions)`, wrapped as `automations.aws.clients.aws_sessions(ctx)`).
"""
from __future__ import annotations

import _thread  # threading.Lock is _thread.allocate_lock; threading itself waits for a run (start-up)
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, Protocol, TypeVar

from automations.engine.variables import Delivery, KeptInFiles, VariableDestination, VariableFile

# StepFailed: plugins written before automations.api import it from here.
from automations.errors import Cancelled, ThrottledError, TransientError
from automations.errors import StepFailed as StepFailed
from automations.redaction import REDACTOR
from automations.retry import THROTTLED, TRANSIENT, RetryPolicies, RetryPolicy

if TYPE_CHECKING:
    import threading

OptionsT = TypeVar("OptionsT")
ServiceT = TypeVar("ServiceT")


class StepLog(Protocol):
    """Where a step reports. Everything passes through the redactor."""

    def info(self, message: str) -> None: ...
    def warning(self, message: str) -> None: ...
    def debug(self, message: str) -> None: ...
    def output(self, line: str) -> None: ...  # a line of a child process's output


class RunServices:
    """Services shared by every step of one run, one per type: made on first use by calling
    the type with no arguments, then the same object for every step that asks. A service is
    used from several tasks' threads at once: it guards its own state."""

    def __init__(self) -> None:
        self._lock = _thread.allocate_lock()
        self._services: dict[type, Any] = {}

    def get(self, kind: type[ServiceT]) -> ServiceT:
        with self._lock:
            if kind not in self._services:
                self._services[kind] = kind()
            service: ServiceT = self._services[kind]
            return service


class StepContext:
    """What a step gets from the engine. (A plain class: see automations.engine.config on speed.)"""

    def __init__(
        self,
        *,
        task: str,
        step_id: str | None,
        log: StepLog,
        env: Mapping[str, str],
        outputs: Mapping[str, Mapping[str, Any]],
        config_path: Path,
        services: RunServices | None = None,
        dry_run: bool = False,
        force: bool = False,
        cancelled: threading.Event | None = None,
        timeout: float | None = None,
        retry_policy: RetryPolicies | None = None,
        variables: VariableDestination | None = None,
    ) -> None:
        self.task = task                    # the task's id
        self.step_id = step_id              # the step's `id:`, if any
        self.log = log
        self.env = env                      # the process environment plus the task's `env:`
        self.outputs = outputs              # "<step id>" (this task) and "<task>.<step id>" (any task)
        self.services = services or RunServices()  # shared by the steps of this run (`shared()`)
        self.config_path = config_path      # absolute path of the automations.yaml in use
        self.dry_run = dry_run
        self.force = force                  # `run --force`: redo work a step would skip as still valid
        if cancelled is None:
            import threading

            cancelled = threading.Event()
        self.cancelled = cancelled
        self.timeout = timeout              # the step's `timeout:` in seconds, if any
        self.retry_policy = retry_policy    # the step's retries per error class (its class's, `retry:` over them)
        # Where the variables a step produces go (`deliver`): their files (`run`), or COMMAND's
        # environment (`exec`). The engine decides; the step never asks which.
        self.variables: VariableDestination = variables or KeptInFiles()

    def shared(self, kind: type[ServiceT]) -> ServiceT:
        """The run's one instance of `kind` (made with `kind()` on first use), shared by every
        step of the run: how steps hand on what is no output (e.g. AWS sessions, in memory)."""
        return self.services.get(kind)

    def deliver(self, values: Mapping[str, str], file: VariableFile) -> Delivery:
        """Hand over the variables this step produced, with the file that keeps them when the
        run keeps them on disk (automations.engine.variables). Call `ctx.variables.check(file)`
        before the work, to fail early on an unwritable file."""
        source = f"{self.task}/{self.step_id}" if self.step_id else f"task {self.task}"
        return self.variables.deliver(values, file, source=source, log=self.log.info)

    def secret(self, value: str | bytes | None) -> None:
        """Register a value that must never be printed. Call it before anything could, and
        only for what the step writes or uses: a value shorter than 8 characters is masked
        only where it stands alone (automations.redaction), but masked all the same."""
        REDACTOR.add(value)

    def check_cancelled(self) -> None:
        if self.cancelled.is_set():
            raise Cancelled("cancelled")


class StepResult:
    """ok (nothing needed doing or done as asked), changed (something was written),
    skipped (still valid, nothing done); outputs for later steps; a one-line message.

    `refresh_at`: when what the step produced goes stale (wall-clock seconds, `time.time()`),
    so that `automations watch` runs the step again then: aws-login sets it to its
    credentials' expiry less `minRemaining`, a secrets step to now plus `refreshEvery`. None:
    it never needs a refresh by itself (`automations run` ignores it)."""

    __slots__ = ("status", "outputs", "message", "refresh_at")

    def __init__(self, status: Literal["ok", "changed", "skipped"], outputs: Mapping[str, Any] | None = None,
                 message: str = "", refresh_at: float | None = None) -> None:
        self.status = status
        self.outputs = dict(outputs or {})
        self.message = message
        self.refresh_at = refresh_at

    def __repr__(self) -> str:
        return f"StepResult({self.status!r}, {self.outputs!r}, {self.message!r})"

    @classmethod
    def ok(cls, message: str = "", **outputs: Any) -> StepResult:
        return cls("ok", outputs, message)

    @classmethod
    def changed(cls, message: str = "", **outputs: Any) -> StepResult:
        return cls("changed", outputs, message)

    @classmethod
    def skipped(cls, message: str = "", **outputs: Any) -> StepResult:
        return cls("skipped", outputs, message)


class Output:
    """A declared output that is more than a name and a description: `secret=True` makes the
    engine register its value with the redactor as soon as the step returns, so that it is
    masked in every event, log and line of output (`***`), wherever it is used later."""

    __slots__ = ("description", "secret")

    def __init__(self, description: str = "", *, secret: bool = False) -> None:
        self.description = description
        self.secret = secret

    def __repr__(self) -> str:
        return f"Output({self.description!r}, secret={self.secret})"


class Step(Generic[OptionsT]):
    name: ClassVar[str]
    Options: ClassVar[type]
    retry_policy: ClassVar[RetryPolicy | RetryPolicies] = RetryPolicy()
    summary: ClassVar[str] = ""  # one line for `automations steps`
    # name -> description or Output; None: not declared, known only when the step runs.
    outputs: ClassVar[Mapping[str, str | Output] | None] = None

    def __init__(self, options: OptionsT) -> None:
        self.options = options

    def error_class(self, error: BaseException) -> str | None:
        """THROTTLED, TRANSIENT, or None: fatal, not retried."""
        if isinstance(error, ThrottledError):
            return THROTTLED
        return TRANSIENT if self.is_transient(error) else None

    def is_transient(self, error: BaseException) -> bool:
        """Worth another attempt (the `transient` policy), when not throttled."""
        return isinstance(error, TransientError)

    def run(self, ctx: StepContext) -> StepResult:
        raise NotImplementedError

    def describe(self) -> list[str]:
        """Lines a dry run prints for this step; nothing here may change anything."""
        return []


def declared_outputs(step_class: type) -> dict[str, Output] | None:
    """A step type's declared outputs as `Output`s (None: it declares none; known at run time)."""
    declared = getattr(step_class, "outputs", None)
    if declared is None:
        return None
    return {name: value if isinstance(value, Output) else Output(str(value)) for name, value in declared.items()}
