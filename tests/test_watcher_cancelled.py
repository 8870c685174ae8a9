"""`automations watch` and a refresh that ends "cancelled" without a signal: a step that raised
Cancelled itself (a plugin whose child was killed by someone else)."""
from __future__ import annotations

import math
import os
import signal
import threading
import time
from pathlib import Path

from support.cli import Result, run_cli

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


def watch_a_step_cancelled_at_each_try(write_config, env: dict[str, str], directory: Path) -> tuple[Result, int]:
    """`automations watch` of a task whose step is cancelled at each try after the first, for
    a few seconds after the first of them; its result, and how often the step ran beyond
    what one try a second (MIN_GAP_SECONDS) allows in the time it was watched."""
    (directory / "cancelling.py").write_text(CANCELLED_AT_REFRESH)
    write_config("""
        plugins: [cancelling:CancelledAtRefresh]
        tasks:
          a:
            steps:
              - uses: cancelled-at-refresh
    """)

    watched: list[float] = []

    def stop_after_the_first_try() -> None:
        # Only once the watcher is in its loop (its SIGTERM handler set): one try done.
        deadline = time.monotonic() + 60
        while calls(directory) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        if calls(directory) >= 2:
            started = time.monotonic()
            time.sleep(WATCHED_SECONDS)
            watched.append(time.monotonic() - started)  # a loaded machine may sleep longer
            os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=stop_after_the_first_try, daemon=True).start()
    result = run_cli("watch", "a", cwd=directory, env=env, timeout=90)
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
