"""The in-process CLI runs the suite relies on (tests/support/cli.py) start as a fresh process
would and leave nothing behind for the next test."""
from __future__ import annotations

import os
import signal
from pathlib import Path

from support.cli import run_cli

from automations import childprocess
from automations.redaction import REDACTOR


def test_a_run_starts_and_ends_with_an_empty_redactor(tmp_path: Path, base_env: dict[str, str]) -> None:
    REDACTOR.add("value-of-an-earlier-run")
    (tmp_path / "automations.yaml").write_text("tasks:\n  a: {command: echo value-of-an-earlier-run}\n")

    result = run_cli("run", "a", cwd=tmp_path, env=base_env)

    assert "a | value-of-an-earlier-run" in result.stdout, result.output
    assert REDACTOR.redact("value-of-an-earlier-run") == "value-of-an-earlier-run"


def test_a_run_puts_back_signal_handlers_environment_and_working_directory(
        tmp_path: Path, base_env: dict[str, str]) -> None:
    handler = signal.getsignal(signal.SIGTERM)
    environ, cwd = dict(os.environ), os.getcwd()
    (tmp_path / "automations.yaml").write_text("tasks:\n  a: {command: echo a}\n")

    assert run_cli("run", "a", cwd=tmp_path, env={**base_env, "ONLY_IN_THE_RUN": "1"}).code == 0

    assert signal.getsignal(signal.SIGTERM) is handler
    assert dict(os.environ) == environ
    assert os.getcwd() == cwd


def test_a_run_sees_only_the_environment_it_is_given(tmp_path: Path, base_env: dict[str, str]) -> None:
    os.environ["AUTOMATIONS_TEST_OUTSIDE"] = "outside"
    (tmp_path / "automations.yaml").write_text(
        "tasks:\n  a: {command: 'echo [${AUTOMATIONS_TEST_OUTSIDE:-unset}]'}\n")

    result = run_cli("run", "a", cwd=tmp_path, env=base_env)

    assert "[unset]" in result.stdout, result.output


def test_a_run_does_not_end_what_an_earlier_run_left_running(tmp_path: Path, base_env: dict[str, str]) -> None:
    # As a test that failed before its run ended its leftovers: a command of this process still runs.
    earlier = childprocess.ChildProcess(["sleep", "30"], cwd=tmp_path, env=base_env)
    (tmp_path / "automations.yaml").write_text("tasks:\n  a: {command: '(sleep 30 >/dev/null 2>&1 &)'}\n")
    try:
        result = run_cli("-v", "run", "a", cwd=tmp_path, env=base_env)

        assert "ended 1 process that steps left running" in result.stderr + result.stdout, result.output
        assert earlier.process.poll() is None
    finally:
        earlier.process.kill()
        earlier.process.communicate()  # and its pipes closed
