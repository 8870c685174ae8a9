"""`automations init`: a commented automations.yaml for the common case, and what to add to
Gitpod's or a devcontainer's start hook. Never overwrites a file without --force; what it
writes is loaded with the real loader before it is written."""
from __future__ import annotations

import argparse
import json
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from automations.aws.declarations import REGION_PATTERN, ROLE_ARN_PATTERN
from automations.engine.report.base import Reporter
from automations.errors import EXIT_OK, ConfigError, FatalError, StepFailed
from automations.files.atomicfile import write_atomic

# One mapping of start hooks to triggers (README, examples/ and these lines agree): Gitpod's
# start runs postEnvironmentStart, a devcontainer's postStartCommand runs postDevcontainerStart.
# The tasks init writes name both, so one file works in either place.
GITPOD_START_COMMAND = "automations run --trigger postEnvironmentStart"
DEVCONTAINER_START_COMMAND = "automations run --trigger postDevcontainerStart"

HEADER = """\
# automations.yaml: the tasks `automations run` runs. Written by `automations init`.
#   automations validate     check it (every problem, with FILE:LINE:COL)
#   automations run --dry-run {tasks}
#                            what would run, in order
#   automations status       how the last start went; `automations logs` what it printed
# Editor completion: `automations schema > automations.schema.json`, then add the line
#   # yaml-language-server: $schema=automations.schema.json
tasks:
"""

PLAIN_TASK = """\
  setup:
    name: Set up the environment
    triggeredBy: [postEnvironmentStart, postDevcontainerStart, manual]
    command: echo "replace this with your set-up command"

# AWS credentials from the environment's OIDC token, and secrets into an env file:
#   automations init --aws --role-arn arn:aws:iam::ACCOUNT:role/NAME --secret ID --force
"""

LOGIN_TASK = """\
  aws-login:
    name: AWS credentials from the environment's OIDC token
    triggeredBy: [postEnvironmentStart, postDevcontainerStart, manual]
    steps:
      - uses: aws-login
        id: login
        with:
{role}{region}          profile: default
          # The token: `gitpod idp token` (or `gp idp token`), else $AWS_WEB_IDENTITY_TOKEN_FILE,
          # else GitHub Actions' OIDC endpoint. Or say where: token: {{file: /path/to/token}}
          # durationSeconds: 3600     # at most the role's MaxSessionDuration
          # credentials: process      # the AWS SDKs refresh them for as long as the environment lives
          # verify: true              # check them with GetCallerIdentity
"""

SECRETS_TASK = """\

  secrets:
    name: Secrets Manager into {env_file}
    triggeredBy: [postEnvironmentStart, postDevcontainerStart, manual]
    dependsOn: [aws-login]
    steps:
      - uses: secrets-manager
        with:
          file: {env_file_json}   # 0600, replaced atomically; load it with `set -a; . {env_file}; set +a`
          secrets:
{entries}          # A JSON secret's keys: {{id: ..., keys: {{DB_PASSWORD: password}}}} or {{id: ..., keys: "*", prefix: DB_}}
"""

SECRETS_HINT = """\

  # Secrets into an env file, once the login worked (`automations init --aws --secret ID` writes it):
  # secrets:
  #   triggeredBy: [postEnvironmentStart, postDevcontainerStart, manual]
  #   dependsOn: [aws-login]
  #   steps:
  #     - uses: secrets-manager
  #       with:
  #         file: {env_file}
  #         secrets:
  #           - {{id: myapp/api-key, env: API_KEY}}
"""


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    path = Path(args.file)
    if (path.exists() or path.is_symlink()) and not args.force:
        raise FatalError(f"{path} already exists; not overwriting it (use --force to replace it)")
    text = render(args)
    _check(text, path)
    try:
        write_atomic(path, text.encode("utf-8"), mode=0o644)
    except StepFailed as error:
        raise FatalError(str(error)) from None
    tasks = re.findall(r"^  ([A-Za-z0-9_-]+):$", text, re.M)
    reporter.result("init", _describe(path, tasks), file=str(path), tasks=tasks, gitpod=gitpod_snippet(),
                    devcontainer=devcontainer_snippet())
    return EXIT_OK


