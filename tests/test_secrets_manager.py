"""`secrets-manager`, end to end: the real `automations` command against the moto server
(through the recording, fault-injecting proxy where calls are counted or faults needed),
credentials from boto3's default chain, files read back by their real consumers."""
from __future__ import annotations

import base64
import json
import math
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from support.cli import run_cli
from support.proxy import FaultProxy
from test_envfile import (
    VALUES,
    read_with_docker_rules,
    read_with_json,
    read_with_python_dotenv,
    read_with_shell,
    subset,
)

FAST_RETRY = "retry: {attempts: 4, initialDelay: 0.01, maxDelay: 0.05}"


@pytest.fixture
def env(aws_env: dict[str, str]) -> dict[str, str]:
    """moto's fake credentials through boto3's default chain (no aws-login involved)."""
    return {**aws_env, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@pytest.fixture
def proxy(moto_endpoint: str, env: dict[str, str]) -> Iterator[FaultProxy]:
    with FaultProxy(moto_endpoint) as fault_proxy:
        env["AWS_ENDPOINT_URL"] = fault_proxy.url
        yield fault_proxy


@pytest.fixture
def prefix() -> str:
    """The moto server lives for the whole session: each test names its secrets apart."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def secrets(moto_endpoint: str, prefix: str):
    client = boto3.client("secretsmanager", endpoint_url=moto_endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")

    def create(name: str, value: str | bytes | dict) -> str:
        full = f"{prefix}/{name}"
        if isinstance(value, bytes):
            client.create_secret(Name=full, SecretBinary=value)
        else:
            client.create_secret(Name=full, SecretString=value if isinstance(value, str) else json.dumps(value))
        return full

    create.client = client  # type: ignore[attr-defined]
    return create


def step(entries: str, *, file: str = "out/.env", extra: str = "", retry: str = FAST_RETRY) -> str:
    return f"""
        tasks:
          secrets:
            steps:
              - uses: secrets-manager
                {retry}
                with:
                  file: {file}
                  {extra}
                  secrets:
{entries}
    """


def entry_lines(*lines: str) -> str:
    return "\n".join(" " * 20 + "- " + line for line in lines)


def run(config: Path, env: dict[str, str], *args: str):
    return run_cli("-c", str(config), "run", *args, "secrets", cwd=config.parent, env=env)


# -- what ends up in the file ----------------------------------------------------------------

def test_a_plain_secret_becomes_one_variable(write_config, env, secrets, tmp_path):
    name = secrets("plain", "pl@in s3cret value")
    config = write_config(step(entry_lines(f"{{id: {name}, env: API_TOKEN}}")))
    result = run(config, env)
    assert result.code == 0, result.output
    path = tmp_path / "out/.env"
    assert read_with_python_dotenv(path) == {"API_TOKEN": "pl@in s3cret value"}
    assert read_with_shell(path)["API_TOKEN"] == "pl@in s3cret value"


def test_a_whole_json_secret_goes_in_as_its_text(write_config, env, secrets, tmp_path):
    name = secrets("json", {"user": "u", "password": "p"})
    config = write_config(step(entry_lines(f"{{id: {name}, env: DB_JSON}}")))
    assert run(config, env).code == 0
    assert json.loads(read_with_python_dotenv(tmp_path / "out/.env")["DB_JSON"]) == {"user": "u", "password": "p"}


def test_chosen_keys_of_a_json_secret_with_a_dotted_path_to_nested_keys(write_config, env, secrets, tmp_path):
    name = secrets("db", {"host": "db.internal", "password": "hunter2-x", "replica": {"host": "r.internal"},
                          "hosts": ["a", "b"], "other": "not-asked"})
    config = write_config(step(entry_lines(
        f"{{id: {name}, keys: {{DB_HOST: host, DB_PASSWORD: password, REPLICA_HOST: replica.host, SECOND: hosts.1}}}}")))
    result = run(config, env)
    assert result.code == 0, result.output
    assert read_with_python_dotenv(tmp_path / "out/.env") == {
        "DB_HOST": "db.internal", "DB_PASSWORD": "hunter2-x", "REPLICA_HOST": "r.internal", "SECOND": "b"}


def test_a_top_level_key_holding_a_dot_wins_over_the_nested_path(write_config, env, secrets, tmp_path):
    name = secrets("dotted", {"a.b": "flat", "a": {"b": "nested"}})
    config = write_config(step(entry_lines(f"{{id: {name}, keys: {{V: a.b}}}}")))
    assert run(config, env).code == 0
    assert read_with_python_dotenv(tmp_path / "out/.env") == {"V": "flat"}


def test_all_keys_are_upper_cased_sanitised_and_prefixed(write_config, env, secrets, tmp_path):
    name = secrets("all", {"host": "h", "api-key": "k", "user.name": "n", "Mixed_Case9": "m"})
    config = write_config(step(entry_lines(f"{{id: {name}, keys: '*', prefix: DB_}}")))
    result = run(config, env)
    assert result.code == 0, result.output
    values = read_with_python_dotenv(tmp_path / "out/.env")
    assert values == {"DB_HOST": "h", "DB_API_KEY": "k", "DB_USER_NAME": "n", "DB_MIXED_CASE9": "m"}
    assert list(values) == ["DB_HOST", "DB_API_KEY", "DB_USER_NAME", "DB_MIXED_CASE9"]



@pytest.mark.parametrize("key", ["LD_PRELOAD", "ld_audit", "BASH_ENV", "PROMPT_COMMAND", "NODE_OPTIONS", "path", "IFS",
                                 "PYTHONSTARTUP", "GIT_SSH_COMMAND", "JAVA_TOOL_OPTIONS"])
def test_a_dangerous_name_chosen_by_the_secret_is_refused_naming_the_key_and_nothing_is_written(
        write_config, env, secrets, tmp_path, key):
    name = secrets("hostile", {"API_URL": "https://api.example", key: "/tmp/evil.so"})
    (tmp_path / "out").mkdir()
    (tmp_path / "out/.env").write_text("KEPT=1\n")
    config = write_config(step(entry_lines(f"{{id: {name}, keys: '*'}}"), extra="mode: merge"))

    result = run(config, env)

    assert result.code == 1, result.output
    assert f"secret {name} key {key!r} makes the variable name {key.upper()!r}" in result.output
    assert "name the variable in `keys:` or set a `prefix`" in result.output
    assert "/tmp/evil.so" not in result.output
    assert (tmp_path / "out/.env").read_text() == "KEPT=1\n"


def test_a_prefix_makes_the_secrets_names_safe(write_config, env, secrets, tmp_path):
    name = secrets("prefixed", {"LD_PRELOAD": "x.so", "PATH": "/bin"})
    config = write_config(step(entry_lines(f"{{id: {name}, keys: '*', prefix: APP_}}")))
    result = run(config, env)
    assert result.code == 0, result.output
    assert read_with_python_dotenv(tmp_path / "out/.env") == {"APP_LD_PRELOAD": "x.so", "APP_PATH": "/bin"}


def test_a_prefix_that_makes_a_dangerous_name_does_not_let_the_secret_choose_it(write_config, env, secrets, tmp_path):
    name = secrets("loader", {"PRELOAD": "x.so"})
    config = write_config(step(entry_lines(f"{{id: {name}, keys: '*', prefix: LD_}}")))
    result = run(config, env)
    assert result.code == 1
    assert f"secret {name} key 'PRELOAD' makes the variable name 'LD_PRELOAD', read by the dynamic loader" in result.output
    assert not (tmp_path / "out/.env").exists()


def test_a_dangerous_name_the_user_wrote_is_their_choice(write_config, env, secrets, tmp_path):
    name = secrets("chosen", {"opts": "--max-old-space-size=4096", "whole": "w"})
    whole = secrets("whole", "/opt/tools/bin:/usr/bin")
    config = write_config(step(entry_lines(f"{{id: {name}, keys: {{NODE_OPTIONS: opts}}}}",
                                           f"{{id: {whole}, env: PATH}}")))
    result = run(config, env)
    assert result.code == 0, result.output
    assert read_with_python_dotenv(tmp_path / "out/.env") == {"NODE_OPTIONS": "--max-old-space-size=4096",
                                                              "PATH": "/opt/tools/bin:/usr/bin"}

def test_non_string_json_values_are_written_as_json_text(write_config, env, secrets, tmp_path):
    name = secrets("types", {"port": 5432, "debug": True, "ratio": 0.5, "none": None, "tags": ["a", "b"],
                             "nested": {"k": "v"}})
    config = write_config(step(entry_lines(f"{{id: {name}, keys: '*'}}")))
    assert run(config, env).code == 0
    assert read_with_python_dotenv(tmp_path / "out/.env") == {
        "PORT": "5432", "DEBUG": "true", "RATIO": "0.5", "NONE": "null", "TAGS": '["a","b"]', "NESTED": '{"k":"v"}'}


def test_a_binary_secret_is_written_base64_encoded(write_config, env, secrets, tmp_path):
    payload = bytes(range(256))
    name = secrets("bin", payload)
    config = write_config(step(entry_lines(f"{{id: {name}, env: KEYSTORE}}")))
    result = run(config, env)
    assert result.code == 0, result.output
    assert base64.b64decode(read_with_python_dotenv(tmp_path / "out/.env")["KEYSTORE"]) == payload


def test_keys_of_a_secret_that_is_not_json_is_an_error_naming_the_secret(write_config, env, secrets, tmp_path):
    name = secrets("notjson", "just-a-password")
    config = write_config(step(entry_lines(f"{{id: {name}, keys: {{A: a}}}}")))
    result = run(config, env)
    assert result.code == 1
    assert f"secret {name} is not JSON" in result.output and "just-a-password" not in result.output
    assert not (tmp_path / "out/.env").exists()


def test_a_key_the_json_secret_lacks_is_an_error_naming_secret_and_key(write_config, env, secrets, tmp_path):
    name = secrets("lacks", {"user": "u"})
    config = write_config(step(entry_lines(f"{{id: {name}, keys: {{DB_PASSWORD: password}}}}")))
    result = run(config, env)
    assert result.code == 1
    assert f"secret {name} has no key 'password' (for DB_PASSWORD)" in result.output


def test_two_entries_writing_one_variable_is_an_error_naming_both(write_config, env, secrets, tmp_path):
    first = secrets("one", {"host": "a"})
    second = secrets("two", "b")
    config = write_config(step(entry_lines(f"{{id: {first}, keys: '*'}}", f"{{id: {second}, env: HOST}}")))
    result = run(config, env)
    assert result.code == 1
    assert f"two entries write HOST: secrets[0] ({first}) key 'host' and secrets[1] ({second}) whole value" \
        in result.output


def test_another_version_stage_is_read_with_get_secret_value(write_config, env, secrets, proxy, tmp_path):
    name = secrets("staged", "old-value")
    secrets.client.put_secret_value(SecretId=name, SecretString="new-value")  # old-value becomes AWSPREVIOUS
    config = write_config(step(entry_lines(f"{{id: {name}, env: OLD, versionStage: AWSPREVIOUS}}",
                                           f"{{id: {name}, env: NEW}}")))
    result = run(config, env)
    assert result.code == 0, result.output
    assert read_with_python_dotenv(tmp_path / "out/.env") == {"OLD": "old-value", "NEW": "new-value"}
    assert [r.json()["VersionStage"] for r in proxy.calls("GetSecretValue")] == ["AWSPREVIOUS"]


# -- fetching ----------------------------------------------------------------------------------

def test_45_secrets_are_read_in_batches_of_at_most_20_ids(write_config, env, secrets, proxy, tmp_path):
    names = [secrets(f"s{i:02}", f"value-{i:02}") for i in range(45)]
    config = write_config(step(entry_lines(*(f"{{id: {n}, env: S{i:02}}}" for i, n in enumerate(names)))))
    result = run(config, env)
    assert result.code == 0, result.output
    batches = [r.json()["SecretIdList"] for r in proxy.calls("BatchGetSecretValue")]
    assert all(1 <= len(ids) <= 20 for ids in batches)
    assert len(batches) == math.ceil(45 / 20)
    assert sorted(i for ids in batches for i in ids) == sorted(names)
    assert proxy.count("GetSecretValue") == 0
    assert read_with_python_dotenv(tmp_path / "out/.env") == {f"S{i:02}": f"value-{i:02}" for i in range(45)}


def test_missing_secrets_fail_the_step_naming_every_one_at_once(write_config, env, secrets, prefix, tmp_path):
    present = secrets("present", "here")
    config = write_config(step(entry_lines(f"{{id: {prefix}/gone-1, env: A}}", f"{{id: {present}, env: B}}",
                                           f"{{id: {prefix}/gone-2, env: C}}")))
    result = run(config, env)
    assert result.code == 1
    assert f"secrets not found: {prefix}/gone-1, {prefix}/gone-2" in result.output
    assert not (tmp_path / "out/.env").exists()


def test_a_missing_optional_secret_is_a_warning_and_the_rest_is_written(write_config, env, secrets, prefix, tmp_path):
    present = secrets("present", "here")
    config = write_config(step(entry_lines(f"{{id: {prefix}/gone, env: A, optional: true}}",
                                           f"{{id: {present}, env: B}}")))
    result = run(config, env)
    assert result.code == 0, result.output
    assert f"optional secret {prefix}/gone not found" in result.output
    assert read_with_python_dotenv(tmp_path / "out/.env") == {"B": "here"}


def test_when_batch_reads_are_denied_each_secret_is_read_with_get_secret_value(
        write_config, env, secrets, proxy, tmp_path):
    names = [secrets(f"d{i:02}", f"value-{i:02}") for i in range(25)]
    proxy.fail(action="BatchGetSecretValue", times=10, status=400, code="AccessDeniedException",
               message="not authorized to perform: secretsmanager:BatchGetSecretValue")
    config = write_config(step(entry_lines(*(f"{{id: {n}, env: D{i:02}}}" for i, n in enumerate(names)))))
    result = run(config, env, "-v")
    assert result.code == 0, result.output
    assert "one by one with GetSecretValue" in result.output
    assert sorted(r.json()["SecretId"] for r in proxy.calls("GetSecretValue")) == sorted(names)
    assert read_with_python_dotenv(tmp_path / "out/.env") == {f"D{i:02}": f"value-{i:02}" for i in range(25)}


@pytest.mark.parametrize("fault", [
    {"status": 400, "code": "ThrottlingException"},
    {"status": 500, "code": "InternalServiceError"},
    {"status": 503, "code": "ServiceUnavailable"},
    {"drop": True},
], ids=["throttled", "500", "503", "dropped-connection"])
def test_transient_failures_are_retried_by_the_runner(write_config, env, secrets, proxy, tmp_path, fault):
    name = secrets("retry", "eventually")
    proxy.fail(action="BatchGetSecretValue", times=2, **fault)
    config = write_config(step(entry_lines(f"{{id: {name}, env: V}}")))
    result = run(config, env)
    assert result.code == 0, result.output
    assert "retrying" in result.output
    assert proxy.count("BatchGetSecretValue") == 3
    assert read_with_python_dotenv(tmp_path / "out/.env") == {"V": "eventually"}


def test_a_retry_asks_only_for_the_batches_that_failed(write_config, env, secrets, proxy, tmp_path):
    names = [secrets(f"b{i:02}", f"value-{i:02}") for i in range(45)]
    proxy.fail(action="BatchGetSecretValue", times=1, code="ThrottlingException")
    config = write_config(step(entry_lines(*(f"{{id: {n}, env: B{i:02}}}" for i, n in enumerate(names)))))
    result = run(config, env)
    assert result.code == 0, result.output
    calls = proxy.calls("BatchGetSecretValue")
    assert len(calls) == 3 + 1
    assert calls[-1].json()["SecretIdList"] == next(c.json()["SecretIdList"] for c in calls if c.faulted)
    assert read_with_python_dotenv(tmp_path / "out/.env") == {f"B{i:02}": f"value-{i:02}" for i in range(45)}


def test_a_permanent_error_is_not_retried(write_config, env, secrets, proxy, tmp_path):
    name = secrets("perm", "x")
    proxy.fail(action="BatchGetSecretValue", times=5, status=400, code="ValidationException", message="bad id")
    config = write_config(step(entry_lines(f"{{id: {name}, env: V}}")))
    result = run(config, env)
    assert result.code == 1
    assert "ValidationException (bad id)" in result.output
    assert proxy.count("BatchGetSecretValue") == 1


def test_profile_and_region_options_pick_the_credentials_and_region(write_config, env, secrets, proxy, tmp_path):
    name = secrets("profiled", "via-profile")
    credentials = Path(env["AWS_SHARED_CREDENTIALS_FILE"])
    credentials.parent.mkdir(parents=True, exist_ok=True)
    credentials.write_text("[dev]\naws_access_key_id = AKIDDEVPROFILE\naws_secret_access_key = testing\n")
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_DEFAULT_REGION"]
    config = write_config(step(entry_lines(f"{{id: {name}, env: V}}"), extra="profile: dev\n                  region: us-east-1"))
    result = run(config, env)
    assert result.code == 0, result.output
    authorization = proxy.calls("BatchGetSecretValue")[0].headers["authorization"]
    assert "Credential=AKIDDEVPROFILE/" in authorization and "/us-east-1/secretsmanager/" in authorization


def test_no_credentials_is_one_clear_line(write_config, env, secrets, tmp_path):
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    config = write_config(step(entry_lines("{id: any, env: V}")))
    result = run(config, env)
    assert result.code == 1
    assert "no AWS credentials" in result.output and "Traceback" not in result.output


# -- the file ----------------------------------------------------------------------------------

def test_replace_leaves_only_this_steps_keys(write_config, env, secrets, tmp_path):
    name = secrets("r", "new")
    (tmp_path / "out").mkdir()
    (tmp_path / "out/.env").write_text("STALE='old'\n")
    config = write_config(step(entry_lines(f"{{id: {name}, env: V}}")))
    assert run(config, env).code == 0
    assert read_with_python_dotenv(tmp_path / "out/.env") == {"V": "new"}


def test_merge_keeps_the_files_other_keys(write_config, env, secrets, tmp_path):
    name = secrets("m", "new")
    (tmp_path / "out").mkdir()
    (tmp_path / "out/.env").write_text("# mine\nKEEP='kept'\nV='old'\n")
    config = write_config(step(entry_lines(f"{{id: {name}, env: V}}"), extra="mode: merge"))
    assert run(config, env).code == 0
    assert (tmp_path / "out/.env").read_text() == "# mine\nKEEP='kept'\nV='new'\n"


@pytest.mark.parametrize(("fmt", "reader"), [
    ("dotenv", read_with_python_dotenv),
    ("dotenv", read_with_shell),
    ("shell", read_with_shell),
    ("json", read_with_json),
    ("docker", read_with_docker_rules),
])
def test_each_format_is_read_back_by_its_consumer(write_config, env, secrets, tmp_path, fmt, reader):
    values = {"PLAIN": "simple", "SPACES": "a b  c", "QUOTES": "say \"hi\" it's", "DOLLAR": "pa$$word",
              "HASH": "x #not-a-comment", "UNICODE": "naïve 日本"}
    if fmt != "docker":
        values["MULTILINE"] = "-----BEGIN KEY-----\nabc\n-----END KEY-----"
    name = secrets("formats", values)
    # QUOTES holds both quote chars, which no dotenv line carries for python-dotenv and
    # node-dotenv at once: this test names the readers it checks.
    readers = "\n" + " " * 18 + "readers: [python-dotenv, bash]" if fmt == "dotenv" else ""
    config = write_config(step(entry_lines(f"{{id: {name}, keys: '*'}}"), extra=f"format: {fmt}{readers}"))
    result = run(config, env)
    assert result.code == 0, result.output
    assert subset(reader(tmp_path / "out/.env"), values) == values


def test_a_dotenv_value_no_quoting_can_keep_fails_naming_the_key_and_suggesting_other_formats(
        write_config, env, secrets, tmp_path):
    name = secrets("unquotable", {"PASSWORD": "it's-$ecret"})
    config = write_config(step(entry_lines(f"{{id: {name}, keys: '*'}}")))
    result = run(config, env)
    assert result.code == 1
    assert "PASSWORD:" in result.output and "format: shell or format: json" in result.output
    assert "$ecret" not in result.output


def test_docker_refuses_a_multi_line_value_naming_the_key(write_config, env, secrets, tmp_path):
    name = secrets("pem", {"CERT": "line1\nline2"})
    config = write_config(step(entry_lines(f"{{id: {name}, keys: '*'}}"), extra="format: docker"))
    result = run(config, env)
    assert result.code == 1 and "CERT:" in result.output and "line break" in result.output


@pytest.mark.parametrize("failure", ["missing", "throttled-until-retries-run-out", "unwritable-value"])
def test_a_failing_run_leaves_the_previous_file_byte_for_byte(write_config, env, secrets, proxy, prefix, tmp_path,
                                                              failure):
    name = secrets("keep", "v1")
    config = write_config(step(entry_lines(f"{{id: {name}, env: V}}")))
    assert run(config, env).code == 0
    path = tmp_path / "out/.env"
    before = path.read_bytes()
    if failure == "missing":
        config = write_config(step(entry_lines(f"{{id: {name}, env: V}}", f"{{id: {prefix}/absent, env: W}}")))
    elif failure == "throttled-until-retries-run-out":
        secrets.client.put_secret_value(SecretId=name, SecretString="v2")
        proxy.fail(action="BatchGetSecretValue", times=10, code="ThrottlingException")
    else:
        secrets.client.put_secret_value(SecretId=name, SecretString="it's $HOME")
    result = run(config, env)
    assert result.code == 1
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["..env.lock", ".env"]  # no temporary file left



@pytest.mark.parametrize("where", ["absolute", "outside the project", "home"])
def test_the_file_may_be_absolute_or_outside_the_project_as_the_readme_says(write_config, env, secrets, tmp_path,
                                                                          where):
    name = secrets("anywhere", "v")
    (tmp_path / "project").mkdir()
    file = {"absolute": str(tmp_path / "elsewhere/.env"), "outside the project": "../elsewhere/.env",
            "home": "~/elsewhere/.env"}[where]
    config = write_config(step(entry_lines(f"{{id: {name}, env: V}}"), file=file), name="project/automations.yaml")
    result = run(config, env)
    assert result.code == 0, result.output
    written = Path(env["HOME"]) / "elsewhere/.env" if where == "home" else tmp_path / "elsewhere/.env"
    assert read_with_python_dotenv(written) == {"V": "v"}

def test_the_file_is_private(write_config, env, secrets, tmp_path):
    name = secrets("private", "x")
    (tmp_path / "out").mkdir()
    (tmp_path / "out/.env").write_text("")
    (tmp_path / "out/.env").chmod(0o644)
    config = write_config(step(entry_lines(f"{{id: {name}, env: V}}")))
    assert run(config, env).code == 0
    assert stat.S_IMODE((tmp_path / "out/.env").stat().st_mode) == 0o600


def test_a_second_identical_run_reports_no_change(write_config, env, secrets, tmp_path):
    name = secrets("same", "x")
    config = write_config(step(entry_lines(f"{{id: {name}, env: V}}")))
    assert "changed" in run(config, env).output
    second = run(config, env)
    assert second.code == 0 and "(unchanged)" in second.output


# -- nothing leaks -------------------------------------------------------------------------------

def test_no_secret_value_appears_in_any_output_at_the_highest_verbosity(write_config, env, secrets, tmp_path):
    values = {"whole": "Wh0le-Secret-Value", "json": {"password": "J5on-Field-Secret", "port": 98765},
              "bad": {"k": "it's-$ecret-Unwritable"}}
    whole = secrets("whole", values["whole"])
    js = secrets("json", values["json"])
    bad = secrets("bad", values["bad"])
    leaks = ["Wh0le-Secret-Value", "J5on-Field-Secret", "98765", "it's-$ecret-Unwritable", "$ecret-Unwritable"]
    good = write_config(step(entry_lines(f"{{id: {whole}, env: W}}", f"{{id: {js}, keys: '*'}}")))
    failing = write_config(step(entry_lines(f"{{id: {js}, keys: '*'}}", f"{{id: {bad}, keys: '*'}}")), "bad.yaml")
    outputs = [run(good, env, "-vv"), run(good, env, "-vv", "--output", "json"), run(failing, env, "-vv"),
               run(good, env, "-vv", "--dry-run")]
    assert [r.code for r in outputs] == [0, 0, 1, 0]
    for result in outputs:
        for leak in leaks:
            assert leak not in result.output


def written_then_run(entry: str, command: str) -> str:
    """A task writing one secrets entry into out/.env, then running `command`."""
    return f"""
        tasks:
          secrets:
            steps:
              - uses: secrets-manager
                with:
                  file: out/.env
                  secrets:
                    - {entry}
              - run: {command}
    """


def test_a_later_step_printing_the_file_shows_the_values_masked(write_config, env, secrets, tmp_path):
    name = secrets("printed", {"password": "Pr1nted-Secret-Value"})
    config = write_config(written_then_run(f"{{id: {name}, keys: '*'}}", "cat out/.env"))
    result = run(config, env, "-vv")
    assert result.code == 0, result.output
    assert "PASSWORD='***'" in result.output and "Pr1nted-Secret-Value" not in result.output


def test_fields_of_a_json_secret_nobody_asked_for_do_not_mask_other_output(write_config, env, secrets, tmp_path):
    name = secrets("unused", {"password": "Asked-For-Secret", "note": "zebra-unused-field", "ssl": True,
                              "ca": None, "port": 5432})
    config = write_config(written_then_run(f"{{id: {name}, keys: {{PASSWORD: password}}}}",
                                           'echo "$(cat out/.env) zebra-unused-field nullable null true 5432"'))
    result = run(config, env)
    assert result.code == 0, result.output
    assert "PASSWORD='***' zebra-unused-field nullable null true 5432" in result.stdout


def test_short_written_values_are_masked_where_they_stand_alone_and_named_in_one_warning(
        write_config, env, secrets, tmp_path):
    name = secrets("short", {"port": 5432, "user": "app", "password": "long-enough-secret", "ssl": True})
    config = write_config(written_then_run(f"{{id: {name}, keys: '*'}}",
                                           'echo "port 5432 user app application 154321 ssl true"'))
    result = run(config, env)
    assert result.code == 0, result.output
    assert "port *** user *** application 154321 ssl true" in result.stdout
    assert (f"warning: 2 values are shorter than 8 characters, so output masks them only where not next to a "
            f"letter or digit: secrets[0] ({name}) key 'port', secrets[0] ({name}) key 'user'") in result.stderr


def test_a_dry_run_lists_keys_and_sources_without_calling_aws(write_config, env, secrets, proxy, tmp_path):
    name = secrets("dry", {"password": "dry-run-secret"})
    config = write_config(step(entry_lines(f"{{id: {name}, keys: {{DB_PASSWORD: password}}}}",
                                           f"{{id: {name}, keys: '*', prefix: ALL_}}")))
    result = run(config, env, "--dry-run")
    assert result.code == 0, result.output
    assert f"DB_PASSWORD <- secret {name} key password" in result.output
    assert f"ALL_* <- every top-level key of secret {name}" in result.output
    assert proxy.count() == 0 and not (tmp_path / "out/.env").exists()


def test_options_are_checked_when_the_config_is_loaded(write_config, env, tmp_path):
    config = write_config(step(entry_lines("{id: a, env: A, keys: {B: b}}", "{id: b, keys: {1BAD: x}}",
                                           "{id: c, env: C, prefix: P_}")))
    result = run_cli("-c", str(config), "validate", env=env)
    assert result.code == 2
    assert "give either `env:`" in result.output
    assert "'1BAD' is not a variable name" in result.output
    assert "`prefix` goes with `keys: '*'`" in result.output


# -- generated values, through the whole command ---------------------------------------------------

@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.dictionaries(st.from_regex(r"\A[a-z][a-z0-9_]{0,6}\Z"), VALUES, min_size=1, max_size=5))
@example(values={"a": "K", "b": "\\'"})  # a one-letter secret once masked the key K_B in the refusal
def test_generated_values_read_back_identically_or_fail_naming_the_key(
        write_config, env, secrets, tmp_path, values):
    name = secrets(f"gen-{uuid.uuid4().hex[:6]}", values)
    path = tmp_path / "out/.env"
    if path.exists():
        path.unlink()
    config = write_config(step(entry_lines(f"{{id: {name}, keys: '*', prefix: K_}}")))
    result = run(config, env)
    expected = {f"K_{k.upper()}": v for k, v in values.items()}
    if result.code == 0:
        assert subset(read_with_python_dotenv(path), expected) == expected
        assert subset(read_with_shell(path), expected) == expected
    else:
        assert any(f"{key}:" in result.output for key in expected), result.output
        assert "format: shell or format: json" in result.output
        assert not path.exists()


def test_an_env_file_name_the_file_system_refuses_fails_the_step_in_one_line(write_config, env, secrets, tmp_path):
    name = secrets("plain", "pl@in s3cret value")
    config = write_config(step(entry_lines(f"{{id: {name}, env: API_TOKEN}}"), file="out/" + "n" * 300 + "/.env"))

    result = run(config, env)

    assert result.code == 1, result.output
    assert "secrets-manager: failed" in result.output and ": File name too long\n" in result.output
    assert "unexpected error" not in result.output and "Traceback" not in result.output
    assert "pl@in s3cret value" not in result.output
