"""Running tasks: each selected task once, after the tasks it depends on; independent tasks
concurrently (bounded); the steps of a task in order, each with its retry policy and timeout.

A failing step fails its task; tasks that depend on it are skipped; independent tasks still
run. Cancellation (Ctrl-C, SIGTERM, a step's timeout) sets `ctx.cancelled` and ends child
processes; files are only ever replaced atomically. A timeout is a promise, not a request (#11):
a step runs in a daemon thread, and one still running a grace after its cancellation is
abandoned and reported (`timed out`, `interrupted`), whatever it does later.
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from automations import childprocess
from automations.engine.config import Config, StepSpec, TaskSpec
from automations.engine.references import StepReferences, output_text
from automations.engine.report.base import DEBUG, Reporter, TaskLog
from automations.engine.scope import build_step, task_env
from automations.engine.step import RunServices, Step, StepContext, StepResult, declared_outputs
from automations.engine.variables import VariableDestination
from automations.errors import Cancelled, StepFailed
from automations.redaction import MASK, REDACTOR
from automations.retry import TRANSIENT, RetryPolicies, call_with_retry, retry_message

DEFAULT_JOBS = 4
STEP_GRACE_SECONDS = 2.0       # after a step's timeout, before it is abandoned
INTERRUPT_GRACE_SECONDS = 1.0  # after Ctrl-C or SIGTERM: the process must be gone within 2 s


class RunOutcome:
    def __init__(self) -> None:
        self.statuses: dict[str, str] = {}  # task id -> ok|failed|skipped|cancelled
        self.interrupted = False

    @property
    def failed(self) -> bool:
        return any(s != "ok" for s in self.statuses.values())


class Runner:
    def __init__(self, config: Config, reporter: Reporter, *, dry_run: bool = False, force: bool = False,
                 jobs: int = DEFAULT_JOBS, variables: VariableDestination | None = None) -> None:
        self.config = config
        self.variables = variables  # where steps' variables go (None: their files, as `run` keeps them)
        self.reporter = reporter
        self.dry_run = dry_run
        self.force = force
        self.jobs = max(1, jobs)
        self.cancelled = threading.Event()
        self.services = RunServices()  # what steps share across the run (`ctx.shared`)
        self._outputs: dict[str, dict[str, Any]] = {}
        # Each step's last outcome, for `automations watch`: its result, or its error's class
        # (THROTTLED, TRANSIENT; None: fatal) when it failed.
        self.results: dict[tuple[str, StepSpec], StepResult] = {}
        self.failures: dict[tuple[str, StepSpec], str | None] = {}
        self._outputs_lock = threading.Lock()
        self._live_steps: set[threading.Event] = set()
        self._live_lock = threading.Lock()
        self._grace = STEP_GRACE_SECONDS  # how long a cancelled step may take to finish

    # -- the task graph --------------------------------------------------------------------

    def run(self, order: list[str]) -> RunOutcome:
        outcome = RunOutcome()
        if self.dry_run:
            for task_id in order:
                # A step that cannot be planned would fail the real run: the task counts as failed.
                outcome.statuses[task_id] = "ok" if self._plan(self.config.tasks[task_id]) else "failed"
            return outcome
        started = time.monotonic()
        pending = list(order)
        running: dict[Future[str], str] = {}
        with _signals_set_flag() as signalled, \
                ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="task") as pool:
            while pending or running:
                if signalled() and not self.cancelled.is_set():
                    outcome.interrupted = True
                    self.cancel()
                for task_id in list(pending):
                    task = self.config.tasks[task_id]
                    blockers = [d for d in task.depends_on if outcome.statuses.get(d) not in (None, "ok")]
                    if blockers or self.cancelled.is_set():
                        pending.remove(task_id)
                        # A dependency's failure skips a task; an interruption cancels it, and
                        # so does a cancelled dependency (the task waited for nothing else).
                        failures = [d for d in blockers if outcome.statuses[d] != "cancelled"]
                        if failures:
                            status, reason = "skipped", f"dependency {failures[0]!r} {outcome.statuses[failures[0]]}"
                        else:
                            status = "cancelled"
                            reason = "interrupted" if self.cancelled.is_set() else \
                                f"dependency {blockers[0]!r} cancelled"
                        outcome.statuses[task_id] = status
                        self.reporter.task_finished(task_id, status, 0.0, reason)
                    elif all(outcome.statuses.get(d) == "ok" for d in task.depends_on):
                        pending.remove(task_id)
                        running[pool.submit(self._run_task, task)] = task_id
                if not running:
                    continue
                # A short timeout: the loop notices a signal within 0.1 s.
                done, _ = wait(list(running), timeout=0.1, return_when=FIRST_COMPLETED)
                for future in done:
                    outcome.statuses[running.pop(future)] = future.result()
        self._end_leftovers(interrupted=outcome.interrupted)
        self.reporter.summary({t: outcome.statuses[t] for t in order if t in outcome.statuses},
                              time.monotonic() - started)
        return outcome

    def cancel(self) -> None:
        self.cancelled.set()
        self._grace = INTERRUPT_GRACE_SECONDS
        with self._live_lock:
            for event in self._live_steps:
                event.set()

    # -- one task --------------------------------------------------------------------------

    def run_task(self, task: TaskSpec) -> str:
        """One task's steps, outside the task graph (automations watch retries a task that
        failed): its status, ok|failed|cancelled."""
        return self._run_task(task)

    def run_step(self, task: TaskSpec, spec: StepSpec, env: dict[str, str], *, force: bool = False) -> str:
        """One step of `task` on its own (automations watch's refreshes), with its retries and
        timeout, reported like any other: its status; its result in `results`, or its error's
        class in `failures`."""
        return self._run_step(task, spec, env, force=force)

    def _run_task(self, task: TaskSpec) -> str:
        started = time.monotonic()
        try:
            env = task_env(task)
        except StepFailed as error:
            self.reporter.task_finished(task.id, "failed", 0.0, str(error))
            return "failed"
        status = "ok"
        for step in task.steps:
            result = self._run_step(task, step, env)
            if result in ("failed", "cancelled"):
                status = result
                break
        self.reporter.task_finished(task.id, status, time.monotonic() - started)
        return status

    def _run_step(self, task: TaskSpec, spec: StepSpec, env: dict[str, str], *, force: bool = False) -> str:
        started = time.monotonic()
        label = spec.label
        self.reporter.step_started(task.id, label)
        attempts = 0  # reported with the step's outcome (issue 11)
        step_cancelled = threading.Event()
        timed_out = threading.Event()
        timer = None
        log = None
        step: Step[Any] | None = None
        with self._live_lock:
            self._live_steps.add(step_cancelled)
        if self.cancelled.is_set():
            step_cancelled.set()
        try:
            outputs = self._outputs_for(task)
            references = StepReferences(outputs)
            step = build_step(self.config, spec, env, references)
            policies = RetryPolicies.of(type(step).retry_policy).override(spec.retry)
            log = _LogUntilReported(TaskLog(self.reporter, task.id))
            # The values of references in a shell command: in its environment, never in its text.
            ctx = StepContext(task=task.id, step_id=spec.id, log=log, env=references.environment(env),
                              outputs=outputs, services=self.services, config_path=self.config.path,
                              dry_run=False, force=self.force or force, cancelled=step_cancelled,
                              timeout=spec.timeout, retry_policy=policies, variables=self.variables)
            if spec.timeout:
                def expire() -> None:
                    timed_out.set()
                    step_cancelled.set()
                timer = threading.Timer(spec.timeout, expire)
                timer.daemon = True
                timer.start()

            def attempt() -> StepResult:
                nonlocal attempts
                attempts += 1
                return self._attempt(step, ctx)

            def on_retry(number: int, error: BaseException, error_class: str, wait_seconds: float) -> None:
                message = retry_message(number, policies[error_class].attempts, _describe(error), error_class,
                                        wait_seconds)
                self.reporter.log(task.id, "warning", f"{label}: {message}")

            result = self._within_grace(
                lambda: call_with_retry(attempt, policies, step.error_class, cancelled=step_cancelled,
                                        on_retry=on_retry),
                step_cancelled, timed_out, f"step {task.id}/{label}")
            self._record_outputs(task, spec, result)
            self.results[(task.id, spec)] = result
            self.failures.pop((task.id, spec), None)
            self.reporter.step_outputs(task.id, label, _masked_outputs(type(step), result.outputs))
            self.reporter.step_finished(task.id, label, result.status, time.monotonic() - started, result.message,
                                        attempts=attempts)
            return result.status
        except Cancelled:
            if timed_out.is_set():
                self.failures[(task.id, spec)] = TRANSIENT  # the next try may be quicker
                message = f"timed out after {spec.timeout:g}s ({spec.location})"
                self.reporter.step_finished(task.id, label, "failed", time.monotonic() - started, message,
                                            attempts=attempts)
                return "failed"
            self.reporter.step_finished(task.id, label, "cancelled", time.monotonic() - started, "interrupted",
                                        attempts=attempts)
            return "cancelled"
        except StepFailed as error:
            self.failures[(task.id, spec)] = step.error_class(error) if step is not None else None
            self.reporter.step_finished(task.id, label, "failed", time.monotonic() - started, _describe(error),
                                        attempts=attempts)
            self._debug_traceback(task, error)
            return "failed"
        except Exception as error:  # a step's bug must not take the other tasks down
            self.failures[(task.id, spec)] = None
            self.reporter.step_finished(task.id, label, "failed", time.monotonic() - started,
                                        f"unexpected error: {_describe(error)} (run with -vv for the traceback)",
                                        attempts=attempts)
            self._debug_traceback(task, error)
            return "failed"
        finally:
            if log is not None:
                log.close()  # an abandoned step's later lines would follow its reported end
            if timer is not None:
                timer.cancel()
            with self._live_lock:
                self._live_steps.discard(step_cancelled)

    def _within_grace(self, work: Callable[[], StepResult], cancelled: threading.Event, timed_out: threading.Event,
                      name: str) -> StepResult:
        """`work()` in a daemon thread (the process may exit without it). Once `cancelled` is
        set it gets a grace to finish, then it is abandoned: Cancelled. A step that finished
        after its timeout fired timed out all the same: Cancelled."""
        returned: list[StepResult] = []
        raised: list[BaseException] = []
        finished = threading.Event()

        def target() -> None:
            try:
                returned.append(work())
            except BaseException as error:  # handed to the task's thread, which reports it
                raised.append(error)
            finally:
                finished.set()

        threading.Thread(target=target, name=name, daemon=True).start()
        while not finished.wait(0.05):
            if cancelled.is_set():
                if not finished.wait(self._grace):
                    raise Cancelled("abandoned after its grace")
                break
        if timed_out.is_set():
            raise Cancelled("timed out")
        if raised:
            raise raised[0]
        return returned[0]

    def _end_leftovers(self, *, interrupted: bool) -> None:
        """What `run` steps left running (`server &`) ends with the run."""
        ended = childprocess.end_leftovers(INTERRUPT_GRACE_SECONDS / 2 if interrupted else childprocess.GRACE_SECONDS)
        if ended:
            self.reporter.log(None, "info", f"ended {ended} process{'es' if ended != 1 else ''} "
                                            "that steps left running")

    def _attempt(self, step: Step[Any], ctx: StepContext) -> StepResult:
        ctx.check_cancelled()
        result = step.run(ctx)
        if not isinstance(result, StepResult):
            raise StepFailed(f"step {type(step).__name__}.run() returned {type(result).__name__}, not a StepResult")
        return result

    def _plan(self, task: TaskSpec) -> bool:
        """Print what the task's steps would do; False when one of them cannot be planned."""
        lines = []
        planned = True
        try:
            env: dict[str, str] | StepFailed = task_env(task)
        except StepFailed as error:
            env = error  # every step is unplannable, for the same reason
        for spec in task.steps:
            try:
                if isinstance(env, StepFailed):
                    raise env
                described = build_step(self.config, spec, env).describe()
                if spec.on_change is not None:  # run by `automations watch` only, after a refresh changed the file
                    described = described + [f"onChange (under automations watch): {line}"
                                  for line in build_step(self.config, spec.on_change, env).describe()]
            except StepFailed as error:
                described = [f"(cannot plan: {error})"]
                planned = False
            lines.append(f"{spec.label} [{spec.uses}]")
            lines.extend(f"  {line}" for line in described)
        self.reporter.plan(task.id, lines)
        return planned

    # -- outputs shared across the run ------------------------------------------------------

    def _record_outputs(self, task: TaskSpec, spec: StepSpec, result: StepResult) -> None:
        if spec.id is None:
            return
        with self._outputs_lock:
            self._outputs[f"{task.id}.{spec.id}"] = dict(result.outputs)

    def _outputs_for(self, task: TaskSpec) -> dict[str, dict[str, Any]]:
        with self._outputs_lock:
            view = dict(self._outputs)
        prefix = task.id + "."
        view.update({k[len(prefix):]: v for k, v in view.items() if k.startswith(prefix)})
        return view

    def _debug_traceback(self, task: TaskSpec, error: BaseException) -> None:
        if self.reporter.verbosity >= DEBUG:
            import traceback

            self.reporter.log(task.id, "debug", "".join(traceback.format_exception(error)).rstrip())


class _LogUntilReported:
    """A step's log, silent once the step's end is reported: an abandoned step may still be
    running, and its lines must not follow the verdict (or the summary)."""

    def __init__(self, log: TaskLog) -> None:
        self._log = log
        self._open = True

    def close(self) -> None:
        self._open = False

    def info(self, message: str) -> None:
        if self._open:
            self._log.info(message)

    def warning(self, message: str) -> None:
        if self._open:
            self._log.warning(message)

    def debug(self, message: str) -> None:
        if self._open:
            self._log.debug(message)

    def output(self, line: str) -> None:
        if self._open:
            self._log.output(line)


def _masked_outputs(step_class: type, outputs: dict[str, Any]) -> dict[str, Any]:
    """What may be shown of a step's outputs: each declared secret registered with the
    redactor (masked from now on, wherever it is printed) and shown as `***`."""
    secret = {name for name, output in (declared_outputs(step_class) or {}).items() if output.secret}
    for name in secret & set(outputs):
        REDACTOR.add(output_text(outputs[name]))
    return {name: MASK if name in secret else value for name, value in outputs.items()}


def _describe(error: BaseException) -> str:
    if isinstance(error, StepFailed):
        return str(error)
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


@contextlib.contextmanager
def _signals_set_flag() -> Iterator[Callable[[], bool]]:
    """While tasks run, Ctrl-C and SIGTERM only set a flag that the scheduling loop reads.

    Raising KeyboardInterrupt instead can land anywhere in the main thread, including inside
    concurrent.futures.wait() while it holds a future's lock: the worker finishing that
    future then blocks forever and the run hangs instead of stopping (seen in CI)."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    def on_signal(number: int, frame: object) -> None:
        received.append(number)
        if len(received) >= 3:  # a step ignoring cancellation: the third Ctrl-C quits anyway
            os._exit(130)  # files are only ever replaced by rename: nothing is half-written

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield lambda: bool(received)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
