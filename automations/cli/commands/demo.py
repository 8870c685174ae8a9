"""`automations demo`: the main job end to end, on a machine with no AWS account.

It starts a local AWS (moto's server, from the dev extra) on a free port of 127.0.0.1, signs
a Gitpod-like OIDC token with a throwaway RSA key, seeds the secrets the Gitpod example reads,
and runs that example's `aws-login` and `secrets` tasks through the real CLI (a child
process, as the start hook would), with AWS_ENDPOINT_URL pointing at the local AWS. The
token, the AWS credentials and config files, the env file and the run history all go into
one directory (default `.demo/`, git-ignored): the user's ~/.aws is never touched. The local
AWS stops when the demo ends.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from automations.files.atomicfile import write_atomic
from automations.errors import FatalError
from automations.engine.report.base import Reporter

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "gitpod" / "automations.yaml"
MARKER = ".automations-demo"
ACCOUNT = "123456789012"  # moto's account
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/gitpod-demo"
REGION = "us-east-1"
ISSUER = "https://app.gitpod.io"
TASKS = ("aws-login", "secrets")
SECRETS = {
    "myapp/database": json.dumps({"username": "app", "password": "demo-p@ss$word \"quoted\"", "host": "db.internal",
                                  "port": 5432}),
    "myapp/api-key": "demo-api-key-0123456789abcdef",
    "myapp/feature-flags": json.dumps({"beta": True}),
}


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    directory = _demo_directory(Path(args.dir))
    config = _write_config(directory)
    server = _start_local_aws()
    try:
        endpoint = "http://{}:{}".format(*server.get_host_and_port())
        reporter.print(f"demo: a local AWS (moto) on {endpoint}; everything goes into {_show(directory)}/")
        env = _child_env(directory, endpoint)
        _write_token(directory / "token.jwt")
        _seed(endpoint)
        reporter.print(f"demo: seeded {len(SECRETS)} secrets and the role {ROLE_ARN}; "
                       f"running `automations run --force {' '.join(TASKS)}` from {_show(EXAMPLE)}")
        reporter.print("")
        code = _automations(["-c", str(config), "run", "--force", *TASKS], env, args)
        reporter.print("")
        _automations(["-c", str(config), "status"], env, args)
    finally:
        server.stop()
    reporter.print("")
    _report(reporter, directory, code)
    return code


def _demo_directory(directory: Path) -> Path:
    directory = directory.absolute()
    if directory.exists() and any(directory.iterdir()) and not (directory / MARKER).exists():
        raise FatalError(f"{directory} exists and is not a demo directory; choose another with --dir")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    (directory / MARKER).write_text("made by `automations demo`; safe to delete\n")
    return directory


def _write_config(directory: Path) -> Path:
    """The Gitpod example, with the token read from the demo's file instead of Gitpod's CLI."""
    import yaml

    if not EXAMPLE.is_file():
        raise FatalError(f"the demo runs {EXAMPLE}, which is missing: run it from a clone of the repository")
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    for task in TASKS:
        if task not in data.get("tasks", {}):
            raise FatalError(f"{EXAMPLE} has no task {task!r}")
    for step in data["tasks"]["aws-login"]["steps"]:
        if step.get("uses") == "aws-login":
            step.setdefault("with", {})["token"] = {"file": "token.jwt"}
    header = (f"# Made by `automations demo` from {EXAMPLE}:\n"
              "# the same tasks, with the token read from token.jwt instead of Gitpod's CLI.\n")
    config = directory / "automations.yaml"
    config.write_text(header + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return config


def _start_local_aws() -> Any:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        raise FatalError("the demo needs moto's server: pip install -e '.[dev]'") from None
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per AWS call otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    return server


def _child_env(directory: Path, endpoint: str) -> dict[str, str]:
    """The machine's environment without any AWS or token settings, pointed at the demo."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "AUTOMATIONS_", "ACTIONS_ID_TOKEN", "IDP_AWS"))}
    env.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_SHARED_CREDENTIALS_FILE=str(directory / "aws" / "credentials"),
        AWS_CONFIG_FILE=str(directory / "aws" / "config"),
        AWS_ROLE_ARN=ROLE_ARN,
        AWS_REGION=REGION,
        AWS_EC2_METADATA_DISABLED="true",
        XDG_STATE_HOME=str(directory / "state"),
        XDG_CACHE_HOME=str(directory / "cache"),
    )
    return env


