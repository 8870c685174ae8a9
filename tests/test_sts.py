"""The STS exchange (automations/aws/sts.py) against moto behind the recording proxy: what is
asked of STS, what its answer becomes, and how each kind of failure is named. Session names
and the classification of every STS code are in test_aws_login_units.py."""
from __future__ import annotations

import contextlib
import os
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from automations.aws.clients import AwsAnswerError, AwsCredentials
from automations.aws.sts import (
    AssumeRoleRequest,
    StsRejected,
    StsThrottled,
    StsTransientError,
    _assumed_role,
    account_of,
    assume_role,
    assume_role_with_web_identity,
    classify,
    session_name_for,
)
from automations.errors import Cancelled

ROLE = "arn:aws:iam::123456789012:role/dev-env"
ASSUMED = "arn:aws:sts::123456789012:assumed-role/dev-env/env-9-1800000000"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJlbnY6OSJ9.c2ln"


def answer(**credentials: object) -> dict[str, object]:
    return {"Credentials": {"AccessKeyId": "ASIAEXAMPLE", "SecretAccessKey": "secret-key", "SessionToken": "token",
                            "Expiration": datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc), **credentials},
            "AssumedRoleUser": {"Arn": ASSUMED}}


# -- one call to STS -----------------------------------------------------------------------------

def test_a_login_asks_sts_for_the_role_with_the_token_and_gets_its_credentials(sts, aws_env):
    started = datetime.now(timezone.utc)
    request = AssumeRoleRequest(ROLE, "env-9-1800000000", duration_seconds=900, region="eu-west-1",
                                policy={"Version": "2012-10-17", "Statement": []},
                                policy_arns=("arn:aws:iam::aws:policy/ReadOnlyAccess",))

    role = assume_role_with_web_identity(TOKEN, request, aws_env)

    sent = sts.calls("AssumeRoleWithWebIdentity")[0].form()
    assert sent["RoleArn"] == ROLE and sent["RoleSessionName"] == "env-9-1800000000"
    assert sent["WebIdentityToken"] == TOKEN and sent["DurationSeconds"] == "900"
    assert sent["Policy"] == '{"Version":"2012-10-17","Statement":[]}'
    assert sent["PolicyArns.member.1.arn"] == "arn:aws:iam::aws:policy/ReadOnlyAccess"
    assert "Authorization" not in sts.calls("AssumeRoleWithWebIdentity")[0].headers  # unsigned: needs no credentials
    assert role.assumed_role_arn.startswith("arn:aws:sts::123456789012:assumed-role/dev-env/")
    assert role.account_id == "123456789012"
    assert role.credentials.access_key_id and role.credentials.secret_access_key and role.credentials.session_token
    assert timedelta(seconds=800) < role.expiration - started < timedelta(seconds=1000)


def test_a_login_without_a_policy_sends_none(sts, aws_env):
    assume_role_with_web_identity(TOKEN, AssumeRoleRequest(ROLE, "s-1"), aws_env)

    sent = sts.calls("AssumeRoleWithWebIdentity")[0].form()
    assert "Policy" not in sent and not any(name.startswith("PolicyArns") for name in sent)
    assert sent["DurationSeconds"] == "3600"


def test_a_login_in_a_region_asks_that_regions_sts(aws_env, monkeypatch):
    # Without an endpoint variable, the unsigned call shows its region only in the host it
    # goes to: seen here by an HTTPS proxy that refuses every CONNECT after noting its target.
    import socket

    listener = socket.create_server(("127.0.0.1", 0))
    targets: list[str] = []

    def refuse_connects() -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = listener.accept()
                with connection:
                    targets.append(connection.recv(4096).decode("latin-1").split(" ")[1])
                    connection.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")

    threading.Thread(target=refuse_connects, daemon=True).start()
    del aws_env["AWS_ENDPOINT_URL"]
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{listener.getsockname()[1]}")
    try:
        with pytest.raises(StsTransientError, match="^cannot reach STS: "):
            assume_role_with_web_identity(TOKEN, AssumeRoleRequest(ROLE, "s-1", region="eu-west-1"), aws_env)
    finally:
        listener.close()
    assert targets == ["sts.eu-west-1.amazonaws.com:443"]

