"""`automations token`, `aws trust-policy` and `aws check-trust` through the CLI, as a
subprocess: tokens from a file or from a task's aws-login token source, verified against a
local OIDC issuer over real HTTP."""
from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli import run_cli
from support.jwts import ORG_ID, PROJECT_ID, make_token
from support.oidc_issuer import LocalIssuer, new_rsa_key

ACCOUNT = "123456789012"


@pytest.fixture
def issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer() as running:
        yield running


@pytest.fixture
def token_file(tmp_path: Path):
    def write(token: str, name: str = "token.jwt") -> Path:
        path = tmp_path / name
        path.write_text(token + "\n")
        return path
    return write


@pytest.fixture
def login_config(write_config, tmp_path: Path):
    """An automations.yaml whose aws-login step reads its token from a file."""
    def write(token: str) -> Path:
        (tmp_path / "gitpod.jwt").write_text(token)
        return write_config("""
            tasks:
              aws-login:
                steps:
                  - uses: aws-login
                    with:
                      roleArn: arn:aws:iam::123456789012:role/gitpod-dev
                      token: {file: gitpod.jwt}
        """)
    return write


# -- automations token ---------------------------------------------------------------------

def test_token_prints_the_token_of_the_tasks_source(login_config, base_env, tmp_path) -> None:
    token = make_token()
    login_config(token)
    result = run_cli("token", "--task", "aws-login", cwd=tmp_path, env=base_env)
    assert result.code == 0, result.output
    assert result.stdout == token + "\n"


def test_token_decode_prints_header_and_claims_and_when_it_expires(login_config, base_env, tmp_path) -> None:
    token = make_token(exp=int(time.time()) + 1800)
    login_config(token)
    result = run_cli("token", "--decode", cwd=tmp_path, env=base_env)
    assert result.code == 0, result.output
    decoded = json.loads(result.stdout)
    assert decoded["header"]["kid"] == "test-key-1"
    assert decoded["claims"]["sub"].startswith(f"org:{ORG_ID}/prj:{PROJECT_ID}/env:")
    assert re.search(r"^expires at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(in (29|30)m\)$", result.stderr, re.M)
    assert token not in result.output
    assert token.split(".")[2] not in result.output  # nor its signature


def test_token_decode_says_when_an_expired_token_expired(token_file, base_env) -> None:
    path = token_file(make_token(exp=int(time.time()) - 3 * 3600))
    result = run_cli("token", "--token-file", str(path), "--decode", env=base_env)
    assert result.code == 0
    assert "expired at" in result.stderr and "3h00m ago" in result.stderr


def test_token_verify_accepts_a_good_token(issuer, token_file, base_env) -> None:
    path = token_file(issuer.token())
    result = run_cli("token", "--token-file", str(path), "--verify", env=base_env)
    assert result.code == 0, result.output
    assert result.stdout.startswith(f"verified: signed by {issuer.url}'s key 'local-key-1'")


def test_token_verify_uses_the_steps_audience(issuer, write_config, base_env, tmp_path) -> None:
    (tmp_path / "gitpod.jwt").write_text(issuer.token(aud="my-audience"))
    write_config("""
        tasks:
          login:
            steps:
              - uses: aws-login
                with:
                  roleArn: arn:aws:iam::123456789012:role/gitpod-dev
                  audience: my-audience
                  token: {file: gitpod.jwt}
    """)
    result = run_cli("token", "--task", "login", "--verify", cwd=tmp_path, env=base_env)
    assert result.code == 0, result.output
    assert "audience 'my-audience'" in result.stdout


