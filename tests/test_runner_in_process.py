"""The runner's promises, driven in process with small Python step types (issue 17).

Each test loads an automations.yaml that lists the step types below under `plugins:`, runs
its tasks with a `Runner` reporting as `--output json` does, and reads the events a machine
(or, worded, a person) would see: the order tasks run in, what a dependency's failure or
cancellation does to the tasks after it, retries and their warnings, timeouts and the grace
after them, Ctrl-C, a dry run's plan, a step's outputs and context, and what `automations
watch` reads back (`results`, `failures`). No test here waits seconds: the graces are
shortened where a test needs one to pass.

Signals are real: a step sends SIGINT to this process, whose handler (installed by the run,
in the main thread) the run reads as Ctrl-C.
"""
from __future__ import annotations

import io
import json
import os
import signal
import textwrap
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from support.bounded import bounded

from automations import childprocess
from automations.api import (
    Cancelled,
    Options,
    Output,
    RetryPolicy,
    Step,
    StepContext,
    StepFailed,
    StepResult,
    ThrottledError,
    TransientError,
    option,
)
from automations.engine import runner as runner_module
from automations.engine.config import Config, load_config, select_tasks
from automations.engine.report.base import DEBUG, VERBOSE
from automations.engine.report.json import JsonReporter
from automations.engine.runner import Runner, RunOutcome
from automations.engine.variables import CommandEnvironment

# -- step types: each does one thing a real step (or a buggy plugin) does -------------------------


class SayOptions(Options):
    status: str = option("ok", help="what the step returns: ok, changed or skipped")
    message: str = option("")
    outputs: dict[str, str] = option(default_factory=dict)


class Say(Step[SayOptions]):
    """Returns what it is told to; a dry run shows `say MESSAGE`."""

    name = "say"
    Options = SayOptions

    def run(self, ctx: StepContext) -> StepResult:
        return StepResult(self.options.status, self.options.outputs, self.options.message)  # type: ignore[arg-type]

    def describe(self) -> list[str]:
        return [f"say {self.options.message}"]


class FailOptions(Options):
    message: str = option("")
    kind: str = option("fatal", help="fatal, transient, throttled, cancel, crash (an unexpected error) or outputs (no result)")
    times: int = option(0, help="fail only the first TIMES attempts (0: every one)")
    interrupt: bool = option(False, help="send Ctrl-C (SIGINT) to this process at the first attempt")
    then: str = option("ok", help="after TIMES failed attempts: ok, crash, cancel, or wait (for its cancellation)")


class Fail(Step[FailOptions]):
    """Fails as it is told to: the errors steps raise, a bug's exception, a missing `return`."""

    name = "fail"
    Options = FailOptions

    def __init__(self, options: FailOptions) -> None:
        super().__init__(options)
        self.tries = 0

    def run(self, ctx: StepContext) -> StepResult:
        self.tries += 1
        if self.options.interrupt and self.tries == 1:
            os.kill(os.getpid(), signal.SIGINT)
        kind = self.options.kind
        if self.options.times and self.tries > self.options.times:
            if self.options.then == "ok":
                return StepResult.ok(f"ok at try {self.tries}")
            kind = self.options.then
        if kind == "wait":
            ctx.cancelled.wait(5)
            ctx.check_cancelled()
        message = self.options.message
        if kind == "transient":
            raise TransientError(message)
        if kind == "throttled":
            raise ThrottledError(message)
        if kind == "crash":
            raise RuntimeError(message) if message else RuntimeError()
        if kind == "cancel":
            raise Cancelled(message or "cancelled")  # as a plugin whose wait was interrupted does
        if kind == "outputs":
            return {"region": "eu-west-1"}  # type: ignore[return-value]  # a plugin's bug: its outputs, not a result
        raise StepFailed(message)


class LingerOptions(Options):
    seconds: float = option(5.0, help="how long it takes at most")
    honour_cancel: bool = option(True, key="honourCancel", help="end at once when cancelled")
    interrupt: bool = option(False, help="send Ctrl-C (SIGINT) to this process first")
    late_line: str = option("", key="lateLine", help="a line logged when it ends")
    refresh_at: float = option(0.0, key="refreshAt")


class Linger(Step[LingerOptions]):
    """Takes its time: ends early when cancelled (`ctx.cancelled`), unless it ignores that."""

    name = "linger"
    Options = LingerOptions

    def run(self, ctx: StepContext) -> StepResult:
        started = time.monotonic()
        if self.options.interrupt:
            os.kill(os.getpid(), signal.SIGINT)
        if self.options.honour_cancel:
            if ctx.cancelled.wait(self.options.seconds):
                ctx.log.info(f"cancelled after {time.monotonic() - started:.3f}s")
            ctx.check_cancelled()
        else:
            time.sleep(self.options.seconds)
        if self.options.late_line:
            ctx.log.info(self.options.late_line)
        return StepResult("ok", refresh_at=self.options.refresh_at or None)


class Tally:
    """A service steps of one run share (`ctx.shared`)."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()


class ContextOptions(Options):
    value: str = option("", help="any option, to show how it reached the step")


class ShowContext(Step[ContextOptions]):
    """Shows, as its outputs, what the engine gave it."""

    name = "context"
    Options = ContextOptions

    def run(self, ctx: StepContext) -> StepResult:
        tally = ctx.shared(Tally)
        with tally.lock:
            tally.count += 1
            count = tally.count
        return StepResult.ok(task=ctx.task, step_id=str(ctx.step_id), value=self.options.value,
                             force=str(ctx.force), dry_run=str(ctx.dry_run), timeout=str(ctx.timeout),
                             attempts=str(ctx.retry_policy.attempts if ctx.retry_policy else None),
                             config=str(ctx.config_path), greeting=ctx.env.get("GREETING", "(unset)"),
                             cancelled=str(ctx.cancelled.is_set()), shared=str(count),
                             outputs_seen=" ".join(sorted(f"{key}:{','.join(sorted(values))}"
                                                          for key, values in ctx.outputs.items())))


class LogOptions(Options):
    text: str = option()


class LogLines(Step[LogOptions]):
    """Says `text` once on each of its log's channels."""

    name = "log"
    Options = LogOptions

    def run(self, ctx: StepContext) -> StepResult:
        ctx.log.info(f"info: {self.options.text}")
        ctx.log.warning(f"warning: {self.options.text}")
        ctx.log.debug(f"debug: {self.options.text}")
        ctx.log.output(f"output: {self.options.text}")
        return StepResult.ok()