def test_a_refusal_by_sts_is_fatal_and_says_what_it_means(sts, aws_env):
    sts.fail("AssumeRoleWithWebIdentity", status=403, code="AccessDenied", message="Not authorized")

    with pytest.raises(StsRejected) as raised:
        assume_role_with_web_identity(TOKEN, AssumeRoleRequest(ROLE, "s-1"), aws_env)
    assert str(raised.value) == ("the role's trust policy rejected this token: STS AccessDenied (HTTP 403): "
                                 "Not authorized")
    assert raised.value.code == "AccessDenied"


def test_throttling_by_sts_is_named_throttled(sts, aws_env):
    sts.fail("AssumeRoleWithWebIdentity", status=400, code="Throttling", message="Rate exceeded")

    with pytest.raises(StsThrottled, match=r"^STS Throttling \(HTTP 400\): Rate exceeded$"):
        assume_role_with_web_identity(TOKEN, AssumeRoleRequest(ROLE, "s-1"), aws_env)


def test_an_unreachable_sts_is_transient(aws_env):
    aws_env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"

    with pytest.raises(StsTransientError, match="^cannot reach STS: "):
        assume_role_with_web_identity(TOKEN, AssumeRoleRequest(ROLE, "s-1"), aws_env)


def test_a_server_error_from_sts_is_transient(sts, aws_env):
    sts.fail("AssumeRoleWithWebIdentity", status=500, code="InternalFailure")
    with pytest.raises(StsTransientError, match=r"^STS InternalFailure \(HTTP 500\)"):
        assume_role_with_web_identity(TOKEN, AssumeRoleRequest(ROLE, "s-1"), aws_env)


def test_a_call_is_ended_at_once_when_cancelled(sts, aws_env):
    sts.fail("AssumeRoleWithWebIdentity", delay=30)
    cancelled = threading.Event()
    threading.Timer(0.3, cancelled.set).start()
    started = time.monotonic()

    with pytest.raises(Cancelled):
        assume_role_with_web_identity(TOKEN, AssumeRoleRequest(ROLE, "s-1"), aws_env, cancelled)
    assert time.monotonic() - started < 10


# -- role chaining: AssumeRole signed with another role's credentials --------------------------------

DEPLOY_ROLE = "arn:aws:iam::444455556666:role/deploy"
SOURCE = AwsCredentials("ASIASOURCEKEY", "source-secret", "source-session-token")


def test_a_chained_login_asks_sts_signed_with_the_source_credentials(sts, aws_env):
    request = AssumeRoleRequest(DEPLOY_ROLE, "env-9-1800000000", duration_seconds=900, region="eu-west-1",
                                policy={"Version": "2012-10-17", "Statement": []},
                                policy_arns=("arn:aws:iam::aws:policy/ReadOnlyAccess",), external_id="partner-4711")

    role = assume_role(SOURCE, request, aws_env)

    [call] = sts.calls("AssumeRole")
    sent = call.form()
    assert sent["RoleArn"] == DEPLOY_ROLE and sent["RoleSessionName"] == "env-9-1800000000"
    assert sent["DurationSeconds"] == "900" and sent["ExternalId"] == "partner-4711"
    assert sent["Policy"] == '{"Version":"2012-10-17","Statement":[]}'
    assert sent["PolicyArns.member.1.arn"] == "arn:aws:iam::aws:policy/ReadOnlyAccess"
    assert "Credential=ASIASOURCEKEY/" in call.headers["authorization"] and "/eu-west-1/sts/" in call.headers["authorization"]
    assert call.headers["x-amz-security-token"] == "source-session-token"
    assert role.assumed_role_arn.startswith("arn:aws:sts::444455556666:assumed-role/deploy/")
    assert role.account_id == "444455556666"
    assert role.credentials.access_key_id != SOURCE.access_key_id


def test_a_chained_login_without_an_external_id_sends_none(sts, aws_env):
    assume_role(SOURCE, AssumeRoleRequest(DEPLOY_ROLE, "s-1"), aws_env)

    sent = sts.calls("AssumeRole")[0].form()
    assert "ExternalId" not in sent and "Policy" not in sent
    assert "/us-east-1/sts/" in sts.calls("AssumeRole")[0].headers["authorization"]  # no region: us-east-1


def test_a_chained_call_is_ended_at_once_when_cancelled(sts, aws_env):
    sts.fail("AssumeRole", delay=30)
    cancelled = threading.Event()
    threading.Timer(0.3, cancelled.set).start()
    started = time.monotonic()

    with pytest.raises(Cancelled):
        assume_role(SOURCE, AssumeRoleRequest(DEPLOY_ROLE, "s-1"), aws_env, cancelled)
    assert time.monotonic() - started < 10

