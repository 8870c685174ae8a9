"""`credentials: process` and `automations aws credential-process`: AWS SDKs refresh the
credentials themselves, through a cache, for as long as the environment lives."""
from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conftest import run_cli
from jwts import make_token
from proxy import FaultProxy

ROLE = "arn:aws:iam::111122223333:role/dev-role"
ASSUME = "AssumeRoleWithWebIdentity"

CONFIG = """
tasks:
  login:
    steps:
      - uses: aws-login
        id: aws
        retry: {attempts: 4, initialDelay: 0.01, maxDelay: 0.05}
        with:
          roleArn: %s
          token: {file: token}
          profile: refreshing
          region: eu-west-1
          credentials: process
          minRemaining: 600
""" % ROLE

BOTO3_CALLER = """
import boto3, json
session = boto3.Session(profile_name="refreshing")
identity = session.client("sts").get_caller_identity()
credentials = session.get_credentials().get_frozen_credentials()
print(json.dumps({"arn": identity["Arn"], "key": credentials.access_key}))
"""


@pytest.fixture
def sts(aws_env: dict[str, str], moto_endpoint: str):
    with FaultProxy(moto_endpoint) as proxy:
        aws_env["AWS_ENDPOINT_URL"] = proxy.url
        yield proxy


@pytest.fixture
def config(write_config, tmp_path: Path) -> Path:
    (tmp_path / "token").write_text(make_token())
    return write_config(CONFIG)


def credential_process(config: Path, env: dict[str, str], *args: str):
    return run_cli("-c", str(config), "aws", "credential-process", "--task", "login", *args, env=env)


def cache_files(env: dict[str, str]) -> list[Path]:
    return sorted((Path(env["XDG_CACHE_HOME"]) / "automations").glob("aws-credentials-*.json"))


def config_line(env: dict[str, str]) -> str:
    import configparser

    parser = configparser.RawConfigParser()
    parser.read(env["AWS_CONFIG_FILE"])
    return parser["profile refreshing"]["credential_process"]


def test_the_step_writes_a_credential_process_line_with_the_absolute_config_path(config, sts, aws_env):
    result = run_cli("-c", str(config), "run", "login", env=aws_env)

    assert result.code == 0, result.output
    argv = shlex.split(config_line(aws_env))
    assert Path(argv[0]).is_absolute()
    assert argv[1:] == ["-c", str(config), "aws", "credential-process", "--task", "login", "--step", "aws"]
    credentials = Path(aws_env["AWS_SHARED_CREDENTIALS_FILE"])
    assert not credentials.exists() or "refreshing" not in credentials.read_text()


def test_a_boto3_session_on_the_profile_gets_working_credentials(config, sts, aws_env):
    run_cli("-c", str(config), "run", "login", env=aws_env)

    proc = subprocess.run([sys.executable, "-c", BOTO3_CALLER], env=aws_env, capture_output=True, text=True, timeout=60)

    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    assert seen["arn"].startswith("arn:aws:sts::111122223333:assumed-role/dev-role/")
    cached = json.loads(cache_files(aws_env)[0].read_text())
    assert seen["key"] == cached["AccessKeyId"]
    assert sts.count(ASSUME) == 1  # the step primed the cache; the SDK's call used it


def test_the_aws_cli_uses_the_credential_process_profile(config, sts, aws_env):
    run_cli("-c", str(config), "run", "login", env=aws_env)

    proc = subprocess.run([str(Path(sys.executable).parent / "aws"), "sts", "get-caller-identity",
                           "--profile", "refreshing"], env=aws_env, capture_output=True, text=True, timeout=60)

    assert proc.returncode == 0, proc.stderr
    assert "assumed-role/dev-role/" in proc.stdout


