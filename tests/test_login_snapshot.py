"""The login snapshot that `automations aws credential-process` refreshes from
(automations/aws/login.py): it holds everything a login needs, comes back the same, and
anything but a snapshot this version wrote is refused, since it says which command to run."""
from __future__ import annotations

import copy
import json

import pytest

from automations.aws.clients import AwsCredentials
from automations.aws.login import ChainedRoleLogin, RoleLogin, SnapshotError, WebIdentityLogin, credential_variables
from automations.retry import RetryPolicies, RetryPolicy

LOGIN = WebIdentityLogin(
    config="/repo/automations.yaml", task="aws", role_arn="arn:aws:iam::123456789012:role/dev",
    token={"command": ["gp", "idp", "token"], "timeout": 10, "cwd": None}, audience="sts.amazonaws.com",
    duration_seconds=900, session_name="me-1", region="eu-west-1", policy={"Version": "2012-10-17"},
    policy_arns=("arn:aws:iam::aws:policy/ReadOnlyAccess",), allowed_account_ids=("123456789012",),
    sts_endpoint="http://127.0.0.1:1", min_remaining=300,
    retry_policy=RetryPolicies(transient=RetryPolicy(attempts=4, initial_delay=0.5, max_delay=8.0, deadline=60.0),
                               throttled=RetryPolicy(attempts=6, initial_delay=2.0, max_delay=30.0)))


def test_a_snapshot_comes_back_as_the_same_login():
    again = WebIdentityLogin.from_snapshot(LOGIN.snapshot())
    assert again.snapshot() == LOGIN.snapshot()
    assert (again.config, again.task, again.role_arn, again.token, again.audience, again.duration_seconds,
            again.session_name, again.region, again.policy, again.policy_arns, again.allowed_account_ids,
            again.sts_endpoint, again.min_remaining) == (
        LOGIN.config, LOGIN.task, LOGIN.role_arn, LOGIN.token, LOGIN.audience, LOGIN.duration_seconds,
        LOGIN.session_name, LOGIN.region, LOGIN.policy, LOGIN.policy_arns, LOGIN.allowed_account_ids,
        LOGIN.sts_endpoint, LOGIN.min_remaining)
    assert again.retry_policy == LOGIN.retry_policy


@pytest.mark.parametrize("token", [None, {"file": "/var/run/token"}, {"env": "MY_TOKEN"},
                                   {"command": ["sh", "-c", "x"], "timeout": 2.5, "cwd": "/repo"}])
def test_every_kind_of_token_survives_a_snapshot(token):
    login = WebIdentityLogin(config="c", task="t", role_arn="r", token=token, audience="a", duration_seconds=900)
    assert WebIdentityLogin.from_snapshot(login.snapshot()).token == token


def changed(path: tuple[str, ...], value: object) -> dict[str, object]:
    snapshot = copy.deepcopy(LOGIN.snapshot())
    target = snapshot
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return snapshot


@pytest.mark.parametrize(("path", "value"), [
    (("version",), 0), (("version",), KeyError), (("roleArn",), None), (("roleArn",), 7), (("task",), KeyError),
    (("durationSeconds",), "900"), (("durationSeconds",), True), (("sessionName",), 1), (("region",), ["eu"]),
    (("policy",), "{}"), (("policyArns",), "arn"), (("policyArns",), [1]), (("allowedAccountIds",), [None]),
    (("stsEndpoint",), 1), (("minRemaining",), None), (("retry",), None), (("retry", "throttled"), KeyError),
    (("retry", "transient", "attempts"), "4"), (("retry", "transient", "colour"), 1),
    (("token",), {"command": "gp idp token", "timeout": 10, "cwd": None}),
    (("token",), {"command": [], "timeout": 10, "cwd": None}),
    (("token",), {"command": ["gp", 1], "timeout": 10, "cwd": None}),
    (("token",), {"command": ["gp"], "timeout": "10", "cwd": None}),
    (("token",), {"command": ["gp"], "timeout": 10, "cwd": 1}),
    (("token",), {"command": ["gp"], "timeout": 10}),
    (("token",), {"command": ["gp"], "timeout": 10, "cwd": None, "shell": True}),
    (("token",), {"file": 1}), (("token",), {"url": "http://x"}), (("token",), {"file": "/t", "env": "X"}),
    (("token",), "gp idp token"),
])
def test_anything_but_a_snapshot_this_version_wrote_is_refused(path, value):
    with pytest.raises(SnapshotError, match="^the cache holds no usable login snapshot$"):
        WebIdentityLogin.from_snapshot(changed(path, value))