@pytest.mark.parametrize("case, message", [
    ("other-key", "signature does not verify"),
    ("expired", "expired at"),
    ("wrong-issuer", "wrong issuer"),
    ("wrong-audience", "--audience sts.amazonaws.com"),
])
def test_token_verify_refuses_with_the_reason(case, message, issuer, token_file, base_env) -> None:
    now = int(time.time())
    token = {
        "other-key": lambda: issuer.token(key=new_rsa_key()),
        "expired": lambda: issuer.token(iat=now - 7200, exp=now - 60),
        "wrong-issuer": lambda: issuer.token(iss=issuer.url.replace("127.0.0.1", "localhost")),
        "wrong-audience": lambda: issuer.token(aud="another-app"),
    }[case]()
    result = run_cli("token", "--token-file", str(token_file(token)), "--verify", env=base_env)
    assert result.code == 1
    assert message in result.stderr
    assert token not in result.output and "Traceback" not in result.output


def test_token_verify_explains_an_unreachable_issuer(token_file, base_env) -> None:
    with LocalIssuer() as gone:
        token = gone.token()
    result = run_cli("token", "--token-file", str(token_file(token)), "--verify", env=base_env)
    assert result.code == 1
    assert "Couldn't retrieve verification key" in result.stderr


def test_token_from_a_missing_file_is_bad_input(base_env, tmp_path) -> None:
    result = run_cli("token", "--token-file", str(tmp_path / "nope"), env=base_env)
    assert result.code == 2 and "does not exist" in result.stderr


def test_a_token_that_is_not_a_jwt_is_never_echoed(token_file, base_env) -> None:
    result = run_cli("token", "--token-file", str(token_file("secret-looking-garbage")), "--decode", env=base_env)
    assert result.code == 2 and "not a JWT" in result.stderr
    assert "secret-looking-garbage" not in result.output


# -- automations aws trust-policy ----------------------------------------------------------