def test_prints_the_credential_process_json(config, sts, aws_env):
    result = credential_process(config, aws_env)

    assert result.code == 0, result.stderr
    document = json.loads(result.stdout)
    assert set(document) == {"Version", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}
    assert document["Version"] == 1
    expiration = datetime.fromisoformat(document["Expiration"].replace("Z", "+00:00"))
    assert 3000 < (expiration - datetime.now(timezone.utc)).total_seconds() <= 3600
    assert result.stderr == ""


def test_answers_from_a_private_cache_while_the_credentials_stay_valid(config, sts, aws_env):
    first = credential_process(config, aws_env)

    second = credential_process(config, aws_env)

    assert second.stdout == first.stdout
    assert sts.count(ASSUME) == 1
    [cache] = cache_files(aws_env)
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o600


def test_assumes_the_role_again_when_the_cache_is_within_min_remaining(config, sts, aws_env):
    first = json.loads(credential_process(config, aws_env).stdout)
    [cache] = cache_files(aws_env)
    entry = json.loads(cache.read_text())
    soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 300))  # < minRemaining (600 s)
    cache.write_text(json.dumps({**entry, "Expiration": soon}))

    refreshed = json.loads(credential_process(config, aws_env).stdout)

    assert sts.count(ASSUME) == 2
    assert refreshed["AccessKeyId"] != first["AccessKeyId"]
    assert refreshed["Expiration"] > soon


def test_a_damaged_cache_is_replaced(config, sts, aws_env):
    credential_process(config, aws_env)
    [cache] = cache_files(aws_env)
    cache.write_text("{not json")

    result = credential_process(config, aws_env)

    assert result.code == 0, result.stderr
    assert sts.count(ASSUME) == 2
    json.loads(cache.read_text())


def test_retries_transient_errors_like_the_step(config, sts, aws_env):
    sts.fail(action=ASSUME, times=2, code="IDPCommunicationError")

    result = credential_process(config, aws_env)

    assert result.code == 0, result.stderr
    assert sts.count(ASSUME) == 3
    json.loads(result.stdout)


def test_errors_go_to_stderr_without_secrets_and_exit_non_zero(config, sts, aws_env, tmp_path):
    token = make_token()
    (tmp_path / "token").write_text(token)
    sts.fail(action=ASSUME, times=1, status=403, code="AccessDenied")

    result = credential_process(config, aws_env, "-vv")

    assert result.code == 1
    assert result.stdout == ""
    assert "AccessDenied" in result.stderr
    assert token not in result.stderr and token.split(".")[1] not in result.stderr
    assert sts.count(ASSUME) == 1


def test_an_expired_token_fails_without_calling_sts(config, sts, aws_env, tmp_path):
    (tmp_path / "token").write_text(make_token(exp=int(time.time()) - 60, iat=int(time.time()) - 3660, nbf=None))

    result = credential_process(config, aws_env)

    assert result.code == 1
    assert "expired at" in result.stderr
    assert sts.count() == 0


def test_an_unknown_task_is_a_usage_error(config, sts, aws_env):
    result = run_cli("-c", str(config), "aws", "credential-process", "--task", "nope", env=aws_env)

    assert result.code == 2
    assert "unknown task 'nope'" in result.stderr


def test_a_rerun_of_the_step_reuses_the_primed_cache(config, sts, aws_env):
    run_cli("-c", str(config), "run", "login", env=aws_env)

    result = run_cli("-c", str(config), "run", "login", env=aws_env)

    assert "skipped" in result.stdout
    assert sts.count(ASSUME) == 1


def test_switching_back_to_file_credentials_removes_the_credential_process(config, sts, aws_env):
    run_cli("-c", str(config), "run", "login", env=aws_env)
    config.write_text(config.read_text().replace("credentials: process", "credentials: file"))

    result = run_cli("-c", str(config), "run", "login", env=aws_env)

    assert result.code == 0, result.output
    assert "credential_process" not in Path(aws_env["AWS_CONFIG_FILE"]).read_text()
    assert "[refreshing]" in Path(aws_env["AWS_SHARED_CREDENTIALS_FILE"]).read_text()
