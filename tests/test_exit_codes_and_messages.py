"""The CLI says the truth about what happened: its exit code and its messages (issue 11).

Most tests call `main(argv)` in process; the closed-pipe test needs a real process and a real
pipe."""
from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from support.cli import AUTOMATIONS, Result

from automations.errors import EXIT_BROKEN_PIPE

Cli = Callable[..., Result]


# -- a closed stdout --------------------------------------------------------------------------

def run_into_a_closed_pipe(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """The reader is gone before the first write, as after `| head -1` has its line."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([AUTOMATIONS, *argv], stdout=write_end, stderr=subprocess.PIPE, text=True,
                              cwd=cwd, env=env, timeout=60)
    finally:
        os.close(write_end)


@pytest.mark.parametrize("command", [["steps"], ["schema"], ["completion", "bash"], ["list"]])
@pytest.mark.parametrize("buffered", [True, False], ids=["buffered", "unbuffered"])
def test_a_closed_stdout_ends_quietly_with_the_sigpipe_status(command: list[str], buffered: bool,
                                                               base_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "automations.yaml").write_text("tasks: {hello: {command: echo hello}}\n")
    base_env.pop("PYTHONUNBUFFERED", None)
    if not buffered:
        base_env["PYTHONUNBUFFERED"] = "1"
    proc = run_into_a_closed_pipe(command, base_env, tmp_path)

    assert proc.stderr == ""
    assert proc.returncode == EXIT_BROKEN_PIPE


def test_help_into_a_closed_pipe_prints_no_error(base_env: dict[str, str], tmp_path: Path) -> None:
    base_env.pop("PYTHONUNBUFFERED", None)
    proc = run_into_a_closed_pipe(["--help"], base_env, tmp_path)

    assert proc.stderr == ""
    assert proc.returncode == EXIT_BROKEN_PIPE


def test_steps_piped_into_head_prints_its_first_line_and_no_error(base_env: dict[str, str], tmp_path: Path) -> None:
    proc = subprocess.run(f"'{AUTOMATIONS}' steps | head -1", shell=True, capture_output=True, text=True,
                          cwd=tmp_path, env=base_env, timeout=60)

    assert proc.returncode == 0
    assert proc.stdout.count("\n") == 1
    assert proc.stderr == ""


# -- dry runs -----------------------------------------------------------------------------------

def test_a_dry_run_that_cannot_plan_a_step_exits_1(cli: Cli, write_config: Callable[..., Path]) -> None:
    write_config("""
        tasks:
          login:
            steps:
              - uses: aws-login
                with: {roleArn: "${ROLE_FOR_THIS_TEST}"}
    """)

    result = cli("run", "login", "--dry-run")

    assert result.code == 1
    assert "cannot plan" in result.stdout and "ROLE_FOR_THIS_TEST" in result.stdout
    assert "error: cannot plan every step of login" in result.stderr


def test_a_dry_run_that_plans_every_step_exits_0(cli: Cli, write_config: Callable[..., Path]) -> None:
    write_config("""
        tasks:
          hello: {command: echo hello}
    """)

    result = cli("run", "hello", "--dry-run")

    assert result.code == 0, result.output
    assert result.stderr == ""


# -- triggers -----------------------------------------------------------------------------------

def test_a_trigger_no_task_names_exits_0_and_says_nothing_ran_and_which_triggers_exist(
        cli: Cli, write_config: Callable[..., Path]) -> None:
    write_config("""
        tasks:
          hello: {command: echo hello, triggeredBy: [postDevcontainerStart, manual]}
    """)

    result = cli("run", "--trigger", "postEnvironmentStart")

    assert result.code == 0
    assert result.stdout == ""
    assert ("warning: nothing to run: no task in automations.yaml is triggered by postEnvironmentStart "
            "(its tasks use: manual, postDevcontainerStart)") in result.stderr


def test_the_nothing_to_run_warning_shows_even_with_quiet(cli: Cli, write_config: Callable[..., Path]) -> None:
    write_config("tasks: {hello: {command: echo hello}}\n")

    result = cli("-q", "run", "--trigger", "prebuild")

    assert result.code == 0
    assert "nothing to run" in result.stderr


def test_the_nothing_to_run_warning_is_a_json_event(cli: Cli, write_config: Callable[..., Path]) -> None:
    write_config("tasks: {hello: {command: echo hello}}\n")

    result = cli("--output", "json", "run", "--trigger", "prebuild")

    (event,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert event["level"] == "warning" and "nothing to run" in event["message"]


# -- `steps` shows limits -------------------------------------------------------------------------

def test_steps_shows_each_options_minimum_maximum_and_pattern(cli: Cli) -> None:
    result = cli("steps")

    assert result.code == 0, result.output
    assert "    durationSeconds: integer (default 3600; at least 900; at most 43200)" in result.stdout
    assert "    profile: string (default 'default'; matching [^\\s\\[\\]]{1,128})" in result.stdout
    assert "    shell: bash | sh (default 'bash')" in result.stdout


def test_steps_json_gives_limits_and_choices_as_fields(cli: Cli) -> None:
    result = cli("--output", "json", "steps")

    events = {e["name"]: e for e in map(json.loads, result.stdout.splitlines())}
    login = {o["key"]: o for o in events["aws-login"]["options"]}
    assert (login["durationSeconds"]["minimum"], login["durationSeconds"]["maximum"]) == (900, 43200)
    assert login["credentials"]["choices"] == ["file", "process"]
    assert "minimum" not in login["audience"] and "choices" not in login["audience"]


# -- validate --output json ---------------------------------------------------------------------

def test_validate_json_prints_one_event_per_problem_with_its_position(cli: Cli, write_config: Callable[..., Path]) -> None:
    write_config("""
        tasks:
          a:
            command: echo a
            dependsOn: [nowhere]
          b:
            steps:
              - uses: run
                with: {command: echo b, shell: zsh}
    """)

    result = cli("--output", "json", "validate")

    assert result.code == 2
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(e["event"], e["file"], e["line"], e["column"]) for e in events] == [
        ("error", "automations.yaml", 4, 17), ("error", "automations.yaml", 8, 40)]
    assert events[0]["message"] == "task 'a' depends on unknown task 'nowhere'"
    assert events[1]["message"].startswith("run: with.shell: expected one of bash | sh")
    assert all("\n" not in e["message"] for e in events)


def test_validate_text_prints_a_line_per_problem(cli: Cli, write_config: Callable[..., Path]) -> None:
    write_config("tasks: {a: {command: echo a, dependsOn: [x, y]}}\n")

    result = cli("validate")

    assert result.stderr.splitlines() == [
        "automations.yaml:1:42: task 'a' depends on unknown task 'x'",
        "automations.yaml:1:45: task 'a' depends on unknown task 'y'"]