@pytest.mark.parametrize(("code", "hint"), [
    ("AccessDenied", "the source role may not assume this role (the source needs sts:AssumeRole on it, "),
    ("ExpiredToken", "the source credentials have expired (log in again): "),
    ("InvalidClientTokenId", "the source credentials are not valid (log in again): "),
])
def test_a_chained_refusal_names_what_the_source_lacks(sts, aws_env, code, hint):
    sts.fail("AssumeRole", status=403, code=code, message="Not authorized")

    with pytest.raises(StsRejected) as raised:
        assume_role(SOURCE, AssumeRoleRequest(DEPLOY_ROLE, "s-1"), aws_env)
    assert str(raised.value).startswith(hint) and str(raised.value).endswith(f"STS {code} (HTTP 403): Not authorized")
    assert raised.value.code == code


# -- the answer, checked ---------------------------------------------------------------------------

def test_an_answer_becomes_the_credentials_the_role_and_its_account():
    role = _assumed_role(answer())

    assert (role.credentials.access_key_id, role.credentials.secret_access_key, role.credentials.session_token) == \
        ("ASIAEXAMPLE", "secret-key", "token")
    assert role.assumed_role_arn == ASSUMED and role.account_id == "123456789012"
    assert role.expiration == datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)


def test_an_expiration_given_as_text_or_in_another_zone_is_read_as_utc():
    east = timezone(timedelta(hours=2))
    assert _assumed_role(answer(Expiration="2030-01-01T12:00:00Z")).expiration == \
        datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)
    in_zone = _assumed_role(answer(Expiration=datetime(2030, 1, 1, 14, 0, tzinfo=east))).expiration
    assert in_zone == datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc) and in_zone.tzinfo == timezone.utc


@pytest.mark.parametrize("expiration", ["next tuesday", 1893499200])
def test_an_expiration_that_is_not_a_time_is_an_error(expiration):
    with pytest.raises(AwsAnswerError) as raised:
        _assumed_role(answer(Expiration=expiration))
    assert str(raised.value) == "STS AssumeRoleWithWebIdentity: the answer's Credentials.Expiration is not a time"


@pytest.mark.parametrize("field", ["AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"])
def test_each_missing_credential_field_is_named(field):
    response = answer()
    del response["Credentials"][field]  # type: ignore[attr-defined]
    with pytest.raises(AwsAnswerError) as raised:
        _assumed_role(response)
    assert str(raised.value) == f"STS AssumeRoleWithWebIdentity: the answer has no Credentials.{field}"


@pytest.mark.parametrize("user", [None, {}, {"Arn": ""}, {"Arn": 42}])
def test_an_answer_without_the_assumed_roles_arn_is_an_error(user):
    response = answer()
    response["AssumedRoleUser"] = user
    with pytest.raises(AwsAnswerError) as raised:
        _assumed_role(response)
    assert str(raised.value) == "STS AssumeRoleWithWebIdentity: the answer has no AssumedRoleUser.Arn"


def test_credentials_that_are_not_a_mapping_are_missing_every_field():
    with pytest.raises(AwsAnswerError) as raised:
        _assumed_role({"Credentials": "ASIA...", "AssumedRoleUser": {"Arn": ASSUMED}})
    assert str(raised.value) == ("STS AssumeRoleWithWebIdentity: the answer has no Credentials.AccessKeyId, "
                                 "Credentials.SecretAccessKey, Credentials.SessionToken, Credentials.Expiration")


@pytest.mark.parametrize(("arn", "account"), [(ASSUMED, "123456789012"), ("arn:aws:iam::210987654321:role/r", "210987654321"),
                                              ("arn:aws:sts::123", ""), ("not an arn", "")])
def test_the_account_is_the_fifth_field_of_an_arn(arn, account):
    assert account_of(arn) == account


# -- how each failure is named ---------------------------------------------------------------------

def client_error(response: dict[str, object]) -> ClientError:
    return ClientError(response, "AssumeRoleWithWebIdentity")  # type: ignore[arg-type]


def test_an_error_without_code_status_or_message_is_still_one_clear_line():
    error = classify(client_error({"Error": {}}))
    assert isinstance(error, StsRejected) and str(error) == "STS Unknown" and error.code == "Unknown"


def test_an_error_without_an_error_element_is_named_by_its_status():
    assert str(classify(client_error({"ResponseMetadata": {"HTTPStatusCode": 403}}))) == "STS Unknown (HTTP 403)"