def _describe(path: Path, tasks: list[str]) -> Iterator[str]:
    yield f"wrote {path} (tasks: {', '.join(tasks)}); check it with `automations validate`"
    yield ""
    yield "Run it at every start of the environment:"
    yield "  Gitpod: add this task to .gitpod/automations.yaml"
    for line in gitpod_snippet().splitlines():
        yield f"    {line}"
    yield "  devcontainer: in .devcontainer/devcontainer.json"
    yield f"    {devcontainer_snippet()}"


def render(args: argparse.Namespace) -> str:
    aws = args.aws or bool(args.role_arn) or bool(args.secret)
    if args.role_arn and not re.fullmatch(ROLE_ARN_PATTERN, args.role_arn):
        raise FatalError(f"--role-arn {args.role_arn!r} is not a role ARN (arn:aws:iam::<12-digit account>:role/NAME)")
    if args.region and not re.fullmatch(REGION_PATTERN, args.region):
        raise FatalError(f"--region {args.region!r} is not an AWS region (e.g. eu-west-1)")
    if not aws:
        return HEADER.format(tasks="setup") + PLAIN_TASK
    role = (f"          roleArn: {json.dumps(args.role_arn)}\n" if args.role_arn else
            "          # roleArn: arn:aws:iam::ACCOUNT:role/NAME   (default: $AWS_ROLE_ARN or $IDP_AWS_ROLE_ARN)\n")
    region = f"          region: {args.region}\n" if args.region else "          # region: eu-west-1\n"
    text = HEADER.format(tasks="aws-login" + (" secrets" if args.secret else "")) + \
        LOGIN_TASK.format(role=role, region=region)
    if args.secret:
        entries = "".join(f"            - {{id: {json.dumps(secret)}, env: {name}}}\n"
                          for secret, name in variable_names(args.secret).items())
        text += SECRETS_TASK.format(env_file=args.env_file, env_file_json=json.dumps(args.env_file), entries=entries)
    else:
        text += SECRETS_HINT.format(env_file=args.env_file)
    return text


def variable_names(secret_ids: list[str]) -> dict[str, str]:
    """A variable name per secret id: its last path part, upper-cased (`myapp/db-password`
    -> DB_PASSWORD; an ARN's random 6-character suffix is dropped)."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for secret in dict.fromkeys(secret_ids):
        if not secret.strip():
            raise FatalError("--secret needs a secret name or ARN")
        base = re.split(r"[/:]", secret.strip())[-1]
        if secret.startswith("arn:"):
            base = re.sub(r"-[A-Za-z0-9]{6}$", "", base)
        name = re.sub(r"[^A-Za-z0-9_]", "_", base).upper().strip("_") or "SECRET"
        name = f"_{name}" if name[0].isdigit() else name
        unique, n = name, 2
        while unique in taken:
            unique, n = f"{name}_{n}", n + 1
        taken.add(unique)
        names[secret] = unique
    return names


def _check(text: str, path: Path) -> None:
    """Load what we are about to write with the real loader: init must never write a file
    that `automations validate` rejects."""
    from automations.engine.config import load_config

    with tempfile.TemporaryDirectory() as directory:
        candidate = Path(directory) / path.name
        candidate.write_text(text, encoding="utf-8")
        try:
            load_config(candidate)
        except ConfigError as error:
            raise FatalError(f"internal error: the file init would write is invalid:\n{error}") from None


def gitpod_snippet() -> str:
    return ("tasks:\n"
            "  automations:\n"
            "    name: Start-up tasks (automations.yaml)\n"
            "    triggeredBy: [postEnvironmentStart]\n"
            f"    command: {GITPOD_START_COMMAND}\n")


def devcontainer_snippet() -> str:
    return f'"postStartCommand": "{DEVCONTAINER_START_COMMAND}"'