class MintOptions(Options):
    token: str = option()


class Mint(Step[MintOptions]):
    """Declares a secret output and a plain one."""

    name = "mint"
    Options = MintOptions
    outputs = {"token": Output("a token", secret=True), "greeting": "a greeting"}

    def run(self, ctx: StepContext) -> StepResult:
        return StepResult.ok(token=self.options.token, greeting="hello-plain-greeting")


class MeetOptions(Options):
    me: str = option()
    partner: str = option()


class Meet(Step[MeetOptions]):
    """Succeeds only while its partner runs at the same time: each waits for the other's mark."""

    name = "meet"
    Options = MeetOptions

    def run(self, ctx: StepContext) -> StepResult:
        Path(self.options.me).touch()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if Path(self.options.partner).exists():
                return StepResult.ok()
            time.sleep(0.01)
        raise StepFailed("the partner never came")


class NoteFile:
    """A VariableFile writing NAME=value lines."""

    kind = "note"
    points_to: Mapping[str, str] = {}

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.name = self.path.name

    def check(self) -> None:
        pass

    def write(self, values: Mapping[str, str]) -> bool:
        self.path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        return True


class DeliverOptions(Options):
    file: str = option()


class Deliver(Step[DeliverOptions]):
    """Produces the variable GREETING=hi, kept in `file` unless the run says otherwise."""

    name = "deliver"
    Options = DeliverOptions

    def run(self, ctx: StepContext) -> StepResult:
        delivery = ctx.deliver({"GREETING": "hi"}, NoteFile(self.options.file))
        return StepResult.ok(delivery.where)


class FlakyByDefault(Fail):
    """A step type whose own retry policy retries its transient errors."""

    name = "flaky"
    retry_policy = RetryPolicy(attempts=3, initial_delay=0.01, max_delay=0.01)


STEP_TYPES = [Say, Fail, Linger, ShowContext, LogLines, Mint, Meet, Deliver, FlakyByDefault]
FAST_RETRY = "{attempts: 3, initialDelay: 0.01, maxDelay: 0.01}"


# -- running them ------------------------------------------------------------------------------


class Run:
    """What one run reported, as the JSON events (without their `time`)."""

    def __init__(self, outcome: RunOutcome, out: io.StringIO, seconds: float, runner: Runner) -> None:
        self.outcome = outcome
        self.out = out
        self.seconds = round(seconds + 0.0005, 3)  # rounded up, as events round their durations
        self.runner = runner

    @property
    def events(self) -> list[dict[str, Any]]:
        """Everything reported so far (an abandoned step may report later)."""
        events = [json.loads(line) for line in self.out.getvalue().splitlines()]
        for event in events:
            event.pop("time")
        return events

    def of(self, kind: str, task: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == kind and (task is None or e.get("task") == task)]

    def task(self, task: str) -> dict[str, Any]:
        found = self.of("task", task)
        assert len(found) == 1, self.events
        return found[0]

    def step(self, task: str) -> dict[str, Any]:
        """The one `step` event of `task`."""
        found = self.of("step", task)
        assert len(found) == 1, self.events
        return found[0]

    def logs(self, level: str) -> list[dict[str, Any]]:
        return [e for e in self.of("log") if e["level"] == level]

    def kinds(self) -> list[tuple[str, str | None]]:
        return [(e["event"], e.get("task")) for e in self.events]


def load(write_config: Any, tasks: str) -> Config:
    plugins = "".join(f"  - {__name__}:{step_type.__name__}\n" for step_type in STEP_TYPES)
    return load_config(write_config("plugins:\n" + plugins + textwrap.dedent(tasks).lstrip("\n")))


def run_tasks(config: Config, *task_ids: str, verbosity: int = VERBOSE, **options: Any) -> Run:
    out = io.StringIO()
    runner = Runner(config, JsonReporter(verbosity=verbosity, out=out, err=out), **options)
    started = time.monotonic()
    with bounded(15, runner.cancel):
        outcome = runner.run(select_tasks(config, list(task_ids), None))
    return Run(outcome, out, time.monotonic() - started, runner)


