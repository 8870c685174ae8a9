"""`automations watch` keeps chained file credentials fresh (issue 15): the aws-assume-role
step's result asks for a refresh `minRemaining` before its expiry, and the watcher's rerun
starts from the login's credentials as the watcher renewed them."""
from __future__ import annotations

import configparser
import json
import subprocess
from pathlib import Path

from support.jwts import make_token
from support.watch import WatchInProcess, watch_in_process

FAST_RETRY = "{attempts: 4, initialDelay: 0.01, maxDelay: 0.05}"


def profile_key(env: dict[str, str], profile: str) -> str | None:
    parser = configparser.RawConfigParser()
    parser.read(env["AWS_SHARED_CREDENTIALS_FILE"])
    return parser[profile].get("aws_access_key_id") if parser.has_section(profile) else None


def test_chained_credentials_are_renewed_from_the_renewed_login(tmp_path: Path, aws_env, sts):
    # moto honours DurationSeconds: the login is due 5 s in, the chained role every 3 s. Its
    # first renewal starts from the login's first keys, a later one from the renewed keys.
    (tmp_path / "token").write_text(make_token())
    config = tmp_path / "automations.yaml"
    config.write_text(f"""\
tasks:
  login:
    triggeredBy: [postEnvironmentStart]
    steps:
      - uses: aws-login
        retry: {FAST_RETRY}
        with: {{roleArn: "arn:aws:iam::123456789012:role/dev-role", token: {{file: token}}, profile: dev,
                region: us-east-1, durationSeconds: 900, minRemaining: 895}}
  prod:
    triggeredBy: [postEnvironmentStart]
    dependsOn: [login]
    steps:
      - uses: aws-assume-role
        retry: {FAST_RETRY}
        with: {{roleArn: "arn:aws:iam::444455556666:role/deploy", profile: prod, durationSeconds: 900,
                minRemaining: 897}}
""")
    first_chained = ""

    def drive(watch: WatchInProcess) -> None:
        nonlocal first_chained
        first_login, first_chained = profile_key(aws_env, "dev"), profile_key(aws_env, "prod") or ""
        assert first_chained and sts.count("AssumeRole") == 1

        watch.wait_for(lambda: profile_key(aws_env, "dev") not in (None, first_login)
                       and f"Credential={profile_key(aws_env, 'dev')}/" in
                       sts.calls("AssumeRole")[-1].headers["authorization"],
                       "a chained renewal signed with the renewed login's keys", 60)

    # Stopped before the AWS CLI reads the profile (moto can miss a key issued while it answers another call)
    assert watch_in_process(config, aws_env, drive).code == 0

    assert profile_key(aws_env, "prod") != first_chained
    identity = subprocess.run(["aws", "--profile", "prod", "sts", "get-caller-identity", "--output", "json"],
                              env=aws_env, capture_output=True, text=True, timeout=60)
    assert identity.returncode == 0, identity.stderr
    assert json.loads(identity.stdout)["Arn"].startswith("arn:aws:sts::444455556666:assumed-role/deploy/")
