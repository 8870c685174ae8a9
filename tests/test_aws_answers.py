"""AWS answers are checked before they are believed, and every AWS call is bounded
(automations.aws.clients): the pieces, in process. The end-to-end proof against a real hostile
socket is tests/reliability/test_hostile_endpoints.py and test_bounded_calls.py."""
from __future__ import annotations

import threading
import time

import pytest
from support.hostile_endpoint import HostileEndpoint

from automations.aws.clients import (
    AwsAnswerError,
    TransientAwsAnswerError,
    answer_problem,
    bounded_call,
    client_config,
    create_client,
)
from automations.aws.secrets import _checked_parameters, _checked_secret
from automations.aws.sts import _assumed_role
from automations.errors import Cancelled, TransientError

SECRET = "s3cret-that-must-not-be-quoted"


@pytest.mark.parametrize("body, protocol, content_length, transient", [
    (b'{"SecretString": "' + SECRET.encode(), "json", None, True),            # cut inside a string
    (b'{"Parameters": [{"Value": "v"}', "json", None, True),                   # cut after a closing brace
    (b'{"SecretString": "\xe2\x82', "json", None, True),                      # a character cut in two
    (b'{"SecretString": "x"}', "json", "500", True),                           # shorter than Content-Length
    (b"<!DOCTYPE html><html><body>Sign in</body></html>", "json", None, True),
    (b"<HTML><body>Sign in</body></HTML>", "query", None, True),
    (b"<Response><Credentials><SecretAccessKey>" + SECRET.encode(), "query", None, True),
    (b"plain text from somewhere", "json", None, False),
    (b"[1, 2]", "json", None, False),
    (b"<a></b></a>", "query", None, False),
])
def test_an_answer_that_does_not_parse_is_named_transient_when_cut_off_or_html(body, protocol, content_length,
                                                                                 transient):
    problem = answer_problem(body, "", content_length, protocol)

    assert problem is not None
    what, cut_or_html = problem
    assert cut_or_html is transient
    assert SECRET not in what


@pytest.mark.parametrize("body, protocol", [(b'{"SecretString": "x"}', "json"), (b"<a><b>x</b></a>", "query"),
                                            (b"", "json")])
def test_an_answer_that_parses_passes(body, protocol):
    assert answer_problem(body, "application/json", str(len(body)), protocol) is None


def test_sts_credentials_without_a_session_token_are_an_error_naming_the_field_not_the_key():
    response = {"Credentials": {"AccessKeyId": "ASIA0000", "SecretAccessKey": SECRET, "Expiration": "2030-01-01T00:00:00Z"},
                "AssumedRoleUser": {"Arn": "arn:aws:sts::123456789012:assumed-role/r/s"}}

    with pytest.raises(AwsAnswerError) as raised:
        _assumed_role(response)

    assert "Credentials.SessionToken" in str(raised.value) and SECRET not in str(raised.value)
    assert not isinstance(raised.value, TransientError)


def test_an_sts_answer_without_credentials_is_an_error():
    with pytest.raises(AwsAnswerError, match="no Credentials.AccessKeyId, .*AssumedRoleUser.Arn"):
        _assumed_role({})


def test_a_secret_without_a_value_is_an_error_never_an_empty_value():
    with pytest.raises(AwsAnswerError, match="app/db has no SecretString and no SecretBinary"):
        _checked_secret({"Name": "app/db", "ARN": "arn:..."}, "GetSecretValue")


def test_an_ssm_answer_without_parameters_is_an_error_never_zero_variables():
    with pytest.raises(AwsAnswerError, match="GetParametersByPath: the answer has no Parameters"):
        _checked_parameters({}, "GetParametersByPath")
    with pytest.raises(AwsAnswerError, match="/app/x has no Value"):
        _checked_parameters({"Parameters": [{"Name": "/app/x"}]}, "GetParameters")


def test_a_blocked_call_ends_at_once_when_cancelled():
    cancelled = threading.Event()
    threading.Timer(0.2, cancelled.set).start()
    started = time.monotonic()

    with pytest.raises(Cancelled):
        bounded_call(lambda: threading.Event().wait(30), "Blocked", cancelled=cancelled, deadline=60)

    assert time.monotonic() - started < 5  # about 0.25 s


def test_a_call_past_its_deadline_is_a_transient_error():
    with pytest.raises(TransientAwsAnswerError, match="Blocked: no complete answer within 0.3s"):
        bounded_call(lambda: threading.Event().wait(30), "Blocked", deadline=0.3)


def test_a_call_returns_its_value_or_raises_its_error():
    assert bounded_call(lambda: 42, "Quick") == 42
    with pytest.raises(KeyError):
        bounded_call(lambda: {}["missing"], "Failing")


def test_botocore_parse_errors_which_quote_the_body_are_replaced():
    from botocore.parsers import ResponseParserError

    def parse_fails() -> None:
        raise ResponseParserError(f"Unable to parse response, invalid XML received:\n{SECRET}")

    with pytest.raises(TransientAwsAnswerError) as raised:
        bounded_call(parse_fails, "AssumeRoleWithWebIdentity")

    assert SECRET not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_an_abandoned_call_has_its_connection_shut_down_so_its_thread_ends(monkeypatch):
    """Against a real hung socket, with a read timeout of 60 s: the thread blocked in the
    read ends as soon as the call is abandoned, not when the read timeout fires."""
    from botocore import UNSIGNED

    monkeypatch.setenv("AUTOMATIONS_AWS_READ_TIMEOUT", "60")
    cancelled = threading.Event()
    with HostileEndpoint("hang") as endpoint:
        client = create_client("sts", region_name="us-east-1", endpoint_url=endpoint.url, cancelled=cancelled,
                               config=client_config(signature_version=UNSIGNED))
        threading.Timer(0.5, cancelled.set).start()
        with pytest.raises(Cancelled):
            client.assume_role_with_web_identity(RoleArn="arn:aws:iam::123456789012:role/r", RoleSessionName="session",
                                                 WebIdentityToken="t" * 20)
        assert endpoint.count("AssumeRoleWithWebIdentity") == 1

        def call_threads() -> list[threading.Thread]:
            return [t for t in threading.enumerate() if t.name == "aws AssumeRoleWithWebIdentity"]

        ends = time.monotonic() + 10  # about 0.1 s
        while call_threads() and time.monotonic() < ends:
            time.sleep(0.05)
        assert call_threads() == []
