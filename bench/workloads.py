"""What bench/login_and_secrets.py and bench/memory.py both run: the configuration for
login plus N secrets, the minimal boto3 script, the shell loop, and the secrets seeded in
moto.

(Not named secrets.py: with bench/ first on sys.path that file would shadow the standard
library's `secrets` module for every library in the benchmark's process.)
"""
from __future__ import annotations

from pathlib import Path

from common import ROLE_ARN

CONFIG_HEAD = """\
tasks:
  boot:
    steps:
      - uses: aws-login
        with:
          roleArn: {role}
          region: us-east-1
          token: {{file: {token}}}
      - uses: secrets-manager
        with:
          file: {out}
          secrets:
"""

MINIMAL_SCRIPT = '''\
import sys, boto3
ids = sys.argv[3:]
sts = boto3.client("sts", region_name="us-east-1")
creds = sts.assume_role_with_web_identity(RoleArn=sys.argv[1], RoleSessionName="bench",
                                          WebIdentityToken=open(sys.argv[2]).read().strip())["Credentials"]
sm = boto3.client("secretsmanager", region_name="us-east-1", aws_access_key_id=creds["AccessKeyId"],
                  aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])
lines = []
for i in range(0, len(ids), 20):
    for value in sm.batch_get_secret_value(SecretIdList=ids[i:i + 20])["SecretValues"]:
        lines.append(f"{value['Name'].rsplit('/', 1)[-1].upper()}={value['SecretString']}\\n")
with open("minimal.env", "w") as out:
    out.write("".join(lines))
'''

SHELL_LOOP = '''\
set -euo pipefail
creds=$(aws sts assume-role-with-web-identity --role-arn "$ROLE" --role-session-name bench \\
        --web-identity-token "$(cat "$TOKEN_FILE")" --output json)
export AWS_ACCESS_KEY_ID=$(jq -r .Credentials.AccessKeyId <<<"$creds")
export AWS_SECRET_ACCESS_KEY=$(jq -r .Credentials.SecretAccessKey <<<"$creds")
export AWS_SESSION_TOKEN=$(jq -r .Credentials.SessionToken <<<"$creds")
: > shell.env
for id in $SECRET_IDS; do
  value=$(aws secretsmanager get-secret-value --secret-id "$id" --output json | jq -r .SecretString)
  printf "%s=%s\\n" "$(basename "$id" | tr a-z A-Z)" "$value" >> shell.env
done
'''


def seed(endpoint: str, count: int) -> list[str]:
    import boto3

    client = boto3.client("secretsmanager", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    ids = [f"bench/s{n:03d}" for n in range(count)]
    for n, secret_id in enumerate(ids):
        client.create_secret(Name=secret_id, SecretString=f"value-{n:03d}-p@ss-{'x' * 24}")
    return ids


def configure(home: Path, ids: list[str], token: Path) -> Path:
    config = home / f"automations-{len(ids)}.yaml"
    entries = "".join(f"            - {{id: {i}, env: {i.rsplit('/', 1)[-1].upper()}}}\n" for i in ids)
    config.write_text(CONFIG_HEAD.format(role=ROLE_ARN, token=token, out=home / f"ours-{len(ids)}.env") + entries)
    return config
