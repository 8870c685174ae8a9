"""`automations watch` and a refresh that ends "cancelled" without a signal: a step that raised
Cancelled itself (a plugin whose child was killed by someone else)."""
from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path

from support.cli import Result
from support.watch import watch_in_process

from automations.engine.watcher import MIN_GAP_SECONDS

# Works at the first run, asks for a refresh a second later, and is cancelled at every refresh;
# with $FAIL_FIRST, fails the first run, and is cancelled each time the watcher runs its task again.
CANCELLED_AT_REFRESH = '''
import time
from pathlib import Path

from automations.api import Cancelled, Options, Step, StepFailed, StepResult


class NoOptions(Options):
    pass


class CancelledAtRefresh(Step):
    name = "cancelled-at-refresh"
    Options = NoOptions

    def run(self, ctx):
        calls = Path(ctx.config_path).parent / "calls"
        with calls.open("a") as file:
            file.write("call\\n")
        if ctx.force or ctx.env.get("FAIL_FIRST") and len(calls.read_text().splitlines()) > 1:
            raise Cancelled("the child it waited for was killed")  # a refresh, or a task's retry
        if ctx.env.get("FAIL_FIRST"):
            raise StepFailed("not yet")
        return StepResult("changed", refresh_at=time.time() + 1)
'''

WATCHED_SECONDS = 2.0


def calls(directory: Path) -> int:
    path = directory / "calls"
    return len(path.read_text().splitlines()) if path.exists() else 0


def watch_until(condition: Callable[[], bool], config: Path, env: dict[str, str], *args: str) -> Result:
    """`automations -c CONFIG watch ARGS` in process, ended by SIGTERM once `condition()` holds
    (within 60 s, else the test fails)."""
    return watch_in_process(config, env, lambda watch: watch.wait_for(condition, "what the test waits for", 60),
                            *args)


def watch_a_step_cancelled_at_each_try(write_config, env: dict[str, str], directory: Path) -> tuple[Result, int]:
    """`automations watch` of a task whose step is cancelled at each try after the first, for
    a few seconds after the first of them; its result, and how often the step ran beyond
    what one try a second (MIN_GAP_SECONDS) allows in the time it was watched."""
    (directory / "cancelling.py").write_text(CANCELLED_AT_REFRESH)
    config = write_config("""
        plugins: [cancelling:CancelledAtRefresh]
        tasks:
          a:
            steps:
              - uses: cancelled-at-refresh
    """)

    watched: list[float] = []
    tried: list[float] = []  # when the first try after the first run was seen

    def watched_long_enough() -> bool:
        # Only once the watcher is in its loop (its SIGTERM handler set): one try done.
        if not tried:
            if calls(directory) < 2:
                return False
            tried.append(time.monotonic())
        if time.monotonic() - tried[0] < WATCHED_SECONDS:
            return False
        watched.append(time.monotonic() - tried[0])  # a loaded machine may sleep longer
        return True

    result = watch_until(watched_long_enough, config, env, "a")
    assert watched, result.output
    # The first run, the first try, then at most one try a second while watched (and one more
    # that may have started as the signal came).
    return result, calls(directory) - (2 + math.ceil(watched[0] / MIN_GAP_SECONDS) + 1)


def test_a_refresh_cancelled_without_a_signal_waits_its_backoff_instead_of_spinning(write_config, base_env,
                                                                                     tmp_path):
    result, extra = watch_a_step_cancelled_at_each_try(write_config, base_env, tmp_path)

    assert result.code == 0, result.output
    assert "stopped by SIGTERM" in result.stdout
    assert extra <= 0, f"{extra} tries more than one a second"


def test_a_task_retry_cancelled_without_a_signal_waits_its_backoff_instead_of_spinning(write_config, base_env,
                                                                                       tmp_path):
    result, extra = watch_a_step_cancelled_at_each_try(write_config, {**base_env, "FAIL_FIRST": "1"}, tmp_path)

    assert result.code == 0, result.output
    assert "stopped by SIGTERM" in result.stdout
    assert extra <= 0, f"{extra} tries more than one a second"


