"""Login plus 100 secrets into an env file: `automations run` (aws-login, then
secrets-manager) against a minimal hand-written boto3 script making the fewest calls (one
AssumeRoleWithWebIdentity, ceil(N/20) BatchGetSecretValue calls one after another, a plain
file write: no config, no checks). Whole processes against a local moto server, interleaved.
Goal (issue 4): automations at most 1.3x.

    .venv/bin/python bench/secrets.py [--runs 10] [--secrets 100] [--no-login]

`--no-login` leaves the login out of both (credentials from the environment): the
secrets step alone against the batch reads alone.
"""
from __future__ import annotations

import argparse
import sys

import boto3

from common import ROLE_ARN, base_env, compare, make_token, report, run_quiet, start_moto, tool, workdir

LOGIN_STEP = """
      - uses: aws-login
        with:
          roleArn: {role}
          region: us-east-1
          token: {{file: {token_file}}}"""

CONFIG = """
tasks:
  secrets:
    steps:{login}
      - uses: secrets-manager
        with:
          file: out/.env
          secrets:
{entries}
"""

# The fewest calls, nothing else: what the issue measures against.
MINIMAL_SCRIPT = """
import sys, boto3
role, token_file, out, *ids = sys.argv[1:]
if role == "-":
    sm = boto3.client("secretsmanager")
else:
    creds = boto3.client("sts").assume_role_with_web_identity(
        RoleArn=role, RoleSessionName="bench", WebIdentityToken=open(token_file).read())["Credentials"]
    sm = boto3.client("secretsmanager", aws_access_key_id=creds["AccessKeyId"],
                      aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])
lines = []
for i in range(0, len(ids), 20):
    for v in sm.batch_get_secret_value(SecretIdList=ids[i:i + 20])["SecretValues"]:
        lines.append(f"{v['Name'].replace('/', '_').upper()}='{v['SecretString']}'\\n")
open(out, "w").write("".join(lines))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--secrets", type=int, default=100)
    parser.add_argument("--no-login", action="store_true", help="credentials from the environment, no STS call")
    args = parser.parse_args()
    server, endpoint = start_moto()
    home = workdir()
    env = base_env(home, endpoint)
    if args.no_login:
        env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    token_file = home / "token"
    token_file.write_text(make_token())
    client = boto3.client("secretsmanager", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    ids = [f"bench/s{i:03}" for i in range(args.secrets)]
    for i, name in enumerate(ids):
        client.create_secret(Name=name, SecretString=f"value-{i:03}-secret")
    entries = "\n".join(f"            - {{id: {name}, env: S{i:03}}}" for i, name in enumerate(ids))
    login = "" if args.no_login else LOGIN_STEP.format(role=ROLE_ARN, token_file=token_file)
    (home / "automations.yaml").write_text(CONFIG.format(login=login, entries=entries))
    (home / "minimal.py").write_text(MINIMAL_SCRIPT)
    (home / "out").mkdir()
    automations = tool("automations")

    def ours() -> None:
        run_quiet([automations, "run", "secrets", "--force"], env, home)

    def minimal() -> None:
        role = "-" if args.no_login else ROLE_ARN
        run_quiet([sys.executable, str(home / "minimal.py"), role, str(token_file), str(home / "out" / "min.env"),
                   *ids], env, home)

    label = "automations run (secrets)" if args.no_login else "automations run (login+secrets)"
    try:
        samples = compare({"minimal boto3 script": minimal, label: ours}, args.runs)
    finally:
        server.stop()  # type: ignore[attr-defined]
    ratios = report(samples, "minimal boto3 script")
    ratio = ratios[label]
    print(f"ratio {ratio:.2f} (goal <= 1.3): {'met' if ratio <= 1.3 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
