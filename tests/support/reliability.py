"""What the reliability suite shares: a login-plus-secrets configuration, secrets seeded in
the moto server, and snapshots of a directory tree to prove that nothing changed.
"""
from __future__ import annotations

import base64
import json
import os
import stat
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import boto3

ROLE = "arn:aws:iam::123456789012:role/dev-role"  # moto's default account, where the secrets are seeded
ASSUME = "AssumeRoleWithWebIdentity"
BATCH = "BatchGetSecretValue"
FAST_RETRY = "{attempts: 4, initialDelay: 0.01, maxDelay: 0.05}"
TEMP_PREFIX = ".automations-tmp-"


class AwsStep(NamedTuple):
    """An AWS step as the hostile-endpoint tests use it: alone in task `boot`, writing .env."""
    name: str
    endpoint_variable: str   # the AWS_ENDPOINT_URL_* variable of the service it calls
    action: str              # the operation every attempt sends first
    options: str             # its `with:` lines

    def config(self, limits: str) -> str:
        """automations.yaml with this step and `limits` (`retry: ...`, `timeout: 5`)."""
        with_lines = "".join(f"          {line}\n" for line in self.options.splitlines())
        return f"tasks:\n  boot:\n    steps:\n      - uses: {self.name}\n        {limits}\n        with:\n{with_lines}"


AWS_STEPS = {step.name: step for step in (
    AwsStep("aws-login", "AWS_ENDPOINT_URL_STS", "AssumeRoleWithWebIdentity",
            f"roleArn: {ROLE}\ntoken: {{file: token}}\nprofile: dev\nregion: us-east-1\nenvFile: .env"),
    # Chained from the `dev` profile's static keys, which the tests using AWS_STEPS write.
    AwsStep("aws-assume-role", "AWS_ENDPOINT_URL_STS", "AssumeRole",
            "roleArn: arn:aws:iam::444455556666:role/deploy\nsourceProfile: dev\nprofile: prod\nregion: us-east-1\n"
            "envFile: .env"),
    AwsStep("secrets-manager", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "BatchGetSecretValue",
            "file: .env\nmode: merge\nregion: us-east-1\nsecrets: [{id: app/api, env: API_TOKEN}]"),
    AwsStep("ssm-parameters", "AWS_ENDPOINT_URL_SSM", "GetParametersByPath",
            "file: .env\nmode: merge\nregion: us-east-1\npath: /app/"),
)}


def unique_prefix() -> str:
    """The moto server lives for the whole session: every test names its secrets apart."""
    return f"r{uuid.uuid4().hex[:10]}"


def seed_secrets(endpoint: str, values: dict[str, str | dict]) -> None:
    client = boto3.client("secretsmanager", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    for name, value in values.items():
        client.create_secret(Name=name, SecretString=value if isinstance(value, str) else json.dumps(value))


def login_and_secrets_config(secret_env: dict[str, str], *, profile: str = "dev", env_file: str = ".env",
                             token: str = "{file: token}", retry: str = FAST_RETRY, task: str = "boot",
                             region: str = "us-east-1") -> str:
    """aws-login, then secrets-manager with the credentials it got: one secret per variable
    (`secret_env` maps variable -> secret id)."""
    entries = "".join(f"          - {{id: {secret_id}, env: {name}}}\n" for name, secret_id in secret_env.items())
    return (f"tasks:\n"
            f"  {task}:\n"
            f"    steps:\n"
            f"      - uses: aws-login\n"
            f"        retry: {retry}\n"
            f"        with:\n"
            f"          roleArn: {ROLE}\n"
            f"          token: {token}\n"
            f"          profile: {profile}\n"
            f"          region: {region}\n"
            f"      - uses: secrets-manager\n"
            f"        retry: {retry}\n"
            f"        with:\n"
            f"          file: {env_file}\n"
            f"          secrets:\n" + entries)


def snapshot(root: Path, ignore: tuple[str, ...] = (".cache",)) -> dict[str, tuple[int, bytes | str]]:
    """Every file, link and directory under `root`: its mode and its bytes (or link target).
    Empty lock files (`.NAME.lock`, beside what a step was about to write) are left out: they
    hold nothing and exist by design, as flock targets."""
    found: dict[str, tuple[int, bytes | str]] = {}
    for directory, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in ignore]
        for name in dirs + files:
            path = Path(directory) / name
            info = path.lstat()
            key = str(path.relative_to(root))
            if stat.S_ISLNK(info.st_mode):
                found[key] = (info.st_mode, os.readlink(path))
            elif stat.S_ISREG(info.st_mode) and name.startswith(".") and name.endswith(".lock") \
                    and info.st_size == 0:
                continue
            elif stat.S_ISREG(info.st_mode):
                found[key] = (info.st_mode, path.read_bytes())
            else:
                found[key] = (info.st_mode, "")
    return found


def temp_files(*directories: Path) -> list[str]:
    return sorted(p.name for d in directories if d.is_dir() for p in d.iterdir() if p.name.startswith(TEMP_PREFIX))


# -- searching output the way an outsider reads it --------------------------------------------

def printable_forms(secret: str) -> set[str]:
    """The secret, JSON-escaped, URL-encoded, and each base64 core: the characters of its
    base64 encoding that depend on the secret alone, at each of the three offsets."""
    forms = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
             urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret, safe="")}
    data = secret.encode()
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + data).decode()
        core = encoded[-(-shift * 8 // 6):(shift + len(data)) * 8 // 6]
        forms |= {core, core.replace("+", "-").replace("/", "_")}
    return forms


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def decoded(text: str) -> Iterator[str]:
    """The text itself, and every string of every line that is a JSON document."""
    yield text
    for line in text.splitlines():
        try:
            document = json.loads(line)
        except ValueError:
            continue
        yield from strings_in(document)
