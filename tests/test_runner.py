"""The runner, through the `automations` command: order, concurrency, failures, retries,
timeouts, dry runs, triggers, interruption, machine-readable output."""
from __future__ import annotations

import contextlib
import glob
import json
import os
import signal
import subprocess
import time
from pathlib import Path

from support.cli import AUTOMATIONS, run_cli


def run(config: Path, env: dict[str, str], *args: str):
    return run_cli("-c", str(config), "run", *args, cwd=config.parent, env=env)


def test_tasks_run_once_each_after_their_dependencies(write_config, base_env, tmp_path):
    log = tmp_path / "log"
    config = write_config(f"""
        tasks:
          app:
            command: echo app >> {log}
            dependsOn: [db, deps]
          db:
            command: echo db >> {log}
            dependsOn: [deps]
          deps:
            command: echo deps >> {log}
    """)
    result = run(config, base_env, "app", "db")
    assert result.code == 0, result.output
    assert log.read_text().split() == ["deps", "db", "app"]


def test_independent_tasks_run_concurrently(write_config, base_env, tmp_path):
    # Each task waits for the other's marker: they can only both succeed side by side.
    config = write_config(f"""
        tasks:
          left:
            command: touch {tmp_path}/left; for i in $(seq 100); do [ -e {tmp_path}/right ] && exit 0; sleep 0.1; done; exit 1
          right:
            command: touch {tmp_path}/right; for i in $(seq 100); do [ -e {tmp_path}/left ] && exit 0; sleep 0.1; done; exit 1
    """)
    result = run(config, base_env, "left", "right")
    assert result.code == 0, result.output


def test_jobs_one_runs_tasks_one_at_a_time(write_config, base_env, tmp_path):
    config = write_config(f"""
        tasks:
          left:
            command: touch {tmp_path}/left; [ ! -e {tmp_path}/right ]
          right:
            command: touch {tmp_path}/right; [ -e {tmp_path}/left ]
    """)
    result = run(config, base_env, "--jobs", "1", "left", "right")
    assert result.code == 0, result.output


def test_a_failing_task_skips_its_dependents_and_independent_tasks_still_run(write_config, base_env, tmp_path):
    config = write_config(f"""
        tasks:
          broken:
            steps:
              - run: exit 3
              - run: touch {tmp_path}/after-failure
          dependent:
            command: touch {tmp_path}/dependent
            dependsOn: [broken]
          independent:
            command: touch {tmp_path}/independent
    """)
    result = run(config, base_env, "dependent", "independent")
    assert result.code == 1
    assert "command failed (exit code 3)" in result.stdout
    assert "dependent skipped in 0.0s: dependency 'broken' failed" in result.stdout
    assert not (tmp_path / "after-failure").exists()
    assert not (tmp_path / "dependent").exists()
    assert (tmp_path / "independent").exists()



def test_a_task_whose_dependency_was_skipped_is_skipped_too_and_the_run_ends(write_config, base_env, tmp_path):
    config = write_config(f"""
        tasks:
          a:
            command: exit 3
          b:
            command: touch {tmp_path}/b
            dependsOn: [a]
          c:
            command: touch {tmp_path}/c
            dependsOn: [b]
    """)
    result = run_cli("-c", str(config), "run", "c", cwd=config.parent, env=base_env, timeout=60)
    assert result.code == 1, result.output
    assert "b skipped in 0.0s: dependency 'a' failed" in result.stdout
    assert "c skipped in 0.0s: dependency 'b' skipped" in result.stdout
    assert "3 tasks: 1 failed, 2 skipped" in result.stdout
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()

def test_trigger_runs_the_triggered_tasks_and_their_dependencies(write_config, base_env, tmp_path):
    config = write_config(f"""
        tasks:
          login:
            command: touch {tmp_path}/login
          secrets:
            triggeredBy: [postEnvironmentStart]
            dependsOn: [login]
            command: touch {tmp_path}/secrets
          other:
            triggeredBy: [prebuild]
            command: touch {tmp_path}/other
    """)
    result = run(config, base_env, "--trigger", "postEnvironmentStart")
    assert result.code == 0, result.output
    assert (tmp_path / "login").exists() and (tmp_path / "secrets").exists()
    assert not (tmp_path / "other").exists()


def test_dry_run_prints_the_plan_in_order_and_changes_nothing(write_config, base_env, tmp_path):
    config = write_config(f"""
        tasks:
          second:
            dependsOn: [first]
            command: touch {tmp_path}/second
          first:
            command: touch {tmp_path}/first
    """)
    result = run(config, base_env, "--dry-run", "second")
    assert result.code == 0, result.output
    assert result.stdout.index("first:") < result.stdout.index("second:")
    assert f"$ touch {tmp_path}/first" in result.stdout
    assert list(tmp_path.glob("first")) == [] and list(tmp_path.glob("second")) == []