@pytest.mark.parametrize(("code", "status", "kind"), [("Throttling", 400, StsThrottled),
                                                       ("IDPCommunicationError", 400, StsTransientError),
                                                       ("InternalError", 503, StsTransientError)])
def test_a_retried_error_keeps_the_whole_message(code, status, kind):
    error = classify(client_error({"Error": {"Code": code, "Message": "try later"},
                                   "ResponseMetadata": {"HTTPStatusCode": status}}))
    assert type(error) is kind and str(error) == f"STS {code} (HTTP {status}): try later"


def test_an_unknown_fatal_code_is_named_without_a_hint():
    error = classify(client_error({"Error": {"Code": "InvalidParameterValue", "Message": "bad"},
                                   "ResponseMetadata": {"HTTPStatusCode": 400}}))
    assert str(error) == "STS InvalidParameterValue (HTTP 400): bad"


def test_a_connection_failure_says_sts_could_not_be_reached():
    error = classify(EndpointConnectionError(endpoint_url="http://sts.example"))
    assert str(error) == 'cannot reach STS: Could not connect to the endpoint URL: "http://sts.example"'


def test_any_other_failure_names_its_type():
    error = classify(ValueError("odd"))
    assert isinstance(error, StsRejected) and str(error) == "STS call failed: ValueError: odd" and error.code is None


# -- session names and times -------------------------------------------------------------------------

def test_a_session_name_without_a_time_given_uses_the_clock(monkeypatch):
    monkeypatch.setattr(time, "time", lambda: 1_800_000_000.7)
    assert session_name_for({"sub": "org:o/prj:p/env:e-1"}) == "e-1-1800000000"


def test_a_session_name_keeps_non_ascii_letters_out():
    assert session_name_for({"environment_id": "café"}, now=1) == "caf--1"


def test_an_empty_environment_claim_is_passed_over():
    assert session_name_for({"environment_id": "", "workspace_id": "ws-1"}, now=1) == "ws-1-1"


def test_an_answer_from_sts_that_cannot_be_believed_says_it_came_from_sts(aws_env):
    from support.hostile_endpoint import HostileEndpoint

    with HostileEndpoint("incomplete") as endpoint:
        aws_env["AWS_ENDPOINT_URL"] = endpoint.url
        with pytest.raises(AwsAnswerError, match="^STS AssumeRoleWithWebIdentity: the answer has no "):
            assume_role_with_web_identity(TOKEN, AssumeRoleRequest(ROLE, "s-1"), aws_env)


@pytest.mark.parametrize("call", ["web identity", "chained"])
def test_an_html_page_for_an_answer_is_transient_and_says_it_came_from_sts(aws_env, call):
    # A captive portal or proxy answering 200 with its sign-in page: not STS's answer.
    from support.hostile_endpoint import HostileEndpoint

    from automations.aws.clients import TransientAwsAnswerError

    with HostileEndpoint("html-200") as endpoint:
        aws_env["AWS_ENDPOINT_URL"] = endpoint.url
        with pytest.raises(TransientAwsAnswerError, match="^STS ") as raised:
            if call == "chained":
                assume_role(SOURCE, AssumeRoleRequest(DEPLOY_ROLE, "s-1"), aws_env)
            else:
                assume_role_with_web_identity(TOKEN, AssumeRoleRequest(ROLE, "s-1"), aws_env)
    assert not str(raised.value).startswith("STS STS")


def test_an_incomplete_chained_answer_names_the_operation(aws_env):
    from support.hostile_endpoint import HostileEndpoint

    with HostileEndpoint("incomplete") as endpoint:
        aws_env["AWS_ENDPOINT_URL"] = endpoint.url
        with pytest.raises(AwsAnswerError, match="^STS AssumeRole: the answer has no "):
            assume_role(SOURCE, AssumeRoleRequest(DEPLOY_ROLE, "s-1"), aws_env)

def test_times_are_utc_whatever_the_machines_time_zone(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        east = timezone(timedelta(hours=2))
        role = _assumed_role(answer(Expiration=datetime(2030, 1, 1, 14, 0, tzinfo=east)))
        assert role.expiration.utcoffset() == timedelta(0)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_the_sts_client_of_a_step_without_a_region_is_us_east_1(monkeypatch, tmp_path):
    from automations.aws.sts import sts_client

    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    assert sts_client(None, {}).meta.region_name == "us-east-1"