@pytest.fixture(scope="module")
def _entry_point_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def _private_environment(in_process_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                         _entry_point_cache: Path) -> None:
    """base_env as the process environment (the tasks' `env:` expands from it), in the
    configuration's directory (messages name it `automations.yaml`). The installed step
    types are looked up once for the module, as a user's cache keeps them: the lookup costs
    more than most of these runs (and mutmut runs them hundreds of times)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(_entry_point_cache))


def without_durations(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != "duration"}


# -- the order tasks run in --------------------------------------------------------------------


def test_a_task_starts_only_once_the_task_it_depends_on_has_ended(write_config):
    config = load(write_config, """
        tasks:
          second:
            dependsOn: [first]
            steps: [{uses: say}]
          first:
            steps: [{uses: linger, with: {seconds: 0.1}}]
    """)
    run = run_tasks(config, "second")
    assert run.kinds() == [("step_start", "first"), ("step", "first"), ("task", "first"),
                           ("step_start", "second"), ("step", "second"), ("task", "second"), ("summary", None)]
    assert run.outcome.statuses == {"first": "ok", "second": "ok"}
    assert not run.outcome.interrupted and not run.outcome.failed


def test_independent_tasks_run_side_by_side(write_config, tmp_path):
    config = load(write_config, f"""
        tasks:
          left:
            steps: [{{uses: meet, with: {{me: {tmp_path}/left, partner: {tmp_path}/right}}}}]
          right:
            steps: [{{uses: meet, with: {{me: {tmp_path}/right, partner: {tmp_path}/left}}}}]
    """)
    run = run_tasks(config, "left", "right")
    assert run.outcome.statuses == {"left": "ok", "right": "ok"}, run.events


def test_one_job_runs_one_task_at_a_time(write_config):
    config = load(write_config, """
        tasks:
          left:
            steps: [{uses: linger, with: {seconds: 0.1}}]
          right:
            steps: [{uses: linger, with: {seconds: 0.1}}]
    """)
    run = run_tasks(config, "left", "right", jobs=1)
    assert [kind for kind in run.kinds() if kind[0] != "task"] == [
        ("step_start", "left"), ("step", "left"), ("step_start", "right"), ("step", "right"), ("summary", None)]


def test_every_step_of_a_task_runs_in_order(write_config):
    config = load(write_config, """
        tasks:
          t:
            steps:
              - {uses: say, name: one}
              - {uses: say, name: two, with: {status: changed}}
              - {uses: say, name: three, with: {status: skipped}}
    """)
    run = run_tasks(config, "t")
    assert [(e["step"], e["status"]) for e in run.of("step")] == [("one", "ok"), ("two", "changed"),
                                                                   ("three", "skipped")]
    assert run.task("t")["status"] == "ok"


def test_a_failing_step_fails_its_task_and_the_steps_after_it_do_not_run(write_config):
    config = load(write_config, """
        tasks:
          t:
            steps:
              - {uses: fail, name: broken, with: {message: no such secret}}
              - {uses: say, name: after}
    """)
    run = run_tasks(config, "t")
    assert [e["step"] for e in run.of("step_start")] == ["broken"]
    assert run.task("t")["status"] == "failed"
    assert run.outcome.statuses == {"t": "failed"} and run.outcome.failed


def test_a_step_that_is_cancelled_cancels_its_task_and_the_steps_after_it_do_not_run(write_config):
    config = load(write_config, """
        tasks:
          t:
            steps:
              - {uses: fail, name: gives-up, with: {kind: cancel}}
              - {uses: say, name: after}
    """)
    run = run_tasks(config, "t")
    assert [e["step"] for e in run.of("step_start")] == ["gives-up"]
    assert without_durations(run.step("t")) == {"event": "step", "task": "t", "step": "gives-up",
                                                "status": "cancelled", "message": "interrupted",
                                                "attempts": 1, "outputs": {}}
    assert run.task("t")["status"] == "cancelled"
    assert not run.outcome.interrupted


# -- what a dependency's end does to the tasks after it -----------------------------------------


def test_a_task_whose_dependency_failed_is_skipped_naming_it_and_independent_tasks_still_run(write_config):
    config = load(write_config, """
        tasks:
          broken:
            steps: [{uses: fail, with: {message: nope}}]
          dependent:
            dependsOn: [broken]
            steps: [{uses: say}]
          independent:
            steps: [{uses: say}]
    """)
    run = run_tasks(config, "dependent", "independent")
    assert run.task("dependent") == {"event": "task", "task": "dependent", "status": "skipped", "duration": 0.0,
                                     "message": "dependency 'broken' failed"}
    assert run.of("step_start", "dependent") == []
    assert run.outcome.statuses == {"broken": "failed", "dependent": "skipped", "independent": "ok"}


def test_a_task_whose_dependency_was_skipped_is_skipped_too(write_config):
    config = load(write_config, """
        tasks:
          a:
            steps: [{uses: fail, with: {message: nope}}]
          b:
            dependsOn: [a]
            steps: [{uses: say}]
          c:
            dependsOn: [b]
            steps: [{uses: say}]
    """)
    run = run_tasks(config, "c")
    assert run.task("c")["message"] == "dependency 'b' skipped"
    assert run.outcome.statuses == {"a": "failed", "b": "skipped", "c": "skipped"}


def test_a_task_with_several_broken_dependencies_names_the_first_as_it_ended(write_config):
    config = load(write_config, """
        tasks:
          a:
            steps: [{uses: fail, with: {message: nope}}]
          b:
            dependsOn: [a]
            steps: [{uses: say}]
          c:
            dependsOn: [a, b]
            steps: [{uses: say}]
    """)
    run = run_tasks(config, "c")
    assert run.task("c")["message"] == "dependency 'a' failed"


def test_a_task_whose_dependency_was_cancelled_is_cancelled_and_the_run_goes_on(write_config):
    config = load(write_config, """
        tasks:
          a:
            steps: [{uses: fail, with: {kind: cancel}}]
          b:
            dependsOn: [a]
            steps: [{uses: say}]
          other:
            steps: [{uses: say}]
    """)
    run = run_tasks(config, "b", "other")
    assert run.task("b") == {"event": "task", "task": "b", "status": "cancelled", "duration": 0.0,
                             "message": "dependency 'a' cancelled"}
    assert run.outcome.statuses == {"a": "cancelled", "b": "cancelled", "other": "ok"}
    assert not run.outcome.interrupted


def test_a_task_whose_env_cannot_be_expanded_fails_before_any_step(write_config):
    config = load(write_config, """
        tasks:
          t:
            env:
              URL: https://${NOT_SET_ANYWHERE}/
            steps: [{uses: say}]
    """)
    run = run_tasks(config, "t")
    assert run.of("step_start") == []
    assert run.task("t") == {"event": "task", "task": "t", "status": "failed", "duration": 0.0,
                             "message": "automations.yaml:12:3: env: ${NOT_SET_ANYWHERE} is not set "
                                        "(set it, or write ${NOT_SET_ANYWHERE:-default})"}
    assert run.outcome.statuses == {"t": "failed"}


# -- what the report says --------------------------------------------------------------------------


def test_a_step_reports_its_start_then_its_status_message_outputs_and_one_attempt(write_config):
    config = load(write_config, """
        tasks:
          t:
            steps:
              - uses: say
                name: greet
                with: {status: changed, message: wrote .env, outputs: {where: .env}}
    """)
    run = run_tasks(config, "t")
    assert run.of("step_start") == [{"event": "step_start", "task": "t", "step": "greet"}]
    step = run.step("t")
    assert without_durations(step) == {"event": "step", "task": "t", "step": "greet", "status": "changed",
                                       "message": "wrote .env", "attempts": 1, "outputs": {"where": ".env"}}
    assert 0 <= step["duration"] <= run.seconds


def test_a_step_is_named_by_its_id_when_it_has_no_name_else_by_its_type(write_config):
    config = load(write_config, """
        tasks:
          t:
            steps:
              - {uses: say, id: first}
              - {uses: say}
    """)
    run = run_tasks(config, "t")
    assert [e["step"] for e in run.of("step")] == ["first", "say"]


def test_a_task_reports_its_status_and_how_long_its_steps_took(write_config):
    config = load(write_config, """
        tasks:
          t:
            steps: [{uses: linger, with: {seconds: 0.1}}]
    """)
    run = run_tasks(config, "t")
    task = run.task("t")
    assert (task["status"], task["message"]) == ("ok", "")
    assert run.step("t")["duration"] <= task["duration"] <= run.seconds


def test_the_summary_lists_every_task_in_run_order_and_the_time_the_run_took(write_config):
    config = load(write_config, """
        tasks:
          last:
            dependsOn: [middle]
            steps: [{uses: say}]
          middle:
            dependsOn: [first]
            steps: [{uses: fail, with: {message: nope}}]
          first:
            steps: [{uses: linger, with: {seconds: 0.1}}]
    """)
    run = run_tasks(config, "last")
    summary = run.of("summary")
    assert len(summary) == 1 and run.events[-1] == summary[0]
    assert list(summary[0]["tasks"].items()) == [("first", "ok"), ("middle", "failed"), ("last", "skipped")]
    assert 0.1 <= summary[0]["duration"] <= run.seconds


def test_a_steps_log_lines_reach_the_report_under_its_task(write_config):
    config = load(write_config, """
        tasks:
          t:
            steps: [{uses: log, with: {text: hello}}]
    """)
    run = run_tasks(config, "t", verbosity=DEBUG)
    assert [(e["task"], e["level"], e["message"]) for e in run.of("log")] == [
        ("t", "info", "info: hello"), ("t", "warning", "warning: hello"), ("t", "debug", "debug: hello")]
    assert run.of("output") == [{"event": "output", "task": "t", "line": "output: hello"}]


def test_a_step_that_fails_is_reported_with_its_own_message(write_config):
    config = load(write_config, """
        tasks:
          t:
            steps: [{uses: fail, name: fetch, with: {message: "secret 'db' not found"}}]
    """)
    run = run_tasks(config, "t")
    assert without_durations(run.step("t")) == {"event": "step", "task": "t", "step": "fetch", "status": "failed",
                                                "message": "secret 'db' not found", "attempts": 1, "outputs": {}}
    assert 0 <= run.step("t")["duration"] <= run.seconds


def test_a_step_s_unexpected_error_fails_it_naming_the_error_and_other_tasks_still_run(write_config):
    config = load(write_config, """
        tasks:
          buggy:
            steps: [{uses: fail, name: bug, with: {kind: crash, message: boom}}]
          fine:
            steps: [{uses: say}]
    """)
    run = run_tasks(config, "buggy", "fine")
    assert without_durations(run.step("buggy")) == {
        "event": "step", "task": "buggy", "step": "bug", "status": "failed",
        "message": "unexpected error: RuntimeError: boom (run with -vv for the traceback)", "attempts": 1,
        "outputs": {}}
    assert 0 <= run.step("buggy")["duration"] <= run.seconds
    assert run.outcome.statuses == {"buggy": "failed", "fine": "ok"}


def test_an_unexpected_error_without_a_message_is_named_by_its_type(write_config):
    config = load(write_config, """
        tasks:
          t:
            steps: [{uses: fail, with: {kind: crash}}]
    """)
    run = run_tasks(config, "t")
    assert run.step("t")["message"] == "unexpected error: RuntimeError (run with -vv for the traceback)"


def test_a_step_that_returns_no_result_fails_naming_its_type_and_what_it_returned(write_config):
    config = load(write_config, """
        tasks:
          t:
            steps: [{uses: fail, with: {kind: outputs}}]
    """)
    run = run_tasks(config, "t")
    assert (run.step("t")["status"], run.step("t")["message"]) == (
        "failed", "step Fail.run() returned dict, not a StepResult")


def test_at_debug_verbosity_a_failed_step_logs_its_traceback(write_config):
    config = load(write_config, """
        tasks:
          t:
            steps: [{uses: fail, with: {message: "secret 'db' not found"}}]
    """)
    run = run_tasks(config, "t", verbosity=DEBUG)
    [log] = run.logs("debug")
    assert log["task"] == "t"
    assert log["message"].startswith("Traceback (most recent call last):\n  File ")
    assert ", in run\n    raise StepFailed(message)\n" in log["message"]
    assert log["message"].endswith("StepFailed: secret 'db' not found")


def test_at_debug_verbosity_an_unexpected_error_logs_its_traceback(write_config):
    config = load(write_config, """
        tasks:
          t:
            steps: [{uses: fail, with: {kind: crash, message: boom}}]
    """)
    run = run_tasks(config, "t", verbosity=DEBUG)
    [log] = run.logs("debug")
    assert log["task"] == "t"
    assert log["message"].startswith("Traceback (most recent call last):\n")
    assert log["message"].endswith("RuntimeError: boom")


def test_below_debug_verbosity_no_traceback_is_logged(write_config):
    config = load(write_config, """
        tasks:
          t:
            steps: [{uses: fail, with: {kind: crash, message: boom}}]
    """)
    run = run_tasks(config, "t", verbosity=VERBOSE)
    assert run.of("log") == []


# -- retries ---------------------------------------------------------------------------------------


def test_a_retried_step_warns_before_each_retry_and_reports_its_attempts(write_config):
    config = load(write_config, f"""
        tasks:
          t:
            steps:
              - uses: fail
                name: flaky
                with: {{kind: transient, message: not ready, times: 2}}
                retry: {FAST_RETRY}
    """)
    run = run_tasks(config, "t")
    assert [(e["task"], e["message"]) for e in run.logs("warning")] == [
        ("t", "flaky: attempt 1 of 3 failed: not ready; transient; retrying in 0.0s"),
        ("t", "flaky: attempt 2 of 3 failed: not ready; transient; retrying in 0.0s")]
    assert (run.step("t")["status"], run.step("t")["message"], run.step("t")["attempts"]) == ("ok", "ok at try 3", 3)


def test_a_step_out_of_attempts_fails_with_its_last_error_and_its_attempts(write_config):
    config = load(write_config, f"""
        tasks:
          t:
            steps:
              - {{uses: fail, with: {{kind: throttled, message: slow down}}, retry: {FAST_RETRY}}}
    """)
    run = run_tasks(config, "t")
    assert (run.step("t")["status"], run.step("t")["message"], run.step("t")["attempts"]) == (
        "failed", "slow down", 3)
    assert [e["message"].split(": ", 1)[1] for e in run.logs("warning")] == [
        "attempt 1 of 3 failed: slow down; throttled; retrying in 0.0s",
        "attempt 2 of 3 failed: slow down; throttled; retrying in 0.0s"]


def test_a_step_type_s_own_retry_policy_applies_without_a_retry_key(write_config):
    config = load(write_config, """
        tasks:
          t:
            steps: [{uses: flaky, with: {kind: transient, message: not ready, times: 2}}]
    """)
    run = run_tasks(config, "t")
    assert (run.step("t")["status"], run.step("t")["attempts"]) == ("ok", 3)


def test_a_retry_key_overrides_the_step_type_s_policy(write_config):
    config = load(write_config, """
        tasks:
          t:
            steps: [{uses: flaky, with: {kind: transient, message: not ready, times: 2}, retry: {attempts: 2}}]
    """)
    run = run_tasks(config, "t")
    assert (run.step("t")["status"], run.step("t")["attempts"]) == ("failed", 2)


def test_a_step_that_times_out_in_a_later_attempt_reports_its_attempts(write_config):
    config = load(write_config, f"""
        tasks:
          t:
            steps:
              - {{uses: fail, timeout: 0.3, with: {{kind: transient, times: 1, then: wait}}, retry: {FAST_RETRY}}}
    """)
    run = run_tasks(config, "t")
    assert (run.step("t")["message"][:20], run.step("t")["attempts"]) == ("timed out after 0.3s", 2)


def test_a_step_cancelled_in_a_later_attempt_reports_its_attempts(write_config):
    config = load(write_config, f"""
        tasks:
          t:
            steps:
              - {{uses: fail, with: {{kind: transient, times: 1, then: cancel}}, retry: {FAST_RETRY}}}
    """)
    run = run_tasks(config, "t")
    assert (run.step("t")["status"], run.step("t")["attempts"]) == ("cancelled", 2)


def test_an_unexpected_error_in_a_later_attempt_reports_its_attempts(write_config):
    config = load(write_config, f"""
        tasks:
          t:
            steps:
              - {{uses: fail, with: {{kind: transient, message: boom, times: 1, then: crash}}, retry: {FAST_RETRY}}}
    """)
    run = run_tasks(config, "t")
    assert (run.step("t")["message"], run.step("t")["attempts"]) == (
        "unexpected error: RuntimeError: boom (run with -vv for the traceback)", 2)


def test_a_fatal_error_is_not_retried(write_config):
    config = load(write_config, f"""
        tasks:
          t:
            steps: [{{uses: fail, with: {{message: access denied}}, retry: {FAST_RETRY}}}]
    """)
    run = run_tasks(config, "t")
    assert (run.step("t")["message"], run.step("t")["attempts"]) == ("access denied", 1)
    assert run.logs("warning") == []


# -- timeouts and cancellation -------------------------------------------------------------------


def test_a_step_past_its_timeout_fails_naming_its_timeout_and_where_it_is_set(write_config):
    config = load(write_config, """
        tasks:
          t:
            steps:
              - uses: linger
                name: slow
                timeout: 0.1
              - uses: say
    """)
    run = run_tasks(config, "t")
    assert without_durations(run.step("t")) == {"event": "step", "task": "t", "step": "slow", "status": "failed",
                                                "message": "timed out after 0.1s (automations.yaml:14:9)",
                                                "attempts": 1, "outputs": {}}
    assert 0.1 <= run.step("t")["duration"] <= run.seconds
    assert run.outcome.statuses == {"t": "failed"}


def test_a_step_that_ignores_its_timeout_is_abandoned_after_its_grace(write_config, monkeypatch):
    monkeypatch.setattr(runner_module, "STEP_GRACE_SECONDS", 0.2)
    config = load(write_config, """
        tasks:
          t:
            steps: [{uses: linger, timeout: 0.1, with: {seconds: 4, honourCancel: false}}]
    """)
    run = run_tasks(config, "t")
    assert run.step("t")["message"].startswith("timed out after 0.1s")
    assert run.step("t")["duration"] < 3.0  # its timeout and grace (0.3 s), not the 4 s the step would take


def test_a_step_that_ends_within_its_grace_after_its_timeout_still_timed_out(write_config):
    config = load(write_config, """
        tasks:
          t:
            steps: [{uses: linger, timeout: 0.1, with: {seconds: 0.3, honourCancel: false}}]
    """)
    run = run_tasks(config, "t")
    assert (run.step("t")["status"], run.step("t")["message"][:20]) == ("failed", "timed out after 0.1s")


def test_an_abandoned_step_s_later_lines_are_not_reported(write_config, monkeypatch):
    monkeypatch.setattr(runner_module, "STEP_GRACE_SECONDS", 0.1)
    config = load(write_config, """
        tasks:
          t:
            steps: [{uses: linger, timeout: 0.1, with: {seconds: 0.5, honourCancel: false, lateLine: too late}}]
    """)
    before = set(threading.enumerate())
    run = run_tasks(config, "t")
    [abandoned] = [thread for thread in set(threading.enumerate()) - before if thread.is_alive()]
    abandoned.join(10)  # the abandoned step has logged its line by now
    assert not abandoned.is_alive()
    assert run.step("t")["status"] == "failed"
    assert run.of("log") == []


def test_an_abandoned_step_does_not_keep_the_process_alive(write_config, monkeypatch):
    # Its thread is a daemon: the process exits without waiting for it.
    monkeypatch.setattr(runner_module, "STEP_GRACE_SECONDS", 0.1)
    config = load(write_config, """
        tasks:
          t:
            steps: [{uses: linger, timeout: 0.1, with: {seconds: 1, honourCancel: false}}]
    """)
    before = set(threading.enumerate())
    run_tasks(config, "t")
    left = [thread for thread in set(threading.enumerate()) - before if thread.is_alive()]
    assert left and not [thread for thread in left if not thread.daemon]


def test_ctrl_c_cancels_the_running_step_and_the_tasks_still_waiting(write_config):
    config = load(write_config, """
        tasks:
          first:
            steps: [{uses: linger, name: waits, with: {interrupt: true}}]
          second:
            dependsOn: [first]
            steps: [{uses: say}]
    """)
    run = run_tasks(config, "second")
    assert without_durations(run.step("first")) == {"event": "step", "task": "first", "step": "waits",
                                                    "status": "cancelled", "message": "interrupted",
                                                    "attempts": 1, "outputs": {}}
    assert 0 <= run.step("first")["duration"] <= run.seconds
    assert without_durations(run.task("second")) == {"event": "task", "task": "second", "status": "cancelled",
                                                     "message": "interrupted"}
    assert run.outcome.statuses == {"first": "cancelled", "second": "cancelled"}
    assert run.outcome.interrupted
    assert run.seconds < 4  # the step's 5 s wait was cut short


def test_ctrl_c_reaches_the_running_step_promptly(write_config):
    # The scheduling loop looks for a signal every 0.1 s: a Ctrl-C must end the process
    # within 2 s, its steps' grace (1 s) included.
    config = load(write_config, """
        tasks:
          t:
            steps: [{uses: linger, with: {interrupt: true}}]
    """)
    run = run_tasks(config, "t")
    [noticed] = [e["message"] for e in run.logs("info") if e["message"].startswith("cancelled after ")]
    # About 0.1 s; the bound leaves a loaded machine room and still tells it from never (5 s).
    assert float(noticed.removeprefix("cancelled after ").removesuffix("s")) < 2.5


def test_a_step_that_ignores_ctrl_c_is_abandoned_after_the_interrupt_grace(write_config, monkeypatch):
    monkeypatch.setattr(runner_module, "INTERRUPT_GRACE_SECONDS", 0.2)
    config = load(write_config, """
        tasks:
          t:
            steps: [{uses: linger, with: {seconds: 4, interrupt: true, honourCancel: false}}]
    """)
    run = run_tasks(config, "t")
    assert (run.step("t")["status"], run.step("t")["message"]) == ("cancelled", "interrupted")
    assert run.seconds < 3


def test_a_step_that_ends_within_the_interrupt_grace_keeps_its_result(write_config, monkeypatch):
    monkeypatch.setattr(runner_module, "INTERRUPT_GRACE_SECONDS", 5.0)  # room for a loaded machine
    config = load(write_config, """
        tasks:
          t:
            steps: [{uses: linger, with: {seconds: 0.2, interrupt: true, honourCancel: false}}]
    """)
    run = run_tasks(config, "t")
    assert run.step("t")["status"] == "ok"
    assert run.outcome.interrupted


def test_ctrl_c_during_a_retry_s_wait_ends_the_step_at_once(write_config, monkeypatch):
    monkeypatch.setattr(runner_module, "INTERRUPT_GRACE_SECONDS", 5.0)  # not ended by being abandoned
    config = load(write_config, """
        tasks:
          t:
            steps:
              - uses: fail
                with: {kind: transient, message: not ready, interrupt: true}
                retry: {attempts: 3, initialDelay: 100, maxDelay: 100}
    """)
    run = run_tasks(config, "t")
    assert (run.step("t")["status"], run.step("t")["message"], run.step("t")["attempts"]) == (
        "cancelled", "interrupted", 1)
    assert run.seconds < 4


def test_a_step_starting_after_the_run_was_cancelled_is_cancelled_at_once(write_config):
    config = load(write_config, """
        tasks:
          t:
            steps: [{uses: context}]
    """)
    out = io.StringIO()
    runner = Runner(config, JsonReporter(out=out, err=out))
    runner.cancel()
    assert run_step(runner, config.tasks["t"], config.tasks["t"].steps[0], dict(os.environ)) == "cancelled"


# -- a dry run -------------------------------------------------------------------------------------


def test_a_dry_run_plans_each_step_from_the_task_s_env_and_runs_none(write_config):
    config = load(write_config, """
        tasks:
          t:
            env:
              WHO: world
            steps:
              - {uses: say, name: greet, with: {message: "hello ${WHO}"}}
              - {uses: fail, with: {message: never}}
    """)
    run = run_tasks(config, "t", dry_run=True)
    assert run.events == [{"event": "plan", "task": "t", "steps": ["greet [say]", "  say hello world", "fail [fail]"]}]
    assert run.outcome.statuses == {"t": "ok"} and not run.outcome.failed


def test_a_dry_run_shows_what_on_change_would_run_under_watch(write_config):
    config = load(write_config, """
        tasks:
          t:
            steps:
              - {uses: say, name: fetch, with: {message: secrets}, onChange: touch reloaded}
    """)
    run = run_tasks(config, "t", dry_run=True)
    assert run.of("plan")[0]["steps"] == ["fetch [say]", "  say secrets",
                                          "  onChange (under automations watch): $ touch reloaded"]


def test_a_step_that_cannot_be_planned_fails_its_task_in_a_dry_run_and_the_others_are_planned(write_config):
    config = load(write_config, """
        tasks:
          t:
            steps:
              - {uses: say, name: first, with: {message: "${NOT_SET_ANYWHERE}"}}
              - {uses: say, name: second, with: {message: fine}}
          other:
            steps: [{uses: say, with: {message: also fine}}]
    """)
    run = run_tasks(config, "t", "other", dry_run=True)
    assert run.of("plan", "t")[0]["steps"] == [
        "first [say]",
        "  (cannot plan: automations.yaml:14:50: ${NOT_SET_ANYWHERE} is not set "
        "(set it, or write ${NOT_SET_ANYWHERE:-default}))",
        "second [say]", "  say fine"]
    assert run.outcome.statuses == {"t": "failed", "other": "ok"} and run.outcome.failed


def test_a_dry_run_of_a_task_whose_env_cannot_be_expanded_plans_none_of_its_steps(write_config):
    config = load(write_config, """
        tasks:
          t:
            env: {URL: "${NOT_SET_ANYWHERE}"}
            steps:
              - {uses: say, name: first}
              - {uses: say, name: second}
    """)
    run = run_tasks(config, "t", dry_run=True)
    reason = ("  (cannot plan: automations.yaml:12:3: env: ${NOT_SET_ANYWHERE} is not set "
              "(set it, or write ${NOT_SET_ANYWHERE:-default}))")
    assert run.of("plan")[0]["steps"] == ["first [say]", reason, "second [say]", reason]
    assert run.outcome.statuses == {"t": "failed"}


# -- what a step gets, and what it hands on ---------------------------------------------------------


def test_a_step_gets_its_task_its_id_its_options_expanded_and_its_settings(write_config, tmp_path):
    config = load(write_config, """
        tasks:
          t:
            env: {GREETING: "hello ${USER_NAME:-you}"}
            steps:
              - {uses: context, id: show, timeout: 30, retry: {attempts: 4}, with: {value: "${GREETING}!"}}
    """)
    run = run_tasks(config, "t")
    assert run.step("t")["outputs"] == {
        "task": "t", "step_id": "show", "value": "hello you!", "force": "False", "dry_run": "False",
        "timeout": "30", "attempts": "4", "config": str(tmp_path / "automations.yaml"), "greeting": "hello you",
        "cancelled": "False", "shared": "1", "outputs_seen": ""}


def test_run_force_reaches_every_step(write_config):
    config = load(write_config, """
        tasks:
          t:
            steps: [{uses: context}]
    """)
    assert run_tasks(config, "t", force=True).step("t")["outputs"]["force"] == "True"


def test_steps_of_one_run_share_its_services_and_a_new_run_starts_afresh(write_config):
    config = load(write_config, """
        tasks:
          a:
            steps: [{uses: context}]
          b:
            dependsOn: [a]
            steps: [{uses: context}]
    """)
    run = run_tasks(config, "b")
    assert (run.step("a")["outputs"]["shared"], run.step("b")["outputs"]["shared"]) == ("1", "2")
    assert run_tasks(config, "a").step("a")["outputs"]["shared"] == "1"


def test_a_step_reads_the_outputs_of_earlier_steps_of_its_task_and_of_its_dependencies(write_config):
    config = load(write_config, """
        tasks:
          login:
            steps:
              - {uses: say, id: sts, with: {outputs: {account: "111122223333"}}}
          use:
            dependsOn: [login]
            steps:
              - {uses: say, id: first, with: {outputs: {region: eu-west-1}}}
              - uses: context
                with: {value: "${{ tasks.login.steps.sts.outputs.account }}/${{ steps.first.outputs.region }}"}
    """)
    run = run_tasks(config, "use")
    assert run.of("step", "use")[1]["outputs"]["value"] == "111122223333/eu-west-1"


def test_a_step_s_context_holds_the_outputs_so_far_by_step_id_and_by_task(write_config):
    config = load(write_config, """
        tasks:
          login:
            steps:
              - {uses: say, id: sts, with: {outputs: {account: "111122223333"}}}
          use:
            dependsOn: [login]
            steps:
              - {uses: say, id: first, with: {outputs: {region: eu-west-1}}}
              - {uses: context}
    """)
    run = run_tasks(config, "use")
    assert run.of("step", "use")[1]["outputs"]["outputs_seen"] == "first:region login.sts:account use.first:region"


def test_a_declared_secret_output_is_shown_masked_and_masked_wherever_it_shows_later(write_config):
    config = load(write_config, """
        tasks:
          t:
            steps:
              - {uses: mint, id: mint, with: {token: tok-3f9a1c7e5b}}
              - {uses: say, with: {message: "got ${{ steps.mint.outputs.token }} and ${{ steps.mint.outputs.greeting }}"}}
    """)
    run = run_tasks(config, "t")
    first, second = run.of("step")
    assert first["outputs"] == {"token": "***", "greeting": "hello-plain-greeting"}
    assert second["message"] == "got *** and hello-plain-greeting"


def test_whoever_follows_a_run_gets_a_declared_secret_output_masked(write_config):
    # The run history and the watcher listen to every event, unredacted: the runner masks.
    config = load(write_config, """
        tasks:
          t:
            steps: [{uses: mint, with: {token: tok-3f9a1c7e5b}}]
    """)
    seen: list[dict[str, Any]] = []

    class Listener:
        def __getattr__(self, name: str) -> Any:
            return lambda *args: None

        def step_outputs(self, task: str, step: str, outputs: Mapping[str, Any]) -> None:
            seen.append(dict(outputs))

    out = io.StringIO()
    reporter = JsonReporter(out=out, err=out)
    reporter.listeners.append(Listener())  # type: ignore[arg-type]
    runner = Runner(config, reporter)
    with bounded(15, runner.cancel):
        runner.run(["t"])
    assert seen == [{"token": "***", "greeting": "hello-plain-greeting"}]


def test_a_run_hands_its_steps_variables_where_it_was_told_to(write_config, tmp_path):
    # `automations exec`: into COMMAND's environment, no file written.
    config = load(write_config, f"""
        tasks:
          t:
            steps: [{{uses: deliver, with: {{file: {tmp_path}/kept.env}}}}]
    """)
    environment = CommandEnvironment()
    run = run_tasks(config, "t", variables=environment)
    assert run.step("t")["message"] == "in COMMAND's environment"
    assert environment.variables() == {"GREETING": "hi"}
    assert not (tmp_path / "kept.env").exists()


def test_by_default_a_run_keeps_its_steps_variables_in_their_files(write_config, tmp_path):
    config = load(write_config, f"""
        tasks:
          t:
            steps: [{{uses: deliver, with: {{file: {tmp_path}/kept.env}}}}]
    """)
    run = run_tasks(config, "t")
    assert run.step("t")["message"] == "in kept.env"
    assert (tmp_path / "kept.env").read_text() == "GREETING=hi\n"


# -- what `automations watch` reads back: one task or step at a time, its result, its failure's class --


def test_run_task_runs_one_task_s_steps_and_returns_its_status(write_config):
    config = load(write_config, """
        tasks:
          t:
            steps: [{uses: say}, {uses: fail, with: {message: nope}}]
    """)
    out = io.StringIO()
    runner = Runner(config, JsonReporter(out=out, err=out))
    with bounded(15, runner.cancel):
        assert runner.run_task(config.tasks["t"]) == "failed"
    assert [json.loads(line)["status"] for line in out.getvalue().splitlines()
            if json.loads(line)["event"] == "step"] == ["ok", "failed"]


def watched(write_config: Any, step: str) -> tuple[Runner, Any, Any]:
    config = load(write_config, f"""
        tasks:
          t:
            steps: [{step}]
    """)
    out = io.StringIO()
    task = config.tasks["t"]
    return Runner(config, JsonReporter(out=out, err=out)), task, task.steps[0]


def run_step(runner: Runner, task: Any, spec: Any, env: dict[str, str], **options: Any) -> str:
    with bounded(15, runner.cancel):
        return runner.run_step(task, spec, env, **options)


def test_run_step_keeps_the_step_s_result_for_the_watcher(write_config):
    runner, task, spec = watched(write_config, "{uses: linger, with: {seconds: 0, refreshAt: 1234.5}}")
    assert run_step(runner, task, spec, dict(os.environ)) == "ok"
    assert runner.results[(task.id, spec)].refresh_at == 1234.5
    assert (task.id, spec) not in runner.failures


@pytest.mark.parametrize(("kind", "error_class"), [("transient", "transient"), ("throttled", "throttled"),
                                                   ("fatal", None), ("crash", None)])
def test_run_step_keeps_the_class_of_the_step_s_failure_for_the_watcher(write_config, kind, error_class):
    runner, task, spec = watched(write_config, f"{{uses: fail, with: {{kind: {kind}, message: nope}}}}")
    assert run_step(runner, task, spec, dict(os.environ)) == "failed"
    assert (task.id, spec) in runner.failures and runner.failures[(task.id, spec)] == error_class


def test_a_step_whose_options_cannot_be_expanded_is_a_fatal_failure_for_the_watcher(write_config):
    runner, task, spec = watched(write_config, '{uses: say, with: {message: "${NOT_SET_ANYWHERE}"}}')
    assert run_step(runner, task, spec, dict(os.environ)) == "failed"
    assert (task.id, spec) in runner.failures and runner.failures[(task.id, spec)] is None


def test_a_timed_out_step_is_a_transient_failure_for_the_watcher(write_config):
    runner, task, spec = watched(write_config, "{uses: linger, timeout: 0.05}")
    assert run_step(runner, task, spec, dict(os.environ)) == "failed"
    assert runner.failures[(task.id, spec)] == "transient"


def test_a_step_that_succeeds_again_is_no_longer_a_failure_for_the_watcher(write_config):
    runner, task, spec = watched(write_config, '{uses: say, with: {message: "${SET_LATER}"}}')
    assert run_step(runner, task, spec, dict(os.environ)) == "failed"
    assert (task.id, spec) in runner.failures
    assert run_step(runner, task, spec, {**os.environ, "SET_LATER": "now"}) == "ok"
    assert (task.id, spec) not in runner.failures


def test_run_step_forces_the_step_only_when_asked(write_config):
    runner, task, spec = watched(write_config, "{uses: context}")
    assert run_step(runner, task, spec, dict(os.environ)) == "ok"
    assert runner.results[(task.id, spec)].outputs["force"] == "False"
    assert run_step(runner, task, spec, dict(os.environ), force=True) == "ok"
    assert runner.results[(task.id, spec)].outputs["force"] == "True"


def test_run_step_expands_the_step_s_options_from_the_env_it_is_given(write_config):
    runner, task, spec = watched(write_config, '{uses: context, with: {value: "${GREETING}"}}')
    assert run_step(runner, task, spec, {"GREETING": "from the watcher"}) == "ok"
    assert runner.results[(task.id, spec)].outputs["value"] == "from the watcher"


# -- what steps leave running ------------------------------------------------------------------------


def test_the_run_ends_what_its_steps_left_running_and_says_how_many(write_config, tmp_path):
    config = load(write_config, """
        tasks:
          one:
            command: sleep 30 >/dev/null 2>&1 &
          two:
            command: sleep 30 >/dev/null 2>&1 & sleep 30 >/dev/null 2>&1 &
    """)
    assert [e["message"] for e in run_tasks(config, "one").logs("info")] == [
        "ended 1 process that steps left running"]
    assert [(e["task"], e["message"]) for e in run_tasks(config, "two").logs("info")] == [
        (None, "ended 2 processes that steps left running")]


def test_a_leftover_that_ignores_sigterm_gets_the_whole_grace_after_a_normal_run(write_config, monkeypatch):
    monkeypatch.setattr(childprocess, "GRACE_SECONDS", 1.0)
    config = load(write_config, """
        tasks:
          t:
            command: (trap '' TERM; touch ignoring; exec sleep 30) >/dev/null 2>&1 & until [ -e ignoring ]; do sleep 0.01; done
    """)
    run = run_tasks(config, "t")
    assert run.logs("info")[-1]["message"] == "ended 1 process that steps left running"
    assert run.seconds >= 1.0


def test_after_ctrl_c_a_leftover_that_ignores_sigterm_gets_half_the_interrupt_grace(write_config, monkeypatch):
    monkeypatch.setattr(childprocess, "GRACE_SECONDS", 10.0)
    monkeypatch.setattr(runner_module, "INTERRUPT_GRACE_SECONDS", 6.0)
    config = load(write_config, """
        tasks:
          t:
            steps:
              - run: (trap '' TERM; touch ignoring; exec sleep 30) >/dev/null 2>&1 & until [ -e ignoring ]; do sleep 0.01; done
              - {uses: linger, with: {interrupt: true}}
    """)
    run = run_tasks(config, "t")
    assert run.outcome.interrupted
    ended = run.logs("info")[-1]
    assert ended["message"] == "ended 1 process that steps left running"
    assert 3.0 <= run.seconds < 5.5  # half of the 6 s: the whole of it would take 6 s