def test_something_that_is_not_a_mapping_is_no_snapshot():
    for data in (None, [], "snapshot", 1):
        with pytest.raises(SnapshotError):
            WebIdentityLogin.from_snapshot(data)


CHAINED = ChainedRoleLogin(source={"cache": "/home/dev/.cache/automations/aws-credentials-1.json"},
                           external_id="partner-4711", config="/repo/automations.yaml", task="prod",
                           role_arn="arn:aws:iam::444455556666:role/deploy", duration_seconds=3600)


@pytest.mark.parametrize("source", [{"cache": "/c.json"}, {"profile": "hub"}])
@pytest.mark.parametrize("external_id", ["partner-4711", None])
def test_a_chained_snapshot_comes_back_as_the_same_login(source, external_id):
    login = ChainedRoleLogin(source=source, external_id=external_id, config="c", task="t", role_arn="r",
                             duration_seconds=900)

    again = RoleLogin.from_snapshot(login.snapshot())

    assert isinstance(again, ChainedRoleLogin) and again.snapshot() == login.snapshot()
    assert (again.source, again.external_id) == (source, external_id)


@pytest.mark.parametrize(("field", "value"), [
    ("source", {"cache": "/c.json", "profile": "hub"}), ("source", {}), ("source", {"cache": 5}),
    ("source", {"url": "/c.json"}), ("source", "hub"), ("externalId", 4711), ("externalId", KeyError),
    ("kind", "assume-roles"),
])
def test_anything_but_a_chained_snapshot_this_version_wrote_is_refused(field, value):
    snapshot = copy.deepcopy(CHAINED.snapshot())
    if value is KeyError:
        del snapshot[field]
    else:
        snapshot[field] = value
    with pytest.raises(SnapshotError, match="^the cache holds no usable login snapshot$"):
        RoleLogin.from_snapshot(snapshot)


def test_a_snapshot_of_one_kind_is_refused_as_the_other():
    with pytest.raises(SnapshotError):
        WebIdentityLogin.from_snapshot(CHAINED.snapshot())
    with pytest.raises(SnapshotError):
        ChainedRoleLogin.from_snapshot(LOGIN.snapshot())
    assert isinstance(RoleLogin.from_snapshot(LOGIN.snapshot()), WebIdentityLogin)

def test_credentials_become_the_variables_sdks_read_first():
    credentials = AwsCredentials("AKIA", "secret", "token")
    assert credential_variables(credentials, "eu-west-1") == {
        "AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "token",
        "AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1"}
    assert credential_variables(AwsCredentials("AKIA", "secret", None), None) == {
        "AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": ""}


def test_credentials_for_an_account_not_allowed_are_refused_naming_both():
    from automations.errors import StepFailed

    with pytest.raises(StepFailed) as refused:
        LOGIN.check_account("999999999999")
    assert str(refused.value) == ("the credentials are for account 999999999999, which is not in allowedAccountIds "
                                  "(123456789012); nothing was written")
    LOGIN.check_account("123456789012")
    WebIdentityLogin(config="c", task="t", role_arn="r", token=None, audience="a",
                     duration_seconds=900).check_account("999999999999")  # no list: any account
    two = WebIdentityLogin(config="c", task="t", role_arn="r", token=None, audience="a", duration_seconds=900,
                           allowed_account_ids=("111111111111", "222222222222"))
    with pytest.raises(StepFailed, match=r"allowedAccountIds \(111111111111, 222222222222\); nothing was written$"):
        two.check_account("999999999999")
    two.check_account("222222222222")