def _write_token(path: Path) -> None:
    """An RS256 JWT shaped like Gitpod's (issuer, audience, org/project/environment subject),
    signed with a key made for this run only. moto accepts any token; our pre-flight checks
    (shape, expiry, audience) still apply."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    org, project, environment = (str(uuid.uuid4()) for _ in range(3))
    claims = {"iss": ISSUER, "aud": ["sts.amazonaws.com"], "sub": f"org:{org}/prj:{project}/env:{environment}",
              "environment_id": environment, "iat": now, "nbf": now, "exp": now + 3600, "jti": str(uuid.uuid4())}
    write_atomic(path, jwt.encode(claims, key, algorithm="RS256", headers={"kid": "demo"}).encode() + b"\n")


def _seed(endpoint: str) -> None:
    import boto3

    session = boto3.Session(aws_access_key_id="demo", aws_secret_access_key="demo", region_name=REGION)
    iam = session.client("iam", endpoint_url=endpoint)
    provider = iam.create_open_id_connect_provider(Url=ISSUER, ClientIDList=["sts.amazonaws.com"],
                                                   ThumbprintList=["0" * 40])["OpenIDConnectProviderArn"]
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": provider}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {"app.gitpod.io:aud": "sts.amazonaws.com"}}}]}
    iam.create_role(RoleName=ROLE_ARN.rsplit("/", 1)[1], AssumeRolePolicyDocument=json.dumps(trust))
    secrets = session.client("secretsmanager", endpoint_url=endpoint)
    for name, value in SECRETS.items():
        secrets.create_secret(Name=name, SecretString=value)


def _automations(arguments: list[str], env: dict[str, str], args: argparse.Namespace) -> int:
    flags = ["-v"] * (args.verbose or 0) + (["-q"] if args.quiet else []) + (["--no-color"] if args.no_color else [])
    return subprocess.run([sys.executable, "-m", "automations", *flags, *arguments], env=env).returncode


def _report(reporter: Reporter, directory: Path, code: int) -> None:
    where = _show(directory)
    env_file = directory / ".env.secrets"
    names = re.findall(r"^(?:export )?([A-Za-z_][A-Za-z0-9_]*)=", env_file.read_text(), re.M) \
        if env_file.is_file() else []
    reporter.print("demo: done" if code == 0 else f"demo: the run failed (exit {code}); see above")
    reporter.print(f"  AWS credentials  {where}/aws/credentials  (profile [default], 0600; region in {where}/aws/config)")
    reporter.print(f"  env file         {where}/.env.secrets  ({', '.join(names) or 'not written'})")
    reporter.print(f"  token            {where}/token.jwt  (decode: automations token --token-file {where}/token.jwt --decode)")
    reporter.print(f"  run history      {where}/state/automations  (the `status` above); see it again with")
    for command in history_commands(directory):
        reporter.print(f"                     {command}")
    reporter.print(f"  read the env file as a shell would:  (set -a; . {where}/.env.secrets; echo \"$DB_USERNAME@$DB_HOST\")")
    reporter.print(f"The local AWS has stopped. Delete {where}/ when done.")


def history_commands(directory: Path) -> list[str]:
    """The demo's history lives with its own config and state directory, not the repository's:
    a plain `automations status` reports the repository's automations.yaml (`never run`)."""
    where = shlex.quote(_show(directory))
    prefix = f"XDG_STATE_HOME={where}/state automations -c {where}/automations.yaml"
    return [f"{prefix} status", f"{prefix} logs"]


def _show(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
