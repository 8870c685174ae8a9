"""The commands that act for a task's aws-login step without running it (`token --task`,
`aws check-trust --task`, `aws trust-policy --from-token`) see the step as `run` does: the
task's `env:` included, `${...}` expanded the same way, problems at the same place
(automations.engine.scope). In process, through `main(argv)`."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.jwts import make_token

from automations.cli.main import main

ACCOUNT = "123456789012"


@pytest.fixture
def task_env_login(write_config, tmp_path: Path, in_process_env, monkeypatch: pytest.MonkeyPatch):
    """A task whose own `env:` says where the token file is; the process environment does not."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TOKEN_PATH", raising=False)
    token = make_token()
    (tmp_path / "gitpod.jwt").write_text(token)
    write_config("""
        tasks:
          login:
            env:
              TOKEN_PATH: ${PWD:-.}/gitpod.jwt
            steps:
              - uses: aws-login
                with:
                  roleArn: arn:aws:iam::123456789012:role/gitpod-dev
                  token: {file: "${TOKEN_PATH}"}
    """)
    monkeypatch.setenv("PWD", str(tmp_path))
    return token


def test_token_for_a_task_reads_the_path_the_tasks_env_sets(task_env_login, capsys) -> None:
    code = main(["token", "--task", "login"])

    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out == task_env_login + "\n"


def test_trust_policy_from_the_token_of_a_task_whose_env_sets_its_path(task_env_login, capsys) -> None:
    code = main(["aws", "trust-policy", "--account", ACCOUNT, "--from-token", "--task", "login"])

    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert json.loads(captured.out)["Statement"][0]["Action"] == "sts:AssumeRoleWithWebIdentity"


def test_check_trust_of_a_task_whose_env_sets_the_token_path(task_env_login, tmp_path: Path, capsys) -> None:
    assert main(["aws", "trust-policy", "--account", ACCOUNT, "--from-token", "--task", "login"]) == 0
    (tmp_path / "trust.json").write_text(capsys.readouterr().out)

    code = main(["aws", "check-trust", "--policy", "trust.json", "--task", "login"])

    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "allowed: Statement 1 admits this token" in captured.out


def test_a_variable_set_nowhere_is_reported_at_the_option_like_run_does(write_config, tmp_path: Path,
                                                                         in_process_env, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    write_config("""
        tasks:
          login:
            steps:
              - uses: aws-login
                with:
                  token: {file: "${NOT_SET_ANYWHERE}"}
    """)

    token_code = main(["token", "--task", "login"])
    token_err = capsys.readouterr().err
    main(["run", "login"])
    run_output = "".join(capsys.readouterr())

    assert token_code == 2
    assert token_err.startswith("automations.yaml:6:")
    assert token_err.strip() in run_output


def test_a_task_env_that_cannot_be_expanded_is_reported_at_the_task(write_config, tmp_path: Path,
                                                                    in_process_env, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    write_config("""
        tasks:
          login:
            env: {TOKEN_PATH: "${NOT_SET_ANYWHERE}"}
            steps:
              - uses: aws-login
                with: {token: {file: "${TOKEN_PATH}"}}
    """)

    code = main(["token", "--task", "login"])

    err = capsys.readouterr().err
    assert code == 2
    assert "automations.yaml:2:3: env: ${NOT_SET_ANYWHERE} is not set" in err
