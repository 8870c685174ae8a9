"""`automations watch`, after its first run: keep what the run's steps produced fresh (issue 15).

Any step whose last result carries `refresh_at` (automations.engine.step.StepResult) is run
again then, on its own, forced past its "still valid" check, with its own retries and timeout,
through the same runner as the first run (so it gets the credentials that run's logins
obtained, renewed as they are renewed). The watcher knows no step type: aws-login, the
secrets steps with `refreshEvery`, a plugin's step, all the same.

- A refresh is one line (the step's, as in a run) and one history record (trigger `watch`).
- A refresh whose step changed something (status `changed`) starts the step's `onChange`
  command, a `run` step. What else consumes the refreshed files is the user's business: an
  `onChange` restarts it, or it reads the file again itself.
- A refresh that fails is reported, and the old files stay (they are only ever replaced
  whole). A transient failure is tried again after a capped, jittered backoff; a fatal one
  after the step's interval (at most the backoff's cap). A task that failed in the first run
  is run again, with what depends on it, after the same backoff, until it works.
- Idle, the watcher sleeps until the next deadline (or a signal): no polling, no AWS call that
  is not due.
- SIGTERM or SIGINT ends it: a refresh in flight is cancelled (the runner's grace, 1 s), and
  files are never half-written (atomic replacement).
- Its state (pid, since when, each item's next refresh and last failure) is a small file,
  written atomically, 0600, for `automations status`.
"""
from __future__ import annotations

import contextlib
import os
import select
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from automations import childprocess
from automations.engine.config import Config, StepSpec, TaskSpec
from automations.engine.report.base import Reporter
from automations.engine.report.history import RunHistory, RunRecorder
from automations.engine.runner import INTERRUPT_GRACE_SECONDS, Runner
from automations.engine.scope import task_env
from automations.errors import StepFailed
from automations.files.atomicfile import write_atomic
from automations.redaction import REDACTOR
from automations.retry import TRANSIENT, RetryPolicy
from automations.timefmt import utc_stamp_ms
from automations.wording import plural

# Between refreshes that failed: full jitter, from up to 5 s to at most 5 min apart.
FAILURE_BACKOFF = RetryPolicy(initial_delay=5.0, max_delay=300.0)
# Never sooner than this after the last try, whatever a step asks (an expiry already past).
MIN_GAP_SECONDS = 1.0
STATE_FILE = "watch.json"
LOCK_FILE = "watch.lock"
_DONE = b"\0"  # a refresh ended; the signal module writes the signal's number


def state_path(history: RunHistory) -> Path:
    return history.directory / STATE_FILE


def lock_path(history: RunHistory) -> Path:
    return history.directory / LOCK_FILE


class Watched:
    """One thing the watcher keeps fresh: a step whose result asked for a refresh, or (`spec`
    None) the tasks of the first run that have not yet succeeded."""

    def __init__(self, task: TaskSpec | None, spec: StepSpec | None, due: float) -> None:
        self.task = task
        self.spec = spec
        self.due = due
        self.interval: float | None = None   # how long the last success was good for
        self.failures = 0                    # in a row
        self.last_refresh: float | None = None
        self.last_status: str | None = None
        self.last_failure: tuple[float, str] | None = None

    @property
    def name(self) -> str:
        if self.task is None or self.spec is None:
            return "tasks not yet done"
        return f"{self.task.id}/{self.spec.label}"

    def succeeded(self, now: float, refresh_at: float | None) -> bool:
        """Plan the next refresh; False when the step needs none any more."""
        self.failures = 0
        if refresh_at is None:
            return False
        self.interval = max(MIN_GAP_SECONDS, refresh_at - now)
        self.due = max(refresh_at, now + MIN_GAP_SECONDS)
        return True

    def failed(self, now: float, error_class: str | None, message: str) -> None:
        self.failures += 1
        self.last_failure = (now, message)
        cap = FAILURE_BACKOFF.max_delay
        if error_class is None:  # fatal: at the next interval, but credentials cannot wait an hour
            delay = min(self.interval or cap, cap)
        else:
            delay = min(FAILURE_BACKOFF.delay(self.failures), self.interval or cap)
        self.due = now + max(MIN_GAP_SECONDS, delay)

    def state(self) -> dict[str, Any]:
        return {"task": self.task.id if self.task else None, "step": self.spec.label if self.spec else None,
                "name": self.name, "next": utc_stamp_ms(self.due),
                "every": round(self.interval, 3) if self.interval is not None else None,
                "last_refresh": utc_stamp_ms(self.last_refresh) if self.last_refresh else None,
                "last_status": self.last_status, "failures": self.failures,
                "last_failure": {"time": utc_stamp_ms(self.last_failure[0]), "message": self.last_failure[1]}
                if self.last_failure else None}


