"""When STS refuses the exchange (AccessDenied), the aws-login step names the check-trust
command that explains why; and that command, run as suggested, does explain it."""
from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import boto3
from support.cli import run_cli
from support.jwts import ORG_ID, make_token
from support.proxy import FaultProxy

ROLE_NAME = "hint-gitpod-dev"
ROLE_ARN = f"arn:aws:iam::123456789012:role/{ROLE_NAME}"


def test_access_denied_names_a_check_trust_command_that_explains_the_denial(write_config, aws_env, moto_endpoint,
                                                                          tmp_path: Path) -> None:
    (tmp_path / "token").write_text(make_token(sub="org:another-org/prj:p/env:e"))
    config = write_config(f"""
        tasks:
          login:
            steps:
              - uses: aws-login
                retry: {{attempts: 1}}
                with:
                  roleArn: {ROLE_ARN}
                  token: {{file: token}}
    """)
    with FaultProxy(moto_endpoint) as sts:
        sts.fail(action="AssumeRoleWithWebIdentity", status=403, code="AccessDenied",
                 message="Not authorized to perform sts:AssumeRoleWithWebIdentity")
        denied = run_cli("-c", str(config), "run", "login", env={**aws_env, "AWS_ENDPOINT_URL": sts.url})
    assert denied.code == 1
    suggested = re.search(r"`(automations aws check-trust [^`]+)`", denied.output)
    assert suggested, denied.output
    assert suggested.group(1) == f"automations aws check-trust --role {ROLE_NAME} --task login"

    # The role exists with an organisation-wide policy for ORG_ID: the suggested command says why.
    iam = boto3.client("iam", endpoint_url=moto_endpoint, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    policy = run_cli("aws", "trust-policy", "--account", "123456789012", "--org", ORG_ID, env=aws_env)
    iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(json.loads(policy.stdout)))
    argv = shlex.split(suggested.group(1))[1:]
    admin = {**aws_env, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    explained = run_cli("-c", str(config), *argv, env=admin)
    assert explained.code == 1, explained.output
    assert 'the token\'s sub is "org:another-org/prj:p/env:e"' in explained.stdout