# Three behaviours, chosen by `with: {mode: ...}`: fails the first run then works (and asks for a
# refresh a second later); fails the first run then cancels itself at each try; always works.
# Each call is a line "TASK" in the file `calls-of-tasks`.
BY_MODE = '''
import time
from pathlib import Path

from automations.api import Cancelled, Options, Step, StepFailed, StepResult, option


class ModeOptions(Options):
    mode: str = option(help="works, works-after-first or cancels-itself")


class ByMode(Step):
    name = "by-mode"
    Options = ModeOptions

    def run(self, ctx):
        calls = Path(ctx.config_path).parent / "calls-of-tasks"
        with calls.open("a") as file:
            file.write(ctx.task + "\\n")
        first = calls.read_text().splitlines().count(ctx.task) == 1
        if self.options.mode == "works":
            return StepResult("ok")
        if first:
            raise StepFailed("not yet")
        if self.options.mode == "cancels-itself":
            raise Cancelled("the child it waited for was killed")
        return StepResult("changed", refresh_at=time.time() + 1)
'''


def test_a_task_that_cancels_itself_in_a_retry_does_not_hold_back_the_others(write_config, base_env, tmp_path):
    # `login` and `flaky` fail at start-up; at the watcher's retry `login` works and `flaky`
    # cancels itself. `uses-login` (after `login`) must still run, and `login` be kept fresh.
    (tmp_path / "by_mode.py").write_text(BY_MODE)
    config = write_config("""
        plugins: [by_mode:ByMode]
        tasks:
          login:
            steps: [{uses: by-mode, with: {mode: works-after-first}}]
          flaky:
            steps: [{uses: by-mode, with: {mode: cancels-itself}}]
          uses-login:
            dependsOn: [login]
            steps: [{uses: by-mode, with: {mode: works}}]
    """)
    calls = tmp_path / "calls-of-tasks"

    def seen_enough() -> bool:
        seen = calls.read_text().splitlines() if calls.exists() else []
        return "uses-login" in seen and seen.count("login") >= 3  # start-up, retry, a refresh

    result = watch_until(seen_enough, config, base_env, "login", "flaky", "uses-login")
    assert calls.exists(), result.output
    seen = calls.read_text().splitlines()
    assert "uses-login" in seen, result.output
    assert seen.count("login") >= 3, result.output


def test_a_refresh_ended_by_sigterm_is_not_recorded_as_a_failure(write_config, base_env, tmp_path):
    (tmp_path / "slow.py").write_text(SLOW_REFRESH)
    config = write_config("""
        plugins: [slow:SlowRefresh]
        tasks:
          a:
            steps: [{uses: slow-refresh}]
    """)

    result = watch_until((tmp_path / "refreshing").exists, config, base_env, "-v", "a")

    assert result.code == 0, result.output
    assert "stopped by SIGTERM" in result.stdout
    assert "next try" not in result.output  # no failure's backoff planned for a clean stop
    [state] = (Path(base_env["XDG_STATE_HOME"]) / "automations" / "projects").glob("*/watch.json")
    [item] = json.loads(state.read_text())["items"]
    assert item["failures"] == 0 and item.get("last_failure") is None, item


# Works at the first run and asks for a refresh at once; the refresh waits (as an STS call that
# hangs would) until cancelled.
SLOW_REFRESH = '''
import time
from pathlib import Path

from automations.api import Cancelled, Options, Step, StepResult


class NoOptions(Options):
    pass


class SlowRefresh(Step):
    name = "slow-refresh"
    Options = NoOptions

    def run(self, ctx):
        if not ctx.force:
            return StepResult("changed", refresh_at=time.time() + 0.5)
        (Path(ctx.config_path).parent / "refreshing").touch()
        if ctx.cancelled.wait(30):
            raise Cancelled("cancelled")
        return StepResult("ok")
'''
