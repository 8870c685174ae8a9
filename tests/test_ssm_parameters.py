"""`ssm-parameters`, end to end: the real `automations` command against the moto server
through the recording proxy, credentials from boto3's default chain."""
from __future__ import annotations

import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from support.cli import run_cli
from support.proxy import FaultProxy
from test_envfile import read_with_json, read_with_python_dotenv, read_with_shell

FAST_RETRY = "retry: {attempts: 4, initialDelay: 0.01, maxDelay: 0.05}"


@pytest.fixture
def env(aws_env: dict[str, str]) -> dict[str, str]:
    return {**aws_env, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@pytest.fixture
def proxy(moto_endpoint: str, env: dict[str, str]) -> Iterator[FaultProxy]:
    with FaultProxy(moto_endpoint) as fault_proxy:
        env["AWS_ENDPOINT_URL"] = fault_proxy.url
        yield fault_proxy


@pytest.fixture
def root() -> str:
    """The moto server lives for the whole session: each test works under its own path."""
    return f"/t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def put(moto_endpoint: str):
    client = boto3.client("ssm", endpoint_url=moto_endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")

    def put_parameter(name: str, value: str, kind: str = "String") -> str:
        client.put_parameter(Name=name, Value=value, Type=kind, Overwrite=True)
        return name

    return put_parameter


def step(options: str, *, file: str = "out/.env") -> str:
    return f"""
        tasks:
          params:
            steps:
              - uses: ssm-parameters
                {FAST_RETRY}
                with:
                  file: {file}
                  {options}
    """


def run(config: Path, env: dict[str, str], *args: str):
    return run_cli("-c", str(config), "run", *args, "params", cwd=config.parent, env=env)


def test_every_parameter_under_a_path_recursively_decrypted_and_paged(write_config, env, put, proxy, root, tmp_path):
    for i in range(23):
        put(f"{root}/app/p{i:02}", f"value-{i:02}")
    put(f"{root}/app/db/password", "s3cure-pw", "SecureString")
    put(f"{root}/app/list", "a,b,c", "StringList")
    put(f"{root}/other/not-under", "x")
    config = write_config(step(f"path: {root}/app"))
    result = run(config, env)
    assert result.code == 0, result.output
    expected = {f"P{i:02}": f"value-{i:02}" for i in range(23)} | {"DB_PASSWORD": "s3cure-pw", "LIST": "a,b,c"}
    assert read_with_python_dotenv(tmp_path / "out/.env") == expected
    pages = [r.json() for r in proxy.calls("GetParametersByPath")]
    assert len(pages) >= 3 and all(p["MaxResults"] <= 10 and p["Recursive"] and p["WithDecryption"] for p in pages)


def test_named_parameters_are_read_at_most_ten_a_call(write_config, env, put, proxy, root, tmp_path):
    names = [put(f"{root}/n/v{i:02}", f"value-{i:02}") for i in range(23)]
    config = write_config(step("names: [" + ", ".join(names) + "]"))
    result = run(config, env)
    assert result.code == 0, result.output
    calls = [r.json() for r in proxy.calls("GetParameters")]
    assert len(calls) == 3 and all(len(c["Names"]) <= 10 and c["WithDecryption"] for c in calls)
    assert sorted(n for c in calls for n in c["Names"]) == sorted(names)
    assert read_with_python_dotenv(tmp_path / "out/.env") == {f"V{i:02}": f"value-{i:02}" for i in range(23)}


def test_variable_names_are_the_name_below_the_path_sanitised_upper_cased_and_prefixed(
        write_config, env, put, root, tmp_path):
    put(f"{root}/svc/db/url", "postgres://x")
    put(f"{root}/svc/api-key", "k")
    put(f"{root}/elsewhere/feature.flag", "on")
    config = write_config(step(f"path: {root}/svc/\n                  names: [{root}/elsewhere/feature.flag]\n"
                               "                  prefix: APP_"))
    result = run(config, env)
    assert result.code == 0, result.output
    assert read_with_python_dotenv(tmp_path / "out/.env") == {
        "APP_API_KEY": "k", "APP_DB_URL": "postgres://x", "APP_FEATURE_FLAG": "on"}


def test_missing_names_fail_naming_every_one_at_once(write_config, env, put, root, tmp_path):
    present = put(f"{root}/present", "here")
    config = write_config(step(f"names: [{root}/gone-1, {present}, {root}/gone-2]"))
    result = run(config, env)
    assert result.code == 1
    assert "parameters not found:" in result.output
    assert f"{root}/gone-1" in result.output and f"{root}/gone-2" in result.output
    assert not (tmp_path / "out/.env").exists()


def test_a_path_with_nothing_under_it_fails(write_config, env, root, tmp_path):
    config = write_config(step(f"path: {root}/empty"))
    result = run(config, env)
    assert result.code == 1 and f"no parameters under {root}/empty" in result.output


def test_optional_makes_missing_parameters_a_warning(write_config, env, put, root, tmp_path):
    present = put(f"{root}/present", "here")
    config = write_config(step(f"names: [{root}/gone, {present}]\n                  optional: true"))
    result = run(config, env)
    assert result.code == 0, result.output
    assert f"parameter not found: {root}/gone" in result.output
    assert read_with_python_dotenv(tmp_path / "out/.env") == {"PRESENT": "here"}


def test_two_parameters_making_one_variable_is_an_error_naming_both(write_config, env, put, root, tmp_path):
    put(f"{root}/c/db-url", "a")
    put(f"{root}/c/db_url", "b")
    config = write_config(step(f"path: {root}/c"))
    result = run(config, env)
    assert result.code == 1
    assert f"two entries write DB_URL: parameter {root}/c/db-url and parameter {root}/c/db_url" in result.output


def test_throttling_is_retried(write_config, env, put, proxy, root, tmp_path):
    put(f"{root}/r/v", "eventually")
    proxy.fail(action="GetParametersByPath", times=2, code="ThrottlingException")
    config = write_config(step(f"path: {root}/r"))
    result = run(config, env)
    assert result.code == 0, result.output
    assert proxy.count("GetParametersByPath") == 3
    assert read_with_python_dotenv(tmp_path / "out/.env") == {"V": "eventually"}


def test_access_denied_fails_at_once_naming_the_path(write_config, env, put, proxy, root, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out/.env").write_text("OLD='kept'\n")
    proxy.fail(action="GetParametersByPath", times=5, code="AccessDeniedException", message="not allowed")
    config = write_config(step(f"path: {root}/denied"))
    result = run(config, env)
    assert result.code == 1
    assert f"parameters under {root}/denied: AccessDeniedException" in result.output
    assert proxy.count("GetParametersByPath") == 1
    assert (tmp_path / "out/.env").read_text() == "OLD='kept'\n"


@pytest.mark.parametrize(("fmt", "reader"), [("shell", read_with_shell), ("json", read_with_json)])
def test_other_formats_are_read_back_by_their_consumers(write_config, env, put, root, tmp_path, fmt, reader):
    put(f"{root}/f/quote", "it's $HOME")
    put(f"{root}/f/multi", "line1\nline2", "SecureString")
    config = write_config(step(f"path: {root}/f\n                  format: {fmt}"))
    result = run(config, env)
    assert result.code == 0, result.output
    values = reader(tmp_path / "out/.env")
    assert values["QUOTE"] == "it's $HOME" and values["MULTI"] == "line1\nline2"
    assert stat.S_IMODE((tmp_path / "out/.env").stat().st_mode) == 0o600


def test_merge_keeps_the_files_other_keys(write_config, env, put, root, tmp_path):
    put(f"{root}/m/new", "fresh")
    (tmp_path / "out").mkdir()
    (tmp_path / "out/.env").write_text("MINE='kept'\nNEW='stale'\n")
    config = write_config(step(f"path: {root}/m\n                  mode: merge"))
    assert run(config, env).code == 0
    assert (tmp_path / "out/.env").read_text() == "MINE='kept'\nNEW='fresh'\n"


def test_no_parameter_value_appears_in_any_output_at_the_highest_verbosity(write_config, env, put, root, tmp_path):
    put(f"{root}/leak/a", "Param-Secret-Value", "SecureString")
    put(f"{root}/leak/b", "it's-$Unwritable-Param", "SecureString")
    good = write_config(step(f"names: [{root}/leak/a]"))
    bad = write_config(step(f"path: {root}/leak"), "bad.yaml")
    outputs = [run(good, env, "-vv"), run(bad, env, "-vv"), run(good, env, "-vv", "--dry-run")]
    assert [r.code for r in outputs] == [0, 1, 0]
    for result in outputs:
        assert "Param-Secret-Value" not in result.output and "$Unwritable-Param" not in result.output


def test_a_dry_run_lists_variables_and_sources_without_calling_aws(write_config, env, proxy, root, tmp_path):
    config = write_config(step(f"path: {root}/d\n                  names: [{root}/x/api-key]"))
    result = run(config, env, "--dry-run")
    assert result.code == 0, result.output
    assert f"* <- every parameter under {root}/d" in result.output
    assert f"API_KEY <- parameter {root}/x/api-key" in result.output
    assert proxy.count() == 0


def test_path_or_names_is_required_when_the_config_is_loaded(write_config, env):
    config = write_config(step("prefix: X_"))
    result = run_cli("-c", str(config), "validate", env=env)
    assert result.code == 2 and "give `path:`, `names:` or both" in result.output


# -- names a parameter may not choose ------------------------------------------------------------

@pytest.mark.parametrize("source", ["path", "names"])
def test_a_parameter_making_a_dangerous_name_is_refused_naming_it_and_nothing_is_written(
        write_config, env, put, root, tmp_path, source):
    put(f"{root}/app/api_url", "https://api.example")
    hostile = put(f"{root}/app/node_options", "--require /tmp/evil.js", "SecureString")
    options = f"path: {root}/app" if source == "path" else f"names: [{root}/app/api_url, {hostile}]"
    (tmp_path / "out").mkdir()
    (tmp_path / "out/.env").write_text("KEPT=1\n")
    config = write_config(step(options + "\n                  mode: merge"))

    result = run(config, env)

    assert result.code == 1, result.output
    assert (f"parameter {hostile} makes the variable name 'NODE_OPTIONS', read by Node.js, which secret content "
            "may not choose; set a `prefix`") in result.output
    assert "evil" not in result.output
    assert (tmp_path / "out/.env").read_text() == "KEPT=1\n"


def test_a_prefix_makes_a_parameters_name_safe(write_config, env, put, root, tmp_path):
    put(f"{root}/app/node_options", "--max-old-space-size=4096")
    config = write_config(step(f"path: {root}/app\n                  prefix: APP_"))
    result = run(config, env)
    assert result.code == 0, result.output
    assert read_with_python_dotenv(tmp_path / "out/.env") == {"APP_NODE_OPTIONS": "--max-old-space-size=4096"}