class _StepMessages:
    """A RunListener that keeps each step's last failure message (the watcher's state shows it)."""

    def __init__(self) -> None:
        self.failures: dict[tuple[str, str], str] = {}

    def log(self, task: str | None, level: str, message: str) -> None: ...
    def output(self, task: str, line: str) -> None: ...
    def step_started(self, task: str, step: str, attempt: int) -> None: ...
    def step_outputs(self, task: str, step: str, outputs: Mapping[str, Any]) -> None: ...
    def task_finished(self, task: str, status: str, seconds: float, message: str) -> None: ...

    def step_finished(self, task: str, step: str, status: str, seconds: float, message: str,
                      attempts: int) -> None:
        if status == "failed":
            self.failures[(task, step)] = REDACTOR.redact(message)


class Watcher:
    def __init__(self, config: Config, runner: Runner, reporter: Reporter, history: RunHistory,
                 order: list[str], statuses: Mapping[str, str]) -> None:
        self.config = config
        self.runner = runner
        self.reporter = reporter
        self.history = history
        self.order = order
        self.statuses = dict(statuses)
        self.started = time.time()
        self.items: list[Watched] = []
        self._envs: dict[str, dict[str, str]] = {}
        self._messages = _StepMessages()
        self.reporter.listeners.append(self._messages)
        self._collect(time.time())
        if self._pending():
            self.items.append(self._retry_tasks(Watched(None, None, 0.0), time.time()))

    # -- what there is to watch ------------------------------------------------------------------

    def _collect(self, now: float) -> None:
        """A Watched for every step of a successful task whose result asks for a refresh."""
        known = {(item.task.id, item.spec) for item in self.items if item.task and item.spec}
        for task_id in self.order:
            if self.statuses.get(task_id) != "ok":
                continue
            task = self.config.tasks[task_id]
            for spec in task.steps:
                result = self.runner.results.get((task_id, spec))
                if result is None or result.refresh_at is None or (task_id, spec) in known:
                    continue
                item = Watched(task, spec, 0.0)
                item.last_refresh = now
                item.last_status = result.status
                item.succeeded(now, result.refresh_at)
                self.items.append(item)

    def _pending(self) -> list[str]:
        return [t for t in self.order if self.statuses.get(t) != "ok"]

    def _retry_tasks(self, item: Watched, now: float) -> Watched:
        item.failures += 1
        item.due = now + max(MIN_GAP_SECONDS, FAILURE_BACKOFF.delay(item.failures))
        return item

    def describe(self) -> list[str]:
        if not self.items:
            return ["watching nothing: no step asked for a refresh (aws-login with `credentials: file` or "
                    "`envFile` does; a secrets step with `refreshEvery`); waiting for SIGTERM"]
        return [f"watching {plural(len(self.items), 'item')}:"] + [
            f"  {item.name}: next {utc_stamp_ms(item.due)}" for item in sorted(self.items, key=lambda i: i.due)]

    # -- the loop --------------------------------------------------------------------------------

    def watch(self, wakeup: Wakeup) -> str:
        """Refresh what is due, sleep until the next deadline; return the name of the signal
        that ended it. `wakeup` comes from `wakeup_on_signals()`, entered by the caller before
        the first run: a signal that arrives between that run and this loop is kept, and ends
        the watch cleanly, instead of finding no handler."""
        self.write_state()
        while not wakeup.signalled:
            item = min(self.items, key=lambda i: i.due) if self.items else None
            delay = None if item is None else item.due - time.time()
            if item is None or (delay is not None and delay > 0):
                wakeup.sleep(delay)
                continue
            self._refresh(item, wakeup)
            self.write_state()
        # What `onChange` commands left running (`server &`) ends with the watcher, as
        # with a run; the grace keeps the whole stop within 2 s.
        childprocess.end_leftovers(INTERRUPT_GRACE_SECONDS / 2)
        self.write_state(stopped=True)
        return signal.Signals(wakeup.signalled[0]).name

    def _refresh(self, item: Watched, wakeup: Wakeup) -> None:
        """Run `item`'s job in a thread (this one must stay free to hear signals), then plan
        its next refresh."""
        done = threading.Event()
        worker = threading.Thread(target=self._job, args=(item, wakeup, done), name=f"refresh {item.name}",
                                  daemon=True)
        worker.start()
        while not done.is_set() and not wakeup.signalled:
            wakeup.sleep(None)
        if not done.is_set():
            self.runner.cancel()
            worker.join(INTERRUPT_GRACE_SECONDS + 0.5)  # the runner abandons a step after its grace
            return
        worker.join()

    def _job(self, item: Watched, wakeup: Wakeup, done: threading.Event) -> None:
        try:
            if item.spec is None:
                self._task_retry(item)
            else:
                self._step_refresh(item)
        except Exception as error:  # a bug of ours must not leave the item due now, for ever
            item.failed(time.time(), None, f"unexpected error: {type(error).__name__}: {error}")
            self.reporter.error(f"watch: {item.name}: unexpected error: {type(error).__name__}: {error}")
        finally:
            done.set()
            wakeup.ring()

    def _step_refresh(self, item: Watched) -> str:
        assert item.task is not None and item.spec is not None
        task, spec = item.task, item.spec
        recorder = self._recorder()
        started = time.monotonic()
        status = "failed"
        try:
            env = self._env(task)  # as in the first run, where it worked
            status = self.runner.run_step(task, spec, env, force=True)
            if status == "cancelled" and self.runner.cancelled.is_set():
                return status  # by a signal: the watch is ending, and this refresh was no failure
            now = time.time()
            item.last_refresh, item.last_status = now, status
            if status in ("failed", "cancelled"):
                # Cancelled without a signal (a step that raised Cancelled itself): a transient
                # failure, tried again after the backoff. Left due, it would be run again at
                # once, for ever; stopping the watcher would let what it keeps fresh expire
                # with no one asking.
                if status == "failed":
                    error_class = self.runner.failures.get((task.id, spec))
                    message = self._messages.failures.get((task.id, spec.label), "failed")
                else:
                    error_class, message = TRANSIENT, "cancelled"
                item.failed(now, error_class, message)
                self.reporter.log(task.id, "info", f"{spec.label}: next try {utc_stamp_ms(item.due)}")
            else:
                if not item.succeeded(now, self.runner.results[(task.id, spec)].refresh_at):
                    self.items.remove(item)
                if status == "changed" and spec.on_change is not None \
                        and self.runner.run_step(task, spec.on_change, env) == "failed":
                    status = "failed"
                    message = self._messages.failures.get((task.id, spec.on_change.label), "failed")
                    item.last_failure = (time.time(), f"onChange: {message}")
            return status
        finally:
            self.reporter.listeners.remove(recorder)
            # The refresh's history record: the task's, as a run of the refreshed step.
            recorder.task_finished(task.id, "ok" if status in ("ok", "changed", "skipped") else status,
                                   time.monotonic() - started, "")

    def _task_retry(self, item: Watched) -> str:
        """Run again, in order, each task of the first run that did not succeed and whose
        dependencies now have."""
        recorder = self._recorder()
        try:
            for task_id in self._pending():
                task = self.config.tasks[task_id]
                if all(self.statuses.get(d) == "ok" for d in task.depends_on):
                    self.statuses[task_id] = self.runner.run_task(task)
                    if self.statuses[task_id] == "cancelled" and self.runner.cancelled.is_set():
                        return "cancelled"  # by a signal: the watch is ending
                    # A task that cancelled itself is pending as a failed one is: the tasks
                    # after it still run, and it is tried again after the backoff.
        finally:
            self.reporter.listeners.remove(recorder)
        now = time.time()
        self._collect(now)
        if self._pending():
            self._retry_tasks(item, now)
            return "failed"
        self.items.remove(item)
        return "ok"

    def _env(self, task: TaskSpec) -> dict[str, str]:
        if task.id not in self._envs:
            self._envs[task.id] = task_env(task)
        return self._envs[task.id]

    # -- what it tells ---------------------------------------------------------------------------

    def _recorder(self) -> RunRecorder:
        recorder = RunRecorder(self.history, "watch", warn=self.reporter.warning)
        self.reporter.listeners.append(recorder)
        return recorder

    def write_state(self, *, stopped: bool = False) -> None:
        state = {"pid": os.getpid(), "config": str(self.config.path), "since": utc_stamp_ms(self.started),
                 "updated": utc_stamp_ms(time.time()), "stopped": utc_stamp_ms(time.time()) if stopped else None,
                 "tasks": self.order, "items": [item.state() for item in sorted(self.items, key=lambda i: i.due)]}
        import json

        data = json.dumps(REDACTOR.redact_value(state), indent=1, default=str) + "\n"
        try:
            write_atomic(state_path(self.history), data.encode())
        except StepFailed as error:  # the watching matters more than its report
            self.reporter.log(None, "warning", f"cannot write the watcher's state: {error}")