def succeeds_at_the_third_try(write_config, counter: Path) -> Path:
    return write_config(f"""
        tasks:
          flaky:
            steps:
              - run: echo x >> {counter}; [ $(wc -l < {counter}) -ge 3 ]
                retry: {{attempts: 3, initialDelay: 0.01, maxDelay: 0.05}}
    """)


def test_retry_override_retries_a_failing_command(write_config, base_env, tmp_path):
    counter = tmp_path / "count"
    result = run(succeeds_at_the_third_try(write_config, counter), base_env, "flaky")
    assert result.code == 0, result.output
    assert len(counter.read_text().split()) == 3
    assert "attempt 1 of 3 failed" in result.stderr


def test_a_retried_step_says_its_attempts_in_its_final_line(write_config, base_env, tmp_path):
    result = run(succeeds_at_the_third_try(write_config, tmp_path / "count"), base_env, "flaky")
    assert result.code == 0, result.output
    assert "flaky | run: echo x" in result.stdout and ": ok after 3 attempts (" in result.stdout


def test_a_step_out_of_attempts_says_so_in_its_final_line(write_config, base_env, tmp_path):
    config = write_config("""
        tasks:
          broken:
            steps:
              - run: exit 3
                retry: {attempts: 2, initialDelay: 0.01, maxDelay: 0.01}
    """)
    result = run(config, base_env, "broken")
    assert result.code == 1
    assert "broken | run: exit 3: failed after 2 attempts (" in result.stdout


def test_without_retry_a_failing_command_runs_once(write_config, base_env, tmp_path):
    counter = tmp_path / "count"
    config = write_config(f"""
        tasks:
          flaky:
            command: echo x >> {counter}; exit 1
    """)
    result = run(config, base_env, "flaky")
    assert result.code == 1
    assert len(counter.read_text().split()) == 1


def test_a_step_past_its_timeout_fails_and_its_process_is_killed(write_config, base_env, tmp_path):
    pidfile = tmp_path / "pid"
    config = write_config(f"""
        tasks:
          slow:
            steps:
              - run: echo $$ > {pidfile}; sleep 60
                timeout: 1
    """)
    result = run(config, base_env, "slow")
    assert result.code == 1
    assert "timed out after 1s" in result.stdout
    assert not _alive(int(pidfile.read_text()))


def test_a_multiline_command_stops_at_the_first_failing_line(write_config, base_env, tmp_path):
    config = write_config(f"""
        tasks:
          script:
            command: |
              false
              touch {tmp_path}/reached
    """)
    result = run(config, base_env, "script")
    assert result.code == 1
    assert not (tmp_path / "reached").exists()


def test_task_env_and_expansion_reach_the_command(write_config, base_env, tmp_path):
    (tmp_path / "sub").mkdir()
    config = write_config("""
        tasks:
          show:
            env:
              GREETING: hello ${WHO:-world}
            steps:
              - run: echo "$GREETING from $(basename $PWD)"
                with:
                  cwd: ${SUBDIR}
    """)
    result = run(config, {**base_env, "SUBDIR": "sub"}, "show")
    assert result.code == 0, result.output
    assert "show | hello world from sub" in result.stdout


def test_an_unset_variable_fails_the_step_naming_it_and_its_position(write_config, base_env):
    config = write_config("""
        tasks:
          show:
            steps:
              - run: echo hi
                with:
                  cwd: ${NOT_SET_ANYWHERE}
    """)
    result = run(config, base_env, "show")
    assert result.code == 1
    assert "automations.yaml:6:16: ${NOT_SET_ANYWHERE} is not set" in result.stdout


def test_json_output_is_one_event_per_line(write_config, base_env):
    config = write_config("""
        tasks:
          hello:
            command: echo hi
    """)
    result = run_cli("-c", str(config), "--output", "json", "run", "hello", cwd=config.parent, env=base_env)
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds == ["step_start", "output", "step", "task", "summary"]
    assert events[1]["line"] == "hi"
    assert events[2]["status"] == "ok"
    assert events[4]["tasks"] == {"hello": "ok"}


def test_quiet_hides_successful_steps(write_config, base_env):
    config = write_config("tasks: {hello: {command: echo hi}}\n")
    result = run_cli("-q", "-c", str(config), "run", "hello", cwd=config.parent, env=base_env)
    assert result.code == 0
    assert "hi" not in result.stdout


def test_unknown_task_is_a_usage_error(write_config, base_env):
    config = write_config("tasks: {hello: {command: echo hi}}\n")
    result = run(config, base_env, "helo")
    assert result.code == 2
    assert "unknown task 'helo'" in result.stderr


