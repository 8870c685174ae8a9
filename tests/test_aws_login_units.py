"""The pieces of aws-login that need no server: session names, how STS errors are
classified, and which options the loader refuses (reported at their position)."""
from __future__ import annotations

import os
import re

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoRegionError,
    ParamValidationError,
    ReadTimeoutError,
)
from support.cli import run_cli

from automations.aws.declarations import SESSION_NAME_PATTERN
from automations.aws.sts import (
    StsRejected,
    StsTransientError,
    classify,
    session_name_for,
    sts_client,
)
from automations.errors import StepFailed, ThrottledError, TransientError

NOW = 1_800_000_000


def client_error(code: str, status: int, message: str = "m") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "AssumeRoleWithWebIdentity")


# -- session names -----------------------------------------------------------------------------

def test_session_name_takes_the_environment_id_from_sub():
    claims = {"sub": "org:o-1/prj:p-2/env:e-3"}

    assert session_name_for(claims, NOW) == f"e-3-{NOW}"


@pytest.mark.parametrize("claim", ["environment_id", "workspace_id"])
def test_session_name_takes_a_flat_environment_claim(claim):
    claims = {"sub": "organization_id:o:project_id:p", claim: "abc123"}

    assert session_name_for(claims, NOW) == f"abc123-{NOW}"


def test_session_name_without_an_environment_still_has_the_time():
    assert session_name_for({"sub": "repo:me/x"}, NOW) == f"automations-{NOW}"


def test_session_name_is_sanitised_and_at_most_64_characters_keeping_the_time():
    name = session_name_for({"environment_id": "a b/c:d" + "x" * 100}, NOW)

    assert re.fullmatch(SESSION_NAME_PATTERN, name)
    assert len(name) == 64
    assert name.startswith("a-b-c-d") and name.endswith(f"-{NOW}")


# -- error classification: exactly the lists ---------------------------------------------

@pytest.mark.parametrize("code", ["IDPCommunicationError", "InvalidIdentityToken", "ExpiredTokenException"])
def test_transient_sts_codes(code):
    error = classify(client_error(code, 400))
    assert isinstance(error, StsTransientError) and not isinstance(error, ThrottledError)


@pytest.mark.parametrize("code", ["Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException"])
def test_throttling_sts_codes(code):
    assert isinstance(classify(client_error(code, 400)), ThrottledError)


def test_http_429_is_throttled():
    assert isinstance(classify(client_error("Whatever", 429)), ThrottledError)


def test_any_5xx_is_transient():
    assert isinstance(classify(client_error("Whatever", 502)), TransientError)


def test_the_profile_the_task_names_is_the_one_that_may_not_exist_yet(no_aws_settings, monkeypatch, tmp_path):
    # The shell's $AWS_PROFILE (another profile, with its own endpoint) is not the task's: the
    # task's names the profile its aws-login is about to write, so the client uses neither.
    (tmp_path / "config").write_text("[profile shell-profile-of-this-test]\nendpoint_url = http://127.0.0.1:1\n")
    monkeypatch.setenv("AWS_PROFILE", "shell-profile-of-this-test")

    client = sts_client("eu-west-1", {"AWS_PROFILE": "written-by-this-tests-login"})

    assert client.meta.endpoint_url == "https://sts.eu-west-1.amazonaws.com"

@pytest.mark.parametrize("error", [
    EndpointConnectionError(endpoint_url="http://x"),
    ConnectTimeoutError(endpoint_url="http://x"),
    ReadTimeoutError(endpoint_url="http://x"),
])
def test_connection_errors_and_timeouts_are_transient(error):
    assert isinstance(classify(error), StsTransientError)


@pytest.mark.parametrize("code", ["AccessDenied", "IDPRejectedClaim", "ValidationError", "MalformedPolicyDocument",
                                  "PackedPolicyTooLarge", "RegionDisabledException", "InvalidParameterValue"])
def test_fatal_sts_codes(code):
    error = classify(client_error(code, 403 if code == "AccessDenied" else 400))

    assert isinstance(error, StsRejected) and not isinstance(error, TransientError)
    assert error.code == code


def test_a_fatal_message_names_the_code_and_says_what_it_means():
    message = str(classify(client_error("MalformedPolicyDocument", 400, "bad policy")))

    assert message == "the session policy is not a valid policy document: STS MalformedPolicyDocument (HTTP 400): bad policy"


# -- options refused at load time ------------------------------------------------------------------