# -- sleeping until a deadline or a signal ---------------------------------------------------------

class Wakeup:
    """A pipe the main thread sleeps on: the signal module writes to it when SIGTERM or SIGINT
    arrive (set_wakeup_fd), a refresh thread when it is done. The signal handler itself only
    appends to a list: it takes no lock a thread might hold."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.write_fd, False)
        self.signalled: list[int] = []

    def sleep(self, seconds: float | None) -> None:
        """Until `seconds` pass (None: forever), a signal or a ring."""
        with contextlib.suppress(InterruptedError):
            ready, _, _ = select.select([self.read_fd], [], [], None if seconds is None else max(0.0, seconds))
            if ready:
                os.read(self.read_fd, 512)

    def ring(self) -> None:
        with contextlib.suppress(OSError):  # a full pipe already wakes the sleeper
            os.write(self.write_fd, _DONE)

    def on_signal(self, number: int, frame: object) -> None:
        self.signalled.append(number)

    def close(self) -> None:
        os.close(self.read_fd)
        os.close(self.write_fd)


@contextlib.contextmanager
def wakeup_on_signals() -> Iterator[Wakeup]:
    wakeup = Wakeup()
    handler: Callable[[int, Any], None] = wakeup.on_signal
    previous = {signum: signal.signal(signum, handler) for signum in (signal.SIGINT, signal.SIGTERM)}
    previous_fd = signal.set_wakeup_fd(wakeup.write_fd, warn_on_full_buffer=False)
    try:
        yield wakeup
    finally:
        signal.set_wakeup_fd(previous_fd)
        for signum, handler_before in previous.items():
            signal.signal(signum, handler_before)
        wakeup.close()
