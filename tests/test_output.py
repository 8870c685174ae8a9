"""What people and machines see: colour only on a terminal and never with NO_COLOR."""
from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path

import pytest
from support.cli import AUTOMATIONS, run_cli

ROOT = Path(__file__).resolve().parent.parent


def run_on_a_terminal(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    leader, follower = pty.openpty()
    process = subprocess.Popen([AUTOMATIONS, *args], cwd=cwd, env=env, stdout=follower, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # EIO: the other side closed
            break
        if not data:
            break
        chunks.append(data)
    process.wait(timeout=60)
    os.close(leader)
    return b"".join(chunks).decode()


def test_statuses_are_coloured_on_a_terminal(write_config, base_env, tmp_path):
    write_config("tasks: {hello: {command: echo hi}}\n")
    env = {k: v for k, v in base_env.items() if k != "NO_COLOR"}
    assert "\033[32mok\033[0m" in run_on_a_terminal(["run", "hello"], tmp_path, env)


def test_no_color_turns_colour_off_even_on_a_terminal(write_config, base_env, tmp_path):
    write_config("tasks: {hello: {command: echo hi}}\n")
    output = run_on_a_terminal(["run", "hello"], tmp_path, {**base_env, "NO_COLOR": "1"})
    assert "hello | run: echo hi: ok" in output and "\033[" not in output


def test_the_no_color_flag_turns_colour_off(write_config, base_env, tmp_path):
    write_config("tasks: {hello: {command: echo hi}}\n")
    env = {k: v for k, v in base_env.items() if k != "NO_COLOR"}
    output = run_on_a_terminal(["--no-color", "run", "hello"], tmp_path, env)
    assert "ok" in output and "\033[" not in output


def test_piped_output_has_no_colour(write_config, base_env, tmp_path):
    write_config("tasks: {hello: {command: echo hi}}\n")
    env = {k: v for k, v in base_env.items() if k != "NO_COLOR"}
    result = run_cli("run", "hello", cwd=tmp_path, env=env)
    assert result.code == 0 and "\033[" not in result.output


def test_the_repositorys_own_automations_yaml_validates(base_env):
    result = run_cli("validate", cwd=ROOT, env=base_env)
    assert result.code == 0, result.output


def test_counts_are_pluralised_by_their_number() -> None:
    from automations.wording import plural

    assert [plural(n, "task") for n in (0, 1, 2)] == ["0 tasks", "1 task", "2 tasks"]


def test_a_run_of_one_task_says_1_task(capsys: pytest.CaptureFixture[str]) -> None:
    from automations.engine.report.text import TextReporter

    TextReporter().summary({"hello": "ok"}, 0.1)

    assert capsys.readouterr().out.startswith("1 task: 1 ok")


def test_a_steps_info_is_shown_only_from_v_and_its_debug_only_from_vv(capsys: pytest.CaptureFixture[str]) -> None:
    # What the README promises plugin authors about ctx.log.
    from automations.engine.report.base import DEBUG, NORMAL, QUIET, VERBOSE, TaskLog
    from automations.engine.report.text import TextReporter

    shown = {}
    for name, verbosity in (("-q", QUIET), ("default", NORMAL), ("-v", VERBOSE), ("-vv", DEBUG)):
        log = TaskLog(TextReporter(verbosity=verbosity), "t")
        log.info("an info")
        log.debug("a debug")
        log.warning("a warning")
        captured = capsys.readouterr()
        shown[name] = [m for m in ("an info", "a debug", "a warning") if m in captured.out + captured.err]

    assert shown == {"-q": ["a warning"], "default": ["a warning"], "-v": ["an info", "a warning"],
                     "-vv": ["an info", "a debug", "a warning"]}
