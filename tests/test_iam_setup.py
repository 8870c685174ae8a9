"""`automations aws setup` against the moto server (real HTTP): it creates the OIDC provider,
the role and the secrets policy; a second run changes nothing and says so; --dry-run only
plans. Every document is checked against IAM's rules first, because moto accepts more."""
from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from support.cli import run_cli
from support.proxy import FaultProxy

from automations.aws.iam_setup import IamSetup, SetupRequest, secret_resource, secrets_policy
from automations.aws.trust.generate import trust_policy

ACCOUNT = "123456789012"   # moto's account
ORG, PRJ = "org-a", "prj-1"
READ_ONLY = {"ListOpenIDConnectProviders", "GetOpenIDConnectProvider", "GetRole", "GetRolePolicy",
             "GetCallerIdentity"}


@pytest.fixture
def env(aws_env: dict[str, str]) -> dict[str, str]:
    """An administrator's (fake) credentials for the moto server."""
    aws_env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_SESSION_TOKEN="testing")
    return aws_env


@pytest.fixture
def names() -> dict[str, str]:
    """A provider and role of this test's own: the moto server is shared by the session."""
    unique = uuid.uuid4().hex[:10]
    return {"provider": f"oidc-{unique}.example.com", "role": f"gitpod-{unique}"}


