"""`automations status` and `automations logs`: after an unattended start, what ran, how it
ended, what it printed, and how long the AWS credentials it wrote stay valid."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.cli import run_cli
from support.jwts import make_token


@pytest.fixture
def project(write_config):
    return write_config("""
        tasks:
          hello:
            command: echo hello from the task
          broken:
            command: echo about to fail; exit 3
          later:
            command: echo not run yet
        """)


def test_status_says_never_run_before_any_run(project: Path, base_env: dict[str, str]) -> None:
    result = run_cli("status", cwd=project.parent, env=base_env)

    assert result.code == 0
    assert [line.split()[:3] for line in result.stdout.splitlines()] == [
        ["hello", "never", "run"], ["broken", "never", "run"], ["later", "never", "run"]]


def test_status_shows_each_tasks_last_run_and_its_error(project: Path, base_env: dict[str, str]) -> None:
    run_cli("run", "hello", "broken", cwd=project.parent, env=base_env)

    result = run_cli("status", cwd=project.parent, env=base_env)

    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["hello", "ok"]
    assert lines[1].split()[:2] == ["broken", "failed"]
    assert "command failed (exit code 3)" in lines[2]
    assert lines[3].split()[:3] == ["later", "never", "run"]
    assert "ago" in lines[0] and "took" in lines[0]


def test_status_shows_only_the_last_run(project: Path, write_config, base_env: dict[str, str]) -> None:
    run_cli("run", "broken", cwd=project.parent, env=base_env)
    write_config(project.read_text().replace("exit 3", "exit 0"))
    run_cli("run", "broken", cwd=project.parent, env=base_env)

    result = run_cli("status", "--output", "json", cwd=project.parent, env=base_env)

    events = {e["task"]: e for e in map(json.loads, result.stdout.splitlines()) if e["event"] == "task_status"}
    assert events["broken"]["last_run"]["status"] == "ok"
    assert events["broken"]["last_run"]["error"] == ""
    assert events["later"]["last_run"] is None


def test_status_shows_when_the_credentials_aws_login_wrote_expire(
        write_config, aws_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "token").write_text(make_token())
    config = write_config("""
        tasks:
          login:
            steps:
              - uses: aws-login
                with:
                  roleArn: arn:aws:iam::111122223333:role/dev-role
                  token: {file: token}
                  profile: dev
                  durationSeconds: 7200
        """)
    assert run_cli("run", "login", cwd=config.parent, env=aws_env).code == 0

    text = run_cli("status", cwd=config.parent, env=aws_env).stdout
    events = [json.loads(line) for line in
              run_cli("status", "--output", "json", cwd=config.parent, env=aws_env).stdout.splitlines()]

    assert "profile dev: valid for 1h5" in text  # 7200 s, less the seconds the test took
    credentials = [e for e in events if e["event"] == "credentials"]
    assert [(c["profile"], c["task"], c["expired"]) for c in credentials] == [("dev", "login", False)]


def test_status_flags_expired_credentials(project: Path, base_env: dict[str, str]) -> None:
    from automations.engine.report.history import RunHistory

    RunHistory(project, base_env).append({
        "task": "hello", "run": "r1", "start": "2020-01-01T00:00:00Z", "end": "2020-01-01T00:00:01Z",
        "status": "ok", "duration": 1.0, "error": "", "steps": [],
        "credentials": [{"profile": "dev", "expiration": "2020-01-01T01:00:00Z", "step": "aws-login"}]})

    result = run_cli("status", cwd=project.parent, env=base_env)

    assert "profile dev: EXPIRED" in result.stdout


def test_logs_prints_the_last_run_output_of_a_task(project: Path, base_env: dict[str, str]) -> None:
    run_cli("run", "hello", "broken", cwd=project.parent, env=base_env)

    result = run_cli("logs", "broken", cwd=project.parent, env=base_env)

    assert result.code == 0
    assert "about to fail" in result.stdout
    assert "command failed (exit code 3)" in result.stdout
    assert "hello from the task" not in result.stdout


def test_logs_without_a_task_prints_every_task_of_the_most_recent_run(
        project: Path, base_env: dict[str, str]) -> None:
    run_cli("run", "broken", cwd=project.parent, env=base_env)
    run_cli("run", "hello", "later", cwd=project.parent, env=base_env)

    result = run_cli("logs", cwd=project.parent, env=base_env)

    assert "hello from the task" in result.stdout
    assert "not run yet" in result.stdout
    assert "about to fail" not in result.stdout


def test_logs_of_an_unknown_task_is_a_usage_error(project: Path, base_env: dict[str, str]) -> None:
    result = run_cli("logs", "nope", cwd=project.parent, env=base_env)

    assert result.code == 2
    assert "unknown task 'nope'" in result.stderr


def test_logs_of_a_task_before_any_run_says_so_and_exits_0(project: Path, base_env: dict[str, str]) -> None:
    result = run_cli("logs", "hello", cwd=project.parent, env=base_env)

    assert result.code == 0
    assert result.stdout == ""
    assert f"warning: no run of 'hello' recorded yet for {project}" in result.stderr


def test_logs_before_any_run_says_so_and_exits_0(project: Path, base_env: dict[str, str]) -> None:
    result = run_cli("logs", cwd=project.parent, env=base_env)

    assert result.code == 0
    assert result.stdout == ""
    assert f"warning: no runs recorded yet for {project}" in result.stderr


def test_status_says_a_credential_process_profile_renews_itself(
        write_config, aws_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "token").write_text(make_token())
    config = write_config("""
        tasks:
          login:
            steps:
              - uses: aws-login
                with:
                  roleArn: arn:aws:iam::111122223333:role/dev-role
                  token: {file: token}
                  profile: dev
                  credentials: process
        """)
    assert run_cli("run", "login", cwd=config.parent, env=aws_env).code == 0

    text = run_cli("status", cwd=config.parent, env=aws_env).stdout

    assert "profile dev: refreshed on demand by credential_process (last issued until 20" in text
