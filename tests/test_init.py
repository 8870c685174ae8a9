"""`automations init`: a commented automations.yaml for the common case that validates (with
the loader and the schema) and runs, the start-hook lines to add, and no file ever
overwritten without --force."""
from __future__ import annotations

import json
import os
from pathlib import Path

import boto3
import jsonschema
import pytest
import yaml
from support.cli import BIN_DIR, run_cli
from support.jwts import make_token

from automations.engine.plugins import StepRegistry
from automations.engine.schema import build_schema

ROLE = "arn:aws:iam::123456789012:role/dev"


def schema_errors(path: Path) -> list[str]:
    registry = StepRegistry()
    schema = build_schema({name: registry.load(name) for name in registry.names()})
    return [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(yaml.safe_load(path.read_text()))]


@pytest.mark.parametrize("options", [
    [],
    ["--aws"],
    ["--role-arn", ROLE, "--region", "eu-west-1"],
    ["--aws", "--secret", "myapp/db-password", "--secret", "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf"],
], ids=["plain", "aws", "role-and-region", "secrets"])
def test_the_written_file_validates(options: list[str], tmp_path: Path, base_env: dict[str, str]) -> None:
    result = run_cli("init", *options, cwd=tmp_path, env=base_env)
    assert result.code == 0, result.output

    assert run_cli("validate", cwd=tmp_path, env=base_env).code == 0
    assert schema_errors(tmp_path / "automations.yaml") == []


def test_the_aws_case_logs_in_at_start_and_by_hand_and_secrets_depend_on_it(
        tmp_path: Path, base_env: dict[str, str]) -> None:
    run_cli("init", "--role-arn", ROLE, "--secret", "myapp/api-key", cwd=tmp_path, env=base_env)

    tasks = yaml.safe_load((tmp_path / "automations.yaml").read_text())["tasks"]
    assert tasks["aws-login"]["triggeredBy"] == ["postEnvironmentStart", "postDevcontainerStart", "manual"]
    assert tasks["aws-login"]["steps"][0]["with"]["roleArn"] == ROLE
    assert tasks["secrets"]["dependsOn"] == ["aws-login"]
    assert tasks["secrets"]["steps"][0]["with"]["secrets"] == [{"id": "myapp/api-key", "env": "API_KEY"}]


def test_the_file_is_commented(tmp_path: Path, base_env: dict[str, str]) -> None:
    run_cli("init", "--aws", cwd=tmp_path, env=base_env)

    text = (tmp_path / "automations.yaml").read_text()
    assert "# roleArn:" in text and "$AWS_ROLE_ARN" in text
    assert "# credentials: process" in text
    assert "# secrets:" in text


def test_secret_ids_become_variable_names(tmp_path: Path, base_env: dict[str, str]) -> None:
    run_cli("init", "--secret", "myapp/db-password", "--secret", "other/db-password", "--secret",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/api-key-AbCdEf", cwd=tmp_path, env=base_env)

    secrets = yaml.safe_load((tmp_path / "automations.yaml").read_text())["tasks"]["secrets"]["steps"][0]["with"]["secrets"]
    assert [s["env"] for s in secrets] == ["DB_PASSWORD", "DB_PASSWORD_2", "API_KEY"]


def test_it_prints_what_to_add_to_gitpod_and_devcontainer_start_hooks(tmp_path: Path, base_env: dict[str, str]) -> None:
    result = run_cli("init", "--aws", "--output", "json", cwd=tmp_path, env=base_env)

    event = json.loads(result.stdout)
    (task,) = yaml.safe_load(event["gitpod"])["tasks"].values()
    assert task["command"] == "automations run --trigger postEnvironmentStart"
    assert task["triggeredBy"] == ["postEnvironmentStart"]
    assert json.loads("{" + event["devcontainer"] + "}") == {
        "postStartCommand": "automations run --trigger postDevcontainerStart"}
    text = run_cli("init", "--aws", "--file", "other.yaml", cwd=tmp_path, env=base_env).stdout
    assert ".gitpod/automations.yaml" in text and "devcontainer.json" in text


def test_an_existing_file_is_never_overwritten_without_force(tmp_path: Path, base_env: dict[str, str]) -> None:
    (tmp_path / "automations.yaml").write_text("tasks: {mine: {command: echo keep}}\n")

    result = run_cli("init", "--aws", cwd=tmp_path, env=base_env)

    assert result.code == 2
    assert "already exists" in result.stderr and "--force" in result.stderr
    assert (tmp_path / "automations.yaml").read_text() == "tasks: {mine: {command: echo keep}}\n"


def test_force_overwrites(tmp_path: Path, base_env: dict[str, str]) -> None:
    (tmp_path / "automations.yaml").write_text("tasks: {mine: {command: echo keep}}\n")

    assert run_cli("init", "--aws", "--force", cwd=tmp_path, env=base_env).code == 0
    assert "aws-login:" in (tmp_path / "automations.yaml").read_text()


@pytest.mark.parametrize("options, message", [
    (["--role-arn", "arn:aws:iam::12:role/x"], "is not a role ARN"),
    (["--aws", "--region", "Europe"], "is not an AWS region"),
    (["--secret", " "], "--secret needs a secret name"),
])
def test_bad_arguments_are_refused_and_nothing_is_written(options: list[str], message: str, tmp_path: Path,
                                                          base_env: dict[str, str]) -> None:
    result = run_cli("init", *options, cwd=tmp_path, env=base_env)

    assert result.code == 2
    assert message in result.stderr
    assert not (tmp_path / "automations.yaml").exists()


def test_the_written_tasks_run_against_aws(tmp_path: Path, aws_env: dict[str, str], moto_endpoint: str) -> None:
    boto3.client("secretsmanager", endpoint_url=moto_endpoint, region_name="us-east-1", aws_access_key_id="x",
                 aws_secret_access_key="x").create_secret(Name="init-test/api-key", SecretString="k-123456")
    (tmp_path / "token").write_text(make_token())
    aws_env.update(AWS_WEB_IDENTITY_TOKEN_FILE=str(tmp_path / "token"),
                   PATH=f"{BIN_DIR}{os.pathsep}/usr/bin{os.pathsep}/bin")  # no gitpod/gp CLI: the token file
    run_cli("init", "--role-arn", ROLE, "--region", "us-east-1", "--secret", "init-test/api-key",
            cwd=tmp_path, env=aws_env)

    result = run_cli("run", "--trigger", "postEnvironmentStart", cwd=tmp_path, env=aws_env)

    assert result.code == 0, result.output
    assert (tmp_path / ".env.secrets").read_text() == "API_KEY='k-123456'\n"


def test_a_devcontainer_user_following_the_printed_line_runs_the_tasks(cli) -> None:
    printed = cli("init", "--output", "json")
    hook = json.loads("{" + json.loads(printed.stdout)["devcontainer"] + "}")["postStartCommand"]
    program, *argv = hook.split()

    assert program == "automations"
    result = cli(*argv)
    assert result.code == 0, result.output
    assert "setup ok" in result.stdout