def test_trust_policy_for_an_org_and_project(base_env) -> None:
    result = run_cli("aws", "trust-policy", "--account", ACCOUNT, "--org", "o1", "--project", "p1", env=base_env)
    assert result.code == 0, result.output
    statement = json.loads(result.stdout)["Statement"][0]
    assert statement["Principal"] == {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/app.gitpod.io"}
    assert statement["Condition"]["StringLike"] == {"app.gitpod.io:sub": "org:o1/prj:p1/*"}


def test_trust_policy_for_another_issuer_through_sub(base_env) -> None:
    result = run_cli("aws", "trust-policy", "--account", ACCOUNT, "--provider", "token.actions.githubusercontent.com",
                     "--sub", "repo:octo/app:ref:refs/heads/main", "repo:octo/app:environment:prod", env=base_env)
    assert result.code == 0, result.output
    condition = json.loads(result.stdout)["Statement"][0]["Condition"]
    assert condition["StringLike"] == {"token.actions.githubusercontent.com:sub": [
        "repo:octo/app:ref:refs/heads/main", "repo:octo/app:environment:prod"]}


@pytest.mark.parametrize("args, message", [
    (["--org", "o1", "--env", "e1"], "--env: needs --project"),
    (["--sub", "*"], "admits every token"),
    (["--sub", "x", "--project", "p"], "--project: only goes with --org"),
    (["--org", "o/*"], "--org"),
])
def test_trust_policy_refuses_bad_scopes(args, message, base_env) -> None:
    result = run_cli("aws", "trust-policy", "--account", ACCOUNT, *args, env=base_env)
    assert result.code == 2
    assert message in result.stderr


def test_trust_policy_from_the_tasks_token(login_config, base_env, tmp_path) -> None:
    login_config(make_token())
    result = run_cli("aws", "trust-policy", "--account", ACCOUNT, "--from-token", "--task", "aws-login",
                     cwd=tmp_path, env=base_env)
    assert result.code == 0, result.output
    condition = json.loads(result.stdout)["Statement"][0]["Condition"]
    assert condition["StringLike"] == {"app.gitpod.io:sub": f"org:{ORG_ID}/prj:{PROJECT_ID}/*"}


def test_trust_policy_from_a_token_of_another_audience_is_refused(token_file, base_env) -> None:
    path = token_file(make_token(aud="something-else"))
    result = run_cli("aws", "trust-policy", "--account", ACCOUNT, "--from-token", "--token-file", str(path),
                     env=base_env)
    assert result.code == 2 and "sts.amazonaws.com" in result.stderr


# -- automations aws check-trust -----------------------------------------------------------

def _generated_policy(tmp_path: Path, base_env: dict[str, str], *scope: str) -> Path:
    result = run_cli("aws", "trust-policy", "--account", ACCOUNT, *scope, env=base_env)
    assert result.code == 0, result.output
    path = tmp_path / "trust.json"
    path.write_text(result.stdout)
    return path


def test_a_generated_policy_admits_the_token_it_came_from(login_config, base_env, tmp_path) -> None:
    login_config(make_token())
    generated = run_cli("aws", "trust-policy", "--account", ACCOUNT, "--from-token", cwd=tmp_path, env=base_env)
    (tmp_path / "trust.json").write_text(generated.stdout)
    result = run_cli("aws", "check-trust", "--policy", "trust.json", "--task", "aws-login", cwd=tmp_path, env=base_env)
    assert result.code == 0, result.output
    assert "allowed: Statement 1 admits this token" in result.stdout


@pytest.mark.parametrize("sub", [
    f"org:another-org/prj:{PROJECT_ID}/env:e1",
    f"org:{ORG_ID}/prj:another-project/env:e1",
])
def test_a_generated_policy_refuses_another_organisations_or_projects_token(sub, token_file, base_env,
                                                                             tmp_path) -> None:
    policy = _generated_policy(tmp_path, base_env, "--org", ORG_ID, "--project", PROJECT_ID)
    result = run_cli("aws", "check-trust", "--policy", str(policy), "--token-file", str(token_file(make_token(sub=sub))),
                     env=base_env)
    assert result.code == 1, result.output
    assert "denied: no statement allows this token" in result.stdout
    assert f'StringLike app.gitpod.io:sub "org:{ORG_ID}/prj:{PROJECT_ID}/*"' in result.stdout
    assert f'the token\'s sub is "{sub}"' in result.stdout


def test_check_trust_reports_an_explicit_deny(token_file, base_env, tmp_path) -> None:
    policy = tmp_path / "trust.json"
    policy.write_text(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/app.gitpod.io"},
         "Action": "sts:AssumeRoleWithWebIdentity"},
        {"Sid": "NoProject", "Effect": "Deny", "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/app.gitpod.io"},
         "Action": "sts:AssumeRoleWithWebIdentity", "Condition": {"StringLike": {"app.gitpod.io:sub": f"*/prj:{PROJECT_ID}/*"}}},
    ]}))
    result = run_cli("aws", "check-trust", "--policy", str(policy), "--token-file", str(token_file(make_token())),
                     env=base_env)
    assert result.code == 1
    assert "denied: Statement 2 (Sid 'NoProject') denies this token explicitly" in result.stdout


def test_check_trust_json_output_carries_the_failing_condition(token_file, base_env, tmp_path) -> None:
    policy = _generated_policy(tmp_path, base_env, "--org", "another-org")
    result = run_cli("--output", "json", "aws", "check-trust", "--policy", str(policy),
                     "--token-file", str(token_file(make_token())), env=base_env)
    assert result.code == 1
    event = json.loads(result.stdout)
    assert (event["allowed"], event["reason"], event["key"]) == (False, "no-matching-allow", "app.gitpod.io:sub")
    assert event["value"].startswith(f"org:{ORG_ID}/")


def test_check_trust_reads_what_aws_iam_get_role_prints(token_file, base_env, tmp_path) -> None:
    policy = _generated_policy(tmp_path, base_env, "--org", ORG_ID)
    role = tmp_path / "role.json"
    role.write_text(json.dumps({"Role": {"RoleName": "r", "AssumeRolePolicyDocument": json.loads(policy.read_text())}}))
    result = run_cli("aws", "check-trust", "--policy", str(role), "--token-file", str(token_file(make_token())),
                     env=base_env)
    assert result.code == 0, result.output