def iam(moto_endpoint: str) -> Any:
    return boto3.client("iam", endpoint_url=moto_endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def setup_args(names: dict[str, str], *extra: str) -> list[str]:
    return ["aws", "setup", "--role", names["role"], "--account", ACCOUNT, "--provider", names["provider"],
            "--org", ORG, "--project", PRJ, *extra]


def secret_arn(name: str) -> str:
    return f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{name}"


def test_setup_creates_the_provider_the_role_and_the_secrets_policy(env, names, moto_endpoint) -> None:
    result = run_cli(*setup_args(names, "--secret", secret_arn("db-AbC123"), "--max-session-duration", "7200"), env=env)
    assert result.code == 0, result.output
    assert "changed: create OIDC provider" in result.stdout and "changed: create role" in result.stdout
    client = iam(moto_endpoint)
    provider = client.get_open_id_connect_provider(
        OpenIDConnectProviderArn=f"arn:aws:iam::{ACCOUNT}:oidc-provider/{names['provider']}")
    assert provider["ClientIDList"] == ["sts.amazonaws.com"]
    role = client.get_role(RoleName=names["role"])["Role"]
    assert role["AssumeRolePolicyDocument"] == trust_policy(ACCOUNT, names["provider"], "sts.amazonaws.com",
                                                            [f"org:{ORG}/prj:{PRJ}/*"])
    assert role["MaxSessionDuration"] == 7200
    inline = client.get_role_policy(RoleName=names["role"], PolicyName="automations-secrets")["PolicyDocument"]
    assert inline["Statement"][0]["Resource"] == [secret_arn("db-AbC123")]


def test_a_second_run_changes_nothing_and_says_so(env, names, moto_endpoint) -> None:
    args = setup_args(names, "--secret", secret_arn("db"))
    assert run_cli(*args, env=env).code == 0
    with FaultProxy(moto_endpoint) as proxy:
        second = run_cli(*args, env={**env, "AWS_ENDPOINT_URL": proxy.url})
        actions = {r.action for r in proxy.requests}
    assert second.code == 0, second.output
    assert second.stdout.startswith("nothing to change")
    assert actions <= READ_ONLY, actions


def test_a_changed_scope_updates_only_the_trust_policy(env, names, moto_endpoint) -> None:
    assert run_cli(*setup_args(names), env=env).code == 0
    wider = ["aws", "setup", "--role", names["role"], "--account", ACCOUNT, "--provider", names["provider"],
             "--org", ORG]
    with FaultProxy(moto_endpoint) as proxy:
        result = run_cli(*wider, env={**env, "AWS_ENDPOINT_URL": proxy.url})
        writes = {r.action for r in proxy.requests} - READ_ONLY
    assert result.code == 0, result.output
    assert writes == {"UpdateAssumeRolePolicy"}
    policy = iam(moto_endpoint).get_role(RoleName=names["role"])["Role"]["AssumeRolePolicyDocument"]
    assert policy["Statement"][0]["Condition"]["StringLike"] == {f"{names['provider']}:sub": f"org:{ORG}/*"}


def test_dry_run_prints_the_plan_and_changes_nothing(env, names, moto_endpoint) -> None:
    result = run_cli(*setup_args(names, "--secret", secret_arn("db"), "--dry-run"), env=env)
    assert result.code == 0, result.output
    assert "would create role" in result.stdout and "nothing was changed" in result.stdout
    assert f'"{names["provider"]}:sub": "org:{ORG}/prj:{PRJ}/*"' in result.stdout
    assert secret_arn("db-??????") in result.stdout
    with pytest.raises(iam(moto_endpoint).exceptions.NoSuchEntityException):
        iam(moto_endpoint).get_role(RoleName=names["role"])


def test_credentials_of_another_account_are_refused_before_any_change(env, names, moto_endpoint) -> None:
    args = ["aws", "setup", "--role", names["role"], "--account", "999999999999", "--provider", names["provider"],
            "--org", ORG]
    result = run_cli(*args, env=env)
    assert result.code == 2
    assert "999999999999" in result.stderr and ACCOUNT in result.stderr
    with pytest.raises(iam(moto_endpoint).exceptions.NoSuchEntityException):
        iam(moto_endpoint).get_role(RoleName=names["role"])


def test_iam_refusing_a_call_is_one_line_and_exit_1(env, names, moto_endpoint) -> None:
    with FaultProxy(moto_endpoint) as proxy:
        proxy.fail(action="CreateRole", status=403, code="AccessDenied", message="not allowed to iam:CreateRole")
        result = run_cli(*setup_args(names), env={**env, "AWS_ENDPOINT_URL": proxy.url})
    assert result.code == 1
    assert "iam:CreateRole was refused (AccessDenied)" in result.stderr
    assert "Traceback" not in result.output


def test_without_credentials_setup_says_what_it_needs(aws_env, names) -> None:
    result = run_cli(*setup_args(names), env=aws_env)
    assert result.code == 1
    assert "no AWS credentials" in result.stderr


@pytest.mark.parametrize("extra, message", [
    (["--secret", "my-secret"], "--secret: 'my-secret' is not a secret ARN"),
    (["--max-session-duration", "60"], "--max-session-duration: 60"),
    (["--chain-to", "arn:aws:iam::444455556666:user/deploy"], "--chain-to: 'arn:aws:iam::444455556666:user/deploy' "
                                                             "is not a role ARN"),
])
def test_bad_setup_options_are_refused_before_any_call(env, names, extra, message) -> None:
    result = run_cli(*setup_args(names, *extra), env={**env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert result.code == 2
    assert message in result.stderr


def test_a_bad_role_name_is_refused(env, names) -> None:
    result = run_cli("aws", "setup", "--role", "no spaces", "--account", ACCOUNT, "--org", ORG, env=env)
    assert result.code == 2 and "--role" in result.stderr


def test_a_trust_policy_iam_would_reject_is_never_sent_though_moto_accepts_it(env, names, moto_endpoint) -> None:
    patterns = [f"org:{ORG}/prj:project-number-{i:04d}/*" for i in range(80)]
    oversized = trust_policy(ACCOUNT, names["provider"], "sts.amazonaws.com", patterns)
    client = iam(moto_endpoint)
    # moto takes it (IAM would answer LimitExceeded: 2048 characters for a trust policy)...
    client.create_role(RoleName=names["role"] + "-moto", AssumeRolePolicyDocument=json.dumps(oversized))
    # ...our setup does not send it.
    args = ["aws", "setup", "--role", names["role"], "--account", ACCOUNT, "--provider", names["provider"],
            "--sub", *patterns]
    result = run_cli(*args, env=env)
    assert result.code == 2 and "2048" in result.stderr
    with pytest.raises(client.exceptions.NoSuchEntityException):
        client.get_role(RoleName=names["role"])


def test_a_role_made_by_setup_admits_the_token_it_was_made_for(env, names, tmp_path: Path) -> None:
    import jwt

    assert run_cli(*setup_args(names), env=env).code == 0
    claims = {"iss": f"https://{names['provider']}", "aud": "sts.amazonaws.com", "sub": f"org:{ORG}/prj:{PRJ}/env:e1",
              "exp": 4102444800}
    mine, theirs = tmp_path / "mine.jwt", tmp_path / "theirs.jwt"
    mine.write_text(jwt.encode(claims, "k" * 32, algorithm="HS256"))
    theirs.write_text(jwt.encode({**claims, "sub": f"org:org-b/prj:{PRJ}/env:e1"}, "k" * 32, algorithm="HS256"))
    allowed = run_cli("aws", "check-trust", "--role", names["role"], "--token-file", str(mine), env=env)
    denied = run_cli("aws", "check-trust", "--role", names["role"], "--token-file", str(theirs), env=env)
    assert allowed.code == 0, allowed.output
    assert denied.code == 1 and "org:org-b/prj:prj-1/env:e1" in denied.stdout


# -- what moto cannot show: an existing provider without our audience ----------------------

def test_an_existing_provider_gets_the_missing_audience_added() -> None:
    client = boto3.client("iam", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    request = SetupRequest(ACCOUNT, "app.gitpod.io", "sts.amazonaws.com", "r",
                           trust_policy(ACCOUNT, "app.gitpod.io", "sts.amazonaws.com", ["org:o/*"]))
    arn = request.provider_arn
    with Stubber(client) as stub:
        # moto has no AddClientIDToOpenIDConnectProvider, so this one plan is checked with a stub.
        stub.add_response("get_role", {"Role": {"RoleName": "r", "Path": "/", "RoleId": "AROAEXAMPLEEXAMPLE1",
                                                "Arn": request.role_arn, "CreateDate": "2024-01-01T00:00:00Z",
                                                "AssumeRolePolicyDocument": json.dumps(request.trust_policy),
                                                "MaxSessionDuration": 3600}}, {"RoleName": "r"})
        stub.add_response("list_open_id_connect_providers", {"OpenIDConnectProviderList": [{"Arn": arn}]}, {})
        stub.add_response("get_open_id_connect_provider", {"ClientIDList": ["some-other-app"]},
                          {"OpenIDConnectProviderArn": arn})
        changes = IamSetup(client, request).plan()
    assert [(c.call, c.params) for c in changes] == [
        ("add_client_id_to_open_id_connect_provider", {"OpenIDConnectProviderArn": arn, "ClientID": "sts.amazonaws.com"})]


def test_a_secret_arn_without_its_random_suffix_matches_through_six_wildcards() -> None:
    assert secret_resource(secret_arn("prod/db")) == secret_arn("prod/db-??????")
    assert secret_resource(secret_arn("prod/db-AbC123")) == secret_arn("prod/db-AbC123")
    policy = secrets_policy([secret_arn("a-AbC123")])
    assert [s["Action"] for s in policy["Statement"]] == ["secretsmanager:GetSecretValue",
                                                          "secretsmanager:BatchGetSecretValue"]


# -- check-trust --role also asks IAM what STS checks before the policy --------------------

def _token_for(provider: str, tmp_path: Path) -> Path:
    import jwt

    path = tmp_path / "token.jwt"
    path.write_text(jwt.encode({"iss": f"https://{provider}", "aud": "sts.amazonaws.com",
                                "sub": f"org:{ORG}/prj:{PRJ}/env:e1", "exp": 4102444800}, "k" * 32, algorithm="HS256"))
    return path


def test_check_trust_role_refuses_when_the_trusted_provider_does_not_exist(env, names, moto_endpoint, tmp_path) -> None:
    document = trust_policy(ACCOUNT, names["provider"], "sts.amazonaws.com", [f"org:{ORG}/*"])
    iam(moto_endpoint).create_role(RoleName=names["role"], AssumeRolePolicyDocument=json.dumps(document))
    result = run_cli("aws", "check-trust", "--role", names["role"], "--token-file",
                     str(_token_for(names["provider"], tmp_path)), env=env)
    assert result.code == 1, result.output
    assert "STS will refuse it first" in result.stdout
    assert f"oidc-provider/{names['provider']} does not exist in this account" in result.stdout


def test_check_trust_role_refuses_an_audience_the_provider_does_not_know(env, names, moto_endpoint, tmp_path) -> None:
    client = iam(moto_endpoint)
    client.create_open_id_connect_provider(Url=f"https://{names['provider']}", ClientIDList=["another-app"])
    document = trust_policy(ACCOUNT, names["provider"], "sts.amazonaws.com", [f"org:{ORG}/*"])
    client.create_role(RoleName=names["role"], AssumeRolePolicyDocument=json.dumps(document))
    result = run_cli("aws", "check-trust", "--role", names["role"], "--token-file",
                     str(_token_for(names["provider"], tmp_path)), env=env)
    assert result.code == 1, result.output
    assert "incorrect token audience" in result.stdout and "['another-app']" in result.stdout


# -- --chain-to: role chaining (aws-assume-role) ----------------------------------------------

DEPLOY = "arn:aws:iam::444455556666:role/deploy"
STAGING = "arn:aws:iam::777788889999:role/deploy"


def test_chain_to_lets_the_role_assume_exactly_those_roles(env, names, moto_endpoint) -> None:
    result = run_cli(*setup_args(names, "--chain-to", DEPLOY, STAGING), env=env)

    assert result.code == 0, result.output
    assert "changed: add inline policy automations-role-chaining" in result.stdout
    policy = iam(moto_endpoint).get_role_policy(RoleName=names["role"],
                                                PolicyName="automations-role-chaining")["PolicyDocument"]
    assert policy["Statement"] == [{"Sid": "AssumeChainedRoles", "Effect": "Allow", "Action": "sts:AssumeRole",
                                    "Resource": [DEPLOY, STAGING]}]


def test_chain_to_prints_the_trust_statement_each_target_needs_and_changes_no_other_account(env, names,
                                                                                          moto_endpoint) -> None:
    with FaultProxy(moto_endpoint) as proxy:
        result = run_cli(*setup_args(names, "--chain-to", DEPLOY), "--output", "json",
                         env={**env, "AWS_ENDPOINT_URL": proxy.url})
        touched = {r.form().get("RoleName") for r in proxy.requests if r.action not in READ_ONLY}

    assert result.code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    [trust] = [e for e in events if e["event"] == "chain-trust"]
    assert trust["targets"] == [DEPLOY]
    assert trust["statement"] == {"Sid": "AssumedByAutomationsRole", "Effect": "Allow",
                                  "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/{names['role']}"},
                                  "Action": "sts:AssumeRole"}
    assert touched <= {None, names["role"]}  # nothing but our own role (and the provider)


def test_chain_to_a_second_time_changes_nothing_and_still_prints_the_statement(env, names) -> None:
    args = setup_args(names, "--chain-to", DEPLOY)
    assert run_cli(*args, env=env).code == 0

    second = run_cli(*args, env=env)

    assert second.code == 0, second.output
    assert second.stdout.startswith("nothing to change")
    assert "trust policy" in second.stdout and f'"AWS": "arn:aws:iam::{ACCOUNT}:role/{names["role"]}"' in second.stdout


def test_chain_to_another_role_updates_the_policy(env, names, moto_endpoint) -> None:
    assert run_cli(*setup_args(names, "--chain-to", DEPLOY), env=env).code == 0

    result = run_cli(*setup_args(names, "--chain-to", DEPLOY, "--chain-to", STAGING, "--dry-run"), env=env)

    assert result.code == 0, result.output
    assert "would update inline policy automations-role-chaining" in result.stdout
    assert "assume 2 chained roles" in result.stdout


def test_chain_to_the_role_itself_is_refused(env, names) -> None:
    own = f"arn:aws:iam::{ACCOUNT}:role/{names['role']}"

    result = run_cli(*setup_args(names, "--chain-to", own), env={**env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"})

    assert result.code == 2
    assert "cannot chain to itself" in result.stderr