def test_sigterm_stops_the_run_kills_children_and_exits_130(write_config, base_env, tmp_path):
    _interrupt(write_config, base_env, tmp_path, signal.SIGTERM)


def test_ctrl_c_stops_the_run_kills_children_and_exits_130(write_config, base_env, tmp_path):
    _interrupt(write_config, base_env, tmp_path, signal.SIGINT)


def _interrupt(write_config, base_env, tmp_path: Path, signum: int) -> None:
    pidfile = tmp_path / "pid"
    config = write_config(f"""
        tasks:
          slow:
            command: echo $$ > {pidfile}.tmp; mv {pidfile}.tmp {pidfile}; sleep 60
          after:
            dependsOn: [slow]
            command: touch {tmp_path}/after
    """)
    code, stdout, stderr = _signal_once_started(config, base_env, pidfile, signum, "run", "after")
    assert code == 130, stdout + stderr
    assert not _alive(int(pidfile.read_text()))
    assert not (tmp_path / "after").exists()
    assert "Traceback" not in stderr


def _signal_once_started(config: Path, env: dict[str, str], pidfile: Path, signum: int,
                         *args: str) -> tuple[int, str, str]:
    """Run `automations -c CONFIG ARGS...`, send `signum` once a command has written its pid
    to `pidfile`, and return the exit code and what it printed."""
    process = subprocess.Popen([AUTOMATIONS, "-c", str(config), *args], cwd=config.parent, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(200):
        if pidfile.exists():
            break
        time.sleep(0.05)
    assert pidfile.exists(), "the command never started"
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=30)
    return process.returncode, stdout, stderr


def _alive(pid: int) -> bool:
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        time.sleep(0.1)
    return True


def test_tasks_still_waiting_when_the_run_is_stopped_are_reported_cancelled(write_config, base_env, tmp_path):
    # Cancelled, not skipped: they did not run because of the signal, not because of a
    # dependency's failure, and a rerun should run them.
    pidfile = tmp_path / "pid"
    config = write_config(f"""
        tasks:
          slow:
            command: echo $$ > {pidfile}.tmp; mv {pidfile}.tmp {pidfile}; sleep 60
          after:
            dependsOn: [slow]
            command: "true"
          last:
            dependsOn: [after]
            command: "true"
    """)

    code, stdout, stderr = _signal_once_started(config, base_env, pidfile, signal.SIGTERM,
                                                "--output", "json", "run", "last")

    assert code == 130, stdout + stderr
    events = [json.loads(line) for line in stdout.splitlines()]
    reported = {e["task"]: e["status"] for e in events if e["event"] == "task"}
    assert reported["after"] == reported["last"] == "cancelled", reported
    summary = [e["tasks"] for e in events if e["event"] == "summary"]
    assert summary and summary[0]["after"] == summary[0]["last"] == "cancelled", summary
    status = run_cli("-c", str(config), "--output", "json", "status", cwd=tmp_path, env=base_env)
    history = {e["task"]: e["last_run"]["status"] for e in map(json.loads, status.stdout.splitlines())}
    assert history["after"] == history["last"] == "cancelled", history


def test_a_signal_at_any_moment_stops_the_run_without_hanging(write_config, base_env, tmp_path):
    # Busy tasks (output, finishing steps, new tasks starting) so the signal lands at many
    # different points of the scheduling loop, not only while it sleeps.
    import random

    steps = "\n".join(f"              - run: echo step {n}; sleep 0.0{n}" for n in range(1, 8))
    config = write_config("tasks:\n" + "".join(
        f"  t{i}:\n    dependsOn: [{'t' + str(i - 2) if i >= 2 else ''}]\n    steps:\n{steps}\n" for i in range(8)))
    rng = random.Random(7)
    for _ in range(8):
        process = subprocess.Popen([AUTOMATIONS, "-c", str(config), "run", *[f"t{i}" for i in range(8)]],
                                   cwd=tmp_path, env=base_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # The signal is meant for the run, not for the interpreter's start-up (before `main()`
        # handles signals, dying of SIGINT is the right end): wait for its first step's child.
        _wait_for_a_child(process.pid)
        time.sleep(rng.uniform(0.0, 1.2))
        process.send_signal(rng.choice([signal.SIGINT, signal.SIGTERM]))
        assert process.wait(timeout=30) in (0, 130)


def _wait_for_a_child(pid: int, timeout: float = 60.0) -> None:
    # Steps start their children from worker threads: each thread lists its own.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not os.path.exists(f"/proc/{pid}"):
            return  # already gone: the assertion on its exit status says how
        for thread in glob.glob(f"/proc/{pid}/task/*/children"):
            with contextlib.suppress(OSError), open(thread) as children:
                if children.read().strip():
                    return
        time.sleep(0.01)
    raise AssertionError(f"the run started no step within {timeout} s")
