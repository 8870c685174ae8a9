"""`credentials: process` and `automations aws credential-process`: AWS SDKs refresh the
credentials themselves, through a cache, for as long as the environment lives."""
from __future__ import annotations

import configparser
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
from support.cli import process_state, run_cli
from support.jwts import make_token

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
def config(write_config, tmp_path: Path) -> Path:
    (tmp_path / "token").write_text(make_token())
    return write_config(CONFIG)


def credential_process(config: Path, env: dict[str, str], *args: str):
    return run_cli("-c", str(config), "aws", "credential-process", "--task", "login", *args, env=env)


@pytest.fixture
def logged_in(config, sts, aws_env) -> Path:
    """The login made (one AssumeRoleWithWebIdentity); the cache it primed."""
    result = run_cli("-c", str(config), "run", "login", env=aws_env)
    assert result.code == 0, result.output
    [cache] = cache_files(aws_env)
    return cache


def expire_soon(cache: Path) -> str:
    """Make the cached credentials expire within minRemaining (600 s): the next call refreshes."""
    entry = json.loads(cache.read_text())
    soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 300))
    cache.write_text(json.dumps({**entry, "Expiration": soon}))
    return soon


def cache_files(env: dict[str, str]) -> list[Path]:
    return sorted((Path(env["XDG_CACHE_HOME"]) / "automations").glob("aws-credentials-*.json"))


def config_line(env: dict[str, str]) -> str:
    import configparser

    parser = configparser.RawConfigParser()
    parser.read(env["AWS_CONFIG_FILE"])
    return parser["profile refreshing"]["credential_process"]


def test_the_step_writes_an_isolated_credential_process_line_naming_its_cache(logged_in, aws_env):
    argv = shlex.split(config_line(aws_env))

    assert Path(argv[0]).is_absolute() and Path(argv[0]).parent == Path(sys.executable).parent
    assert argv[1:] == ["-I", "-m", "automations", "aws", "credential-process", "--cache", str(logged_in)]
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


def test_prints_the_credential_process_json(config, logged_in, aws_env):
    result = credential_process(config, aws_env)

    assert result.code == 0, result.stderr
    document = json.loads(result.stdout)
    assert set(document) == {"Version", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}
    assert document["Version"] == 1
    expiration = datetime.fromisoformat(document["Expiration"].replace("Z", "+00:00"))
    assert 3000 < (expiration - datetime.now(timezone.utc)).total_seconds() <= 3600
    assert result.stderr == ""


def test_answers_from_a_private_cache_while_the_credentials_stay_valid(config, logged_in, sts, aws_env):
    first = credential_process(config, aws_env)

    second = credential_process(config, aws_env)

    assert second.stdout == first.stdout
    assert json.loads(first.stdout)["AccessKeyId"] == json.loads(logged_in.read_text())["AccessKeyId"]
    assert sts.count(ASSUME) == 1
    assert stat.S_IMODE(os.stat(logged_in).st_mode) == 0o600


def test_the_line_written_to_the_config_answers_from_the_cache(logged_in, sts, aws_env, tmp_path):
    proc = subprocess.run(shlex.split(config_line(aws_env)), env=aws_env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)

    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["AccessKeyId"] == json.loads(logged_in.read_text())["AccessKeyId"]
    assert sts.count(ASSUME) == 1


def test_stdout_carries_only_the_json_whatever_the_output_option_says(config, logged_in, sts, aws_env):
    expire_soon(logged_in)
    sts.fail(action=ASSUME, times=1, code="IDPCommunicationError")  # a retry: a warning event

    result = credential_process(config, aws_env, "--output", "json", "-vv")

    assert result.code == 0, result.stderr
    assert list(json.loads(result.stdout)) == ["Version", "AccessKeyId", "SecretAccessKey", "SessionToken",
                                               "Expiration"]
    assert len(result.stdout.splitlines()) == 1
    assert "IDPCommunicationError" in result.stderr


def test_an_error_in_json_output_goes_to_stderr(config, logged_in, sts, aws_env):
    expire_soon(logged_in)
    sts.fail(action=ASSUME, times=1, status=403, code="AccessDenied")

    result = credential_process(config, aws_env, "--output", "json")

    assert result.code == 1
    assert result.stdout == ""
    assert json.loads(result.stderr.splitlines()[-1])["event"] == "error"


def test_assumes_the_role_again_when_the_cache_is_within_min_remaining(config, logged_in, sts, aws_env):
    first = json.loads(logged_in.read_text())
    soon = expire_soon(logged_in)

    refreshed = json.loads(credential_process(config, aws_env).stdout)

    assert sts.count(ASSUME) == 2
    assert refreshed["AccessKeyId"] != first["AccessKeyId"]
    assert refreshed["Expiration"] > soon
    assert json.loads(logged_in.read_text())["Refresh"] == first["Refresh"]  # the snapshot stays


