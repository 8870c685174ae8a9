"""`automations run aws-login` against what `gp idp login aws` runs: the AWS CLI four times
(`aws sts assume-role-with-web-identity`, then `aws configure set` for the key id, the secret
key and the session token). Whole processes against a local moto server, interleaved.
Goal (issue 3): automations at most 0.25x.

    .venv/bin/python bench/login.py [--runs 10]
"""
from __future__ import annotations

import argparse
import json
import subprocess

from common import ROLE_ARN, base_env, compare, make_token, report, run_quiet, start_moto, tool, workdir

CONFIG = """
tasks:
  aws-login:
    steps:
      - uses: aws-login
        with:
          roleArn: {role}
          region: us-east-1
          token: {{file: {token_file}}}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    server, endpoint = start_moto()
    home = workdir()
    env = base_env(home, endpoint)
    token = make_token()
    token_file = home / "token"
    token_file.write_text(token)
    (home / "automations.yaml").write_text(CONFIG.format(role=ROLE_ARN, token_file=token_file))
    automations, aws = tool("automations"), tool("aws")

    def ours() -> None:
        run_quiet([automations, "run", "aws-login", "--force"], env, home)

    def gp_idp_login_aws() -> None:
        # What gitpod-cli's idp-login-aws.go does, token on argv included.
        out = subprocess.run([aws, "sts", "assume-role-with-web-identity", "--role-arn", ROLE_ARN,
                              "--role-session-name", "bench-1", "--web-identity-token", token,
                              "--duration-seconds", "3600", "--output", "json"],
                             env=env, cwd=home, capture_output=True, text=True, check=True).stdout
        creds = json.loads(out)["Credentials"]
        for key, field in (("aws_access_key_id", "AccessKeyId"), ("aws_secret_access_key", "SecretAccessKey"),
                           ("aws_session_token", "SessionToken")):
            run_quiet([aws, "configure", "set", key, creds[field], "--profile", "gp"], env, home)

    try:
        samples = compare({"gp idp login aws (AWS CLI x4)": gp_idp_login_aws, "automations run aws-login": ours},
                          args.runs)
    finally:
        server.stop()  # type: ignore[attr-defined]
    ratios = report(samples, "gp idp login aws (AWS CLI x4)")
    ratio = ratios["automations run aws-login"]
    print(f"ratio {ratio:.2f} (goal <= 0.25): {'met' if ratio <= 0.25 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
