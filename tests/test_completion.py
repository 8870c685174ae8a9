"""Shell completion: `automations completion bash|zsh` prints a script that completes
commands, options, option values and the task ids of the nearest automations.yaml. The bash
script is sourced in a real bash and its function called as bash's `complete` would."""
from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import run_cli


@pytest.fixture
def project(write_config):
    return write_config("""
        tasks:
          aws-login:
            command: echo login
          secrets:
            command: echo secrets
          setup-db:
            command: echo db
        """)


def complete(line: str, cwd: Path, env: dict[str, str]) -> list[str]:
    """What bash would offer after typing `line` (a trailing space starts a new word)."""
    script = run_cli("completion", "bash", env=env).stdout
    words = shlex.split(line) + ([""] if line.endswith(" ") else [])
    array = " ".join(shlex.quote(w) for w in words)
    program = (f"{script}\nCOMP_WORDS=({array}); COMP_CWORD={len(words) - 1}; _automations; "
               'printf "%s\\n" "${COMPREPLY[@]}"')
    result = subprocess.run(["bash", "--norc", "--noprofile", "-c", program], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return sorted(w for w in result.stdout.splitlines() if w)


def test_the_bash_script_is_valid_bash(base_env: dict[str, str], tmp_path: Path) -> None:
    script = tmp_path / "automations.bash"
    script.write_text(run_cli("completion", "bash", env=base_env).stdout)

    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0


def test_commands_complete(project: Path, base_env: dict[str, str]) -> None:
    assert complete("automations st", project.parent, base_env) == ["status", "steps"]
    assert "demo" in complete("automations ", project.parent, base_env)


def test_a_commands_options_complete(project: Path, base_env: dict[str, str]) -> None:
    assert complete("automations run --dr", project.parent, base_env) == ["--dry-run"]
    assert complete("automations init --r", project.parent, base_env) == ["--region", "--role-arn"]


def test_global_options_complete_before_a_command(project: Path, base_env: dict[str, str]) -> None:
    assert complete("automations --ver", project.parent, base_env) == ["--verbose", "--version"]


def test_task_ids_complete_after_run_and_logs(project: Path, base_env: dict[str, str]) -> None:
    assert complete("automations run ", project.parent, base_env) == ["aws-login", "secrets", "setup-db"]
    assert complete("automations run aws-login s", project.parent, base_env) == ["secrets", "setup-db"]
    assert complete("automations -v logs se", project.parent, base_env) == ["secrets", "setup-db"]


def test_task_ids_come_from_the_config_given_with_c(project: Path, write_config, base_env: dict[str, str],
                                                    tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    write_config("tasks:\n  deploy:\n    command: echo\n", name="other/automations.yaml")

    assert complete("automations -c other/automations.yaml run ", project.parent, base_env) == ["deploy"]
    assert complete("automations token --task a", project.parent, base_env) == ["aws-login"]


def test_option_values_complete(project: Path, base_env: dict[str, str]) -> None:
    assert complete("automations run --trigger post", project.parent, base_env) == [
        "postDevcontainerStart", "postEnvironmentStart"]
    assert complete("automations status --output j", project.parent, base_env) == ["json"]
    assert complete("automations completion ", project.parent, base_env) == ["bash", "zsh"]
    assert complete("automations -c autom", project.parent, base_env) == ["automations.yaml"]


def test_aws_subcommands_and_their_options_complete(project: Path, base_env: dict[str, str]) -> None:
    assert complete("automations aws ", project.parent, base_env) == [
        "check-trust", "credential-process", "setup", "trust-policy"]
    assert complete("automations aws setup --acc", project.parent, base_env) == ["--account"]


def test_no_config_completes_no_tasks_and_prints_no_error(base_env: dict[str, str], tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()

    assert complete("automations run ", empty, base_env) == []
    assert run_cli("completion", "--list-tasks", cwd=empty, env=base_env).output == ""


def test_a_half_written_config_still_completes_its_task_ids(write_config, base_env: dict[str, str]) -> None:
    config = write_config("tasks:\n  half:\n    steps: not a list\n")

    assert complete("automations run ", config.parent, base_env) == ["half"]


def test_completion_needs_a_shell(base_env: dict[str, str]) -> None:
    result = run_cli("completion", env=base_env)
    assert result.code == 2
    assert "bash|zsh" in result.stderr


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_the_zsh_script_is_valid_zsh(base_env: dict[str, str], tmp_path: Path) -> None:
    script = tmp_path / "_automations"
    script.write_text(run_cli("completion", "zsh", env=base_env).stdout)

    assert subprocess.run(["zsh", "-n", str(script)]).returncode == 0


def zsh_candidates(words: list[str], cwd: Path, env: dict[str, str]) -> list[str]:
    """What the zsh function hands to `compadd` (zsh itself then filters by the prefix)."""
    script = run_cli("completion", "zsh", env=env).stdout
    array = " ".join(shlex.quote(w) for w in words)
    program = ("compdef() { : }; compadd() { shift; print -l -- \"$@\" }; _files() { print _files \"$@\" }\n"
               f"{script}\nwords=({array}); CURRENT={len(words)}; _automations")
    result = subprocess.run(["zsh", "-f", "-c", program], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return sorted(result.stdout.split())


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_completes_commands_options_and_task_ids(project: Path, base_env: dict[str, str]) -> None:
    assert {"run", "status", "logs", "demo"} <= set(zsh_candidates(["automations", ""], project.parent, base_env))
    assert zsh_candidates(["automations", "run", ""], project.parent, base_env) == ["aws-login", "secrets", "setup-db"]
    assert "--dry-run" in zsh_candidates(["automations", "run", "--"], project.parent, base_env)
    assert "--secret" in zsh_candidates(["automations", "aws", "setup", "--sec"], project.parent, base_env)
    assert zsh_candidates(["automations", "-c", ""], project.parent, base_env) == ["_files"]