def test_a_refresh_uses_the_snapshot_not_the_changed_config(config, logged_in, sts, aws_env):
    expire_soon(logged_in)
    config.write_text(config.read_text().replace("roleArn: " + ROLE, "roleArn: arn:aws:iam::111122223333:role/other"))

    result = credential_process(config, aws_env)

    assert result.code == 0, result.stderr
    [call] = sts.calls(ASSUME)[1:]
    assert "role%2Fdev-role" in call.body.decode()


def test_a_rerun_after_the_config_changed_logs_in_again_with_the_new_settings(config, logged_in, sts, aws_env):
    config.write_text(config.read_text().replace("minRemaining: 600", "minRemaining: 700"))

    result = run_cli("-c", str(config), "run", "login", env=aws_env)

    assert result.code == 0, result.output
    assert "skipped" not in result.stdout
    assert sts.count(ASSUME) == 2
    assert json.loads(logged_in.read_text())["Refresh"]["minRemaining"] == 700


def test_a_damaged_cache_asks_for_a_new_login(config, logged_in, sts, aws_env):
    logged_in.write_text("{not json")

    result = credential_process(config, aws_env)

    assert result.code == 1
    assert result.stdout == ""
    assert "automations run login" in result.stderr
    assert sts.count(ASSUME) == 1


def test_a_cache_others_can_read_is_not_believed(config, logged_in, sts, aws_env):
    logged_in.chmod(0o644)

    result = credential_process(config, aws_env)

    assert result.code == 1
    assert "automations run login" in result.stderr


def test_a_cache_directory_others_can_write_is_refused(config, logged_in, sts, aws_env):
    logged_in.parent.chmod(0o777)

    result = credential_process(config, aws_env)

    assert result.code == 1
    assert "can be changed by other users" in result.stderr
    assert result.stdout == ""


def test_retries_transient_errors_like_the_step(config, logged_in, sts, aws_env):
    expire_soon(logged_in)
    sts.fail(action=ASSUME, times=2, code="IDPCommunicationError")

    result = credential_process(config, aws_env)

    assert result.code == 0, result.stderr
    assert sts.count(ASSUME) == 4  # the login, then three attempts
    json.loads(result.stdout)


def test_retries_throttling_under_the_throttled_policy_of_the_snapshot(config, logged_in, sts, aws_env):
    expire_soon(logged_in)
    sts.fail(action=ASSUME, times=2, code="Throttling")

    result = credential_process(config, aws_env)

    assert result.code == 0, result.stderr
    assert sts.count(ASSUME) == 4
    assert "; throttled; retrying in" in result.stderr


def test_errors_go_to_stderr_without_secrets_and_exit_non_zero(config, logged_in, sts, aws_env, tmp_path):
    token = make_token()
    (tmp_path / "token").write_text(token)
    expire_soon(logged_in)
    sts.fail(action=ASSUME, times=1, status=403, code="AccessDenied")

    result = credential_process(config, aws_env, "-vv")

    assert result.code == 1
    assert result.stdout == ""
    assert "AccessDenied" in result.stderr
    assert token not in result.stderr and token.split(".")[1] not in result.stderr
    assert sts.count(ASSUME) == 2


def test_an_expired_token_fails_without_calling_sts(config, logged_in, sts, aws_env, tmp_path):
    expire_soon(logged_in)
    (tmp_path / "token").write_text(make_token(exp=int(time.time()) - 60, iat=int(time.time()) - 3660, nbf=None))

    result = credential_process(config, aws_env)

    assert result.code == 1
    assert "expired at" in result.stderr
    assert sts.count(ASSUME) == 1


def test_a_task_never_logged_in_is_an_error_saying_to_log_in(config, sts, aws_env):
    result = run_cli("-c", str(config), "aws", "credential-process", "--task", "nope", env=aws_env)

    assert result.code == 1
    assert "automations run nope" in result.stderr
    assert f"nope: aws-login: no login in {Path(aws_env['XDG_CACHE_HOME']) / 'automations'}/aws-credentials-" \
        in result.stderr
    assert sts.count() == 0