def test_a_refusal_by_the_trust_policy_names_the_tokens_claims_sorted(sts, aws_env, tmp_path):
    from support.jwts import make_token

    from automations.aws.sts import StsRejected

    token_file = tmp_path / "token"
    token_file.write_text(make_token(sub="org:o/prj:p/env:e", aud="sts.amazonaws.com", zz="last", aa="first"))
    login = WebIdentityLogin(config="c", task="aws", role_arn="arn:aws:iam::123456789012:role/dev",
                             token={"file": str(token_file)}, audience="sts.amazonaws.com", duration_seconds=900)
    sts.fail("AssumeRoleWithWebIdentity", status=403, code="AccessDenied", message="Not authorized")

    with pytest.raises(StsRejected) as refused:
        login.assume_role(aws_env)
    message = str(refused.value)
    assert message.startswith("the role's trust policy rejected this token: STS AccessDenied (HTTP 403): "
                              "Not authorized -- role arn:aws:iam::123456789012:role/dev; the token's claims: {")
    claims = message.split("the token's claims: ", 1)[1].split("; compare them", 1)[0]
    assert list(json.loads(claims)) == sorted(json.loads(claims))


def test_credentials_expire_within_the_margin_up_to_and_including_its_last_second(monkeypatch):
    import time

    from automations.aws.login import expires_within
    from automations.timefmt import utc_stamp

    monkeypatch.setattr(time, "time", lambda: 1_800_000_000.0)
    assert expires_within(utc_stamp(1_800_000_600), 600)
    assert not expires_within(utc_stamp(1_800_000_601), 600)
    assert expires_within(utc_stamp(1_799_999_000), 0)  # already past


@pytest.mark.parametrize("expiration", ["2099-01-31 12:00:00", "2099-01-31T12:00:00+00:00", "soon", ""])
def test_an_expiration_in_any_other_form_means_refresh(expiration):
    from automations.aws.login import expires_within

    assert expires_within(expiration, 0)


def web_identity_login(tmp_path, token: str) -> WebIdentityLogin:
    (tmp_path / "token").write_text(token)
    return WebIdentityLogin(token={"file": str(tmp_path / "token")}, audience="sts.amazonaws.com", config="c",
                            task="login", role_arn="arn:aws:iam::123456789012:role/dev", duration_seconds=900)


def test_a_login_tells_the_token_and_the_new_keys_as_secrets_the_moment_it_holds_them(sts, aws_env, tmp_path):
    from support.jwts import make_token

    token = make_token()
    told: list[str | None] = []

    assumed = web_identity_login(tmp_path, token).assume_role(aws_env, secret=told.append)

    assert told[0] == token  # before anything else is done with it
    assert {assumed.credentials.secret_access_key, assumed.credentials.session_token} <= set(told)


def test_a_login_ends_at_once_when_cancelled_while_sts_answers_slowly(sts, aws_env, tmp_path):
    import threading
    import time

    from support.jwts import make_token

    from automations.errors import Cancelled

    sts.fail("AssumeRoleWithWebIdentity", delay=30)
    cancelled = threading.Event()
    threading.Timer(0.3, cancelled.set).start()
    started = time.monotonic()

    with pytest.raises(Cancelled):
        web_identity_login(tmp_path, make_token()).assume_role(aws_env, cancelled=cancelled)
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("code", ["AccessDenied", "IDPRejectedClaim"])
def test_a_trust_policy_refusal_keeps_its_code_and_says_how_to_compare_the_claims(sts, aws_env, tmp_path, code):
    from support.jwts import make_token

    from automations.aws.sts import StsRejected

    sts.fail("AssumeRoleWithWebIdentity", status=403, code=code, message="Not authorized")

    with pytest.raises(StsRejected) as refused:
        web_identity_login(tmp_path, make_token()).assume_role(aws_env)

    assert refused.value.code == code
    assert "compare them with the role's trust policy (automations token --task login --decode)" in str(refused.value)
    assert "`automations aws check-trust --role dev --task login` compare them" in str(refused.value)