@pytest.mark.parametrize("options, message", [
    ("durationSeconds: 600", "600 is out of range: must be at least 900 and at most 43200"),
    ("{durationSeconds: 900, minRemaining: 900}", "must be less than durationSeconds"),
    ("allowedAccountIds: ['12345']", "not a 12-digit AWS account id"),
    ("sessionName: 'has space'", "not a role session name"),
    ("region: Europe", "not an AWS region"),
    ("credentials: keychain", "expected one of file | process"),
    ("token: {url: https://x}", "expected {command, timeout} | {file} | {env}, got a mapping"),
    ("policyArns: [ReadOnlyAccess]", "not a policy ARN"),
])
def test_validate_refuses_bad_options_at_their_position(write_config, base_env, options, message):
    with_ = options if options.startswith("{") else "{" + options + "}"
    config = write_config(f"""
        tasks:
          login:
            steps:
              - uses: aws-login
                with: {with_}
    """)

    result = run_cli("-c", str(config), "validate", env=base_env)

    assert result.code == 2, result.output
    assert re.search(r"automations\.yaml:\d+:\d+: aws-login: ", result.stderr), result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_templated_options_wait_for_run_time(write_config, base_env):
    config = write_config("""
        tasks:
          login:
            steps:
              - uses: aws-login
                with:
                  roleArn: ${AWS_ROLE_ARN}
                  region: ${AWS_REGION:-eu-west-1}
                  durationSeconds: ${DURATION:-3600}
    """)

    result = run_cli("-c", str(config), "validate", env=base_env)

    assert result.code == 0, result.output


def test_the_repositorys_own_automations_yaml_validates_without_aws_role_arn(base_env):
    from pathlib import Path

    result = run_cli("validate", cwd=Path(__file__).parent.parent, env=base_env)

    assert result.code == 0, result.output


def test_dry_run_describes_the_login_without_doing_it(write_config, base_env):
    config = write_config("""
        tasks:
          login:
            steps:
              - uses: aws-login
                with: {roleArn: "arn:aws:iam::111122223333:role/r", profile: dev, credentials: process}
    """)

    result = run_cli("-c", str(config), "run", "--dry-run", "login", env=base_env)

    assert result.code == 0, result.output
    assert "assume arn:aws:iam::111122223333:role/r with the token from the default token chain" in result.stdout
    assert "write profile 'dev' (a credential_process)" in result.stdout


# -- the STS client ------------------------------------------------------------------------------------

@pytest.fixture
def no_aws_settings(monkeypatch, tmp_path):
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))


def test_the_sts_client_uses_the_regional_endpoint(no_aws_settings):
    assert sts_client("eu-west-1", {}).meta.endpoint_url == "https://sts.eu-west-1.amazonaws.com"


def test_the_sts_client_honours_the_endpoint_variables_of_the_task_environment(no_aws_settings):
    assert sts_client("eu-west-1", {"AWS_ENDPOINT_URL": "http://127.0.0.1:1"}).meta.endpoint_url == "http://127.0.0.1:1"
    assert sts_client(None, {"AWS_ENDPOINT_URL": "http://a:1", "AWS_ENDPOINT_URL_STS": "http://b:2"}) \
        .meta.endpoint_url == "http://b:2"


def test_the_sts_client_is_unsigned(no_aws_settings):
    from botocore import UNSIGNED

    assert sts_client("us-east-1", {}).meta.config.signature_version is UNSIGNED


def test_a_signed_sts_client_signs_with_the_credentials_given_at_the_same_endpoint(no_aws_settings):
    from botocore import UNSIGNED

    from automations.aws.clients import AwsCredentials

    env = {"AWS_ENDPOINT_URL_STS": "http://b:2"}
    client = sts_client("eu-west-1", env, signed_by=AwsCredentials("AKIASOURCE", "source-secret", "source-token"))

    assert client.meta.config.signature_version is not UNSIGNED
    assert client.meta.endpoint_url == "http://b:2" and client.meta.region_name == "eu-west-1"
    frozen = client._request_signer._credentials.get_frozen_credentials()
    assert (frozen.access_key, frozen.secret_key, frozen.token) == ("AKIASOURCE", "source-secret", "source-token")
    assert sts_client(None, {}, signed_by=AwsCredentials("A", "S", "T")).meta.region_name == "us-east-1"

def test_an_aws_profile_that_does_not_exist_yet_does_not_stop_the_client(no_aws_settings, monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "not-written-yet")

    assert sts_client("us-east-1", {"AWS_PROFILE": "not-written-yet"}).meta.region_name == "us-east-1"


@pytest.mark.parametrize("error", [
    ParamValidationError(report="Invalid length for parameter RoleSessionName, value: 1, valid min length: 2"),
    NoRegionError(),
], ids=["ParamValidationError", "NoRegionError"])
def test_errors_botocore_raises_before_sending_anything_are_fatal(error):
    """Nothing went over the network: another attempt would fail the same way."""
    from automations.aws.clients import is_transient_aws_error
    from automations.aws.secrets import aws_errors

    assert isinstance(classify(error), StsRejected) and not isinstance(classify(error), TransientError)
    assert not is_transient_aws_error(error)
    with pytest.raises(StepFailed) as raised, aws_errors("secretsmanager", "prod/app"):
        raise error
    assert not isinstance(raised.value, TransientError)