def test_the_cached_keys_are_secrets_from_the_moment_they_are_read(logged_in, aws_env):
    from automations.aws.login import refresh_cached
    from automations.files.credentials_file import CredentialCache
    from automations.redaction import REDACTOR

    entry = json.loads(logged_in.read_text())
    secrets = f"{entry['SecretAccessKey']} {entry['SessionToken']}"
    assert REDACTOR.redact(secrets) == secrets  # the login's run is over: this process forgot them

    with process_state():  # the keys and the AWS session forgotten afterwards, as after run_cli
        assert refresh_cached(CredentialCache(logged_in), aws_env)["AccessKeyId"] == entry["AccessKeyId"]
        shown = REDACTOR.redact(secrets)
    assert entry["SecretAccessKey"] not in shown and entry["SessionToken"] not in shown


def test_a_rerun_of_the_step_reuses_the_primed_cache(config, logged_in, sts, aws_env):
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


def test_the_answer_from_the_cache_imports_no_config_loader_plugin_or_aws_sdk(logged_in, aws_env, tmp_path):
    argv = shlex.split(config_line(aws_env))
    # -I ignores PYTHONPROFILEIMPORTTIME: ask for the import log on the command line.
    proc = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], env=aws_env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)

    assert proc.returncode == 0, proc.stderr
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert "automations.aws.login" in imported  # the import log is really there
    assert not {m for m in imported if m.split(".")[0] in {"yaml", "tasks", "botocore", "boto3", "jwt"}}
    assert not imported & {"automations.engine.config", "automations.engine.plugins", "automations.oidc.sources", "automations.aws.sts"}


# A credential process in the middle of a refresh: it holds the cache's lock, read the old
# entry, and writes what it made from it when it finishes (here: once the step has written
# the cache, or waits for the lock). argv: the lock file, the cache.
REFRESHING_PROCESS = r"""
import fcntl, os, re, sys, time
lock, cache = sys.argv[1], sys.argv[2]
fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
old = open(cache, "rb").read()
waiter = re.compile(r"->\s+FLOCK\b.*:%d\s" % os.fstat(fd).st_ino)
print("locked", flush=True)
deadline = time.monotonic() + 60
while time.monotonic() < deadline and open(cache, "rb").read() == old \
        and not any(waiter.search(line) for line in open("/proc/locks")):
    time.sleep(0.02)
with open(cache + ".new", "wb") as file:
    file.write(old)
os.chmod(cache + ".new", 0o600)
os.rename(cache + ".new", cache)
"""


def test_a_login_waits_for_a_refresh_in_flight_and_its_newer_entry_is_kept(config, logged_in, sts, aws_env):
    old_key = json.loads(logged_in.read_text())["AccessKeyId"]
    lock = logged_in.parent / f".{logged_in.name}.lock"
    refreshing = subprocess.Popen([sys.executable, "-c", REFRESHING_PROCESS, str(lock), str(logged_in)],
                                  stdout=subprocess.PIPE, text=True)
    try:
        assert refreshing.stdout is not None and refreshing.stdout.readline() == "locked\n"

        result = run_cli("-c", str(config), "run", "--force", "login", env=aws_env, timeout=60)

        assert refreshing.wait(timeout=60) == 0
    finally:
        refreshing.kill()
    assert result.code == 0, result.output
    entry = json.loads(logged_in.read_text())
    assert sts.count(ASSUME) == 2
    assert entry["AccessKeyId"] != old_key  # the login's, written after the refresh, not lost under it
    assert json.loads(credential_process(config, aws_env).stdout)["AccessKeyId"] == entry["AccessKeyId"]


CHAINED_CONFIG = """
tasks:
  login:
    steps:
      - uses: aws-login
        retry: {attempts: 4, initialDelay: 0.01, maxDelay: 0.05}
        with: {roleArn: %s, token: {file: token}, profile: hub, region: us-east-1, credentials: process}
      - uses: aws-assume-role
        id: deploy
        retry: {attempts: 2, initialDelay: 0.01, maxDelay: 0.05}
        with:
          roleArn: arn:aws:iam::444455556666:role/deploy
          profile: deploy
          region: us-east-1
          credentials: process
""" % ROLE


def test_a_chained_refresh_counts_the_source_logins_retries_by_its_own_policy(write_config, tmp_path, sts,
                                                                               aws_env):
    (tmp_path / "token").write_text(make_token())
    config = write_config(CHAINED_CONFIG)
    assert run_cli("-c", str(config), "run", "login", env=aws_env).code == 0
    for cache in cache_files(aws_env):
        expire_soon(cache)
    sts.fail(action=ASSUME, times=2, code="IDPCommunicationError")  # the source login's STS call

    result = credential_process(config, aws_env, "--step", "deploy")

    assert result.code == 0, result.stderr
    assert sts.count(ASSUME) == 4  # the login, then the source's refresh in three attempts
    warnings = [line for line in result.stderr.splitlines() if "failed" in line]
    assert len(warnings) == 2
    for number, line in enumerate(warnings, 1):
        assert f"refreshing {ROLE} first: attempt {number} of 4 failed: " in line  # the login's 4, not 2