def test_check_trust_with_a_policy_that_is_not_json_is_bad_input_with_its_position(token_file, base_env,
                                                                                  tmp_path) -> None:
    policy = tmp_path / "trust.json"
    policy.write_text('{\n  "Version": "2012-10-17",\n  "Statement": [\n}\n')
    result = run_cli("aws", "check-trust", "--policy", str(policy), "--token-file", str(token_file(make_token())),
                     env=base_env)
    assert result.code == 2
    assert result.stderr.startswith(f"{policy}:4:1: not JSON")


def test_check_trust_with_a_malformed_policy_says_where(token_file, base_env, tmp_path) -> None:
    policy = tmp_path / "trust.json"
    policy.write_text(json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
                                                                          "Action": "sts:AssumeRoleWithWebIdentity",
                                                                          "Condition": {"StringLikeIgnoreCase": {}}}]}))
    result = run_cli("aws", "check-trust", "--policy", str(policy), "--token-file", str(token_file(make_token())),
                     env=base_env)
    assert result.code == 2
    assert "Statement[0].Condition.StringLikeIgnoreCase: unknown condition operator" in result.stderr


def test_check_trust_for_a_role_that_does_not_exist_is_bad_input(aws_env, token_file) -> None:
    aws_env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    result = run_cli("aws", "check-trust", "--role", "no-such-role-here", "--token-file", str(token_file(make_token())),
                     env=aws_env)
    assert result.code == 2
    assert "no role named 'no-such-role-here'" in result.stderr


def test_check_trust_never_prints_the_token(token_file, base_env, tmp_path) -> None:
    token = make_token()
    policy = _generated_policy(tmp_path, base_env, "--org", "another-org")
    for verbosity in ([], ["-vv"]):
        result = run_cli(*verbosity, "aws", "check-trust", "--policy", str(policy), "--token-file",
                         str(token_file(token)), env=base_env)
        assert token not in result.output and token.split(".")[2] not in result.output


# -- hostile tokens: one line each, on every path that reads a token -------------------------

_CLAIMS = '"iss":"https://app.gitpod.io","aud":"sts.amazonaws.com","sub":"org:o/prj:p/env:e"'
HOSTILE = {
    "exp NaN": ('{' + _CLAIMS + ',"exp":NaN}', "holds NaN or Infinity"),
    "exp 1e400": ('{' + _CLAIMS + ',"exp":1e400}', "'exp' claim is not a time"),
    "exp -1e400": ('{' + _CLAIMS + ',"exp":-1e400}', "'exp' claim is not a time"),
    "aud an object": ('{"iss":"https://app.gitpod.io","aud":{"a":1},"exp":1}', "'aud' claim is not a string"),
    "nested deep": ('{' + _CLAIMS + ',"x":' + "[" * 20_000 + "]" * 20_000 + '}', "nested more than 32 levels"),
}


@pytest.mark.parametrize("command", [
    ["token", "--decode"],
    ["aws", "check-trust", "--policy", "trust.json"],
    ["aws", "trust-policy", "--account", ACCOUNT, "--from-token"],
], ids=["token --decode", "aws check-trust", "aws trust-policy --from-token"])
@pytest.mark.parametrize("payload, message", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_token_gets_one_line_on_every_path(command, payload, message, token_file, base_env,
                                                     tmp_path) -> None:
    from support.jwts import raw_token

    _generated_policy(tmp_path, base_env, "--org", ORG_ID)
    result = run_cli(*command, "--token-file", str(token_file(raw_token(payload))), cwd=tmp_path, env=base_env)

    assert result.code == 2, result.output
    assert result.stdout == "" and result.stderr.count("\n") == 1, result.output
    assert message in result.stderr and "Traceback" not in result.stderr