def test_the_cache_holds_the_answer_the_role_when_it_was_written_and_the_login(config, logged_in, aws_env):
    import re

    entry = json.loads(logged_in.read_text())

    assert set(entry) == {"Version", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration",
                          "RoleArn", "AssumedRoleArn", "Written", "Refresh"}
    assert entry["Version"] == 1 and entry["RoleArn"] == ROLE
    assert entry["AssumedRoleArn"].startswith("arn:aws:sts::111122223333:assumed-role/dev-role/")
    for stamp in (entry["Expiration"], entry["Written"]):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp)
    written = datetime.strptime(entry["Written"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert abs((datetime.now(timezone.utc) - written).total_seconds()) < 300
    assert entry["Refresh"]["roleArn"] == ROLE and entry["Refresh"]["task"] == "login"
    assert entry["Refresh"]["config"] == str(config) and "kind" not in entry["Refresh"]


def caches_by_kind(env: dict[str, str]) -> dict[str, Path]:
    return {("chained" if json.loads(path.read_text())["Refresh"].get("kind") else "login"): path
            for path in cache_files(env)}


def test_a_chained_refresh_assumes_the_role_with_the_refreshed_logins_credentials(write_config, tmp_path, sts,
                                                                                    aws_env):
    (tmp_path / "token").write_text(make_token())
    config = write_config(CHAINED_CONFIG)
    assert run_cli("-c", str(config), "run", "login", env=aws_env).code == 0
    caches = caches_by_kind(aws_env)
    for cache in caches.values():
        expire_soon(cache)

    result = credential_process(config, aws_env, "--step", "deploy")

    assert result.code == 0, result.stderr
    login = json.loads(caches["login"].read_text())
    assert sts.count(ASSUME) == 2 and sts.count("AssumeRole") == 2
    call = sts.calls("AssumeRole")[-1]
    assert f"Credential={login['AccessKeyId']}/" in call.headers["authorization"]
    assert call.headers["x-amz-security-token"] == login["SessionToken"]
    # The session keeps the login's name, so the audit trail leads back to the environment.
    assert call.form()["RoleSessionName"] == login["AssumedRoleArn"].rsplit("/", 1)[-1]
    assert json.loads(result.stdout)["AccessKeyId"] == json.loads(caches["chained"].read_text())["AccessKeyId"]


def test_a_chained_refresh_from_a_file_login_reads_the_source_profile(write_config, tmp_path, sts, aws_env):
    (tmp_path / "token").write_text(make_token())
    config = write_config(CHAINED_CONFIG.replace("region: us-east-1, credentials: process}", "region: us-east-1}"))
    assert run_cli("-c", str(config), "run", "login", env=aws_env).code == 0
    [cache] = cache_files(aws_env)  # the chained step's alone: the login wrote static keys
    expire_soon(cache)
    # The login's keys change on disk after the chained step's snapshot (a later login, another
    # tool): the refresh signs with what the file holds now, not with what it held then.
    credentials_path = Path(aws_env["AWS_SHARED_CREDENTIALS_FILE"])
    on_disk = configparser.RawConfigParser()
    on_disk.read(credentials_path)
    on_disk["hub"]["aws_access_key_id"] = "ASIAROTATEDLATER0001"
    on_disk["hub"]["aws_session_token"] = "rotated-later-session-token"
    with credentials_path.open("w") as handle:
        on_disk.write(handle)

    result = credential_process(config, aws_env, "--step", "deploy")

    assert result.code == 0, result.stderr
    parser = configparser.RawConfigParser()
    parser.read(aws_env["AWS_SHARED_CREDENTIALS_FILE"])
    hub = parser["hub"]
    call = sts.calls("AssumeRole")[-1]
    assert sts.count(ASSUME) == 1 and sts.count("AssumeRole") == 2
    assert hub["aws_access_key_id"] == "ASIAROTATEDLATER0001"
    assert f"Credential={hub['aws_access_key_id']}/" in call.headers["authorization"]
    assert call.headers["x-amz-security-token"] == hub["aws_session_token"] == "rotated-later-session-token"


def test_a_refresh_asks_the_sts_endpoint_of_the_login_not_the_callers(config, logged_in, sts, aws_env):
    # The SDK that runs the credential process may have another $AWS_ENDPOINT_URL (or none).
    expire_soon(logged_in)

    result = credential_process(config, {**aws_env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"})

    assert result.code == 0, result.stderr
    assert sts.count(ASSUME) == 2
