"""`automations aws credential-process --cache FILE` (or `--task TASK [--step ID]`): AWS's
credential_process contract for an aws-login step with `credentials: process`. Prints
`{"Version": 1, AccessKeyId, SecretAccessKey, SessionToken, Expiration}` from the step's
cache (0600, under $XDG_CACHE_HOME/automations) until the credentials are within the step's
`minRemaining` of expiring; then fetches a new token and assumes the role again, with the
step's retries. The SDK calls it again before expiry, so credentials last as long as the
environment does.

It runs nothing from the repository: everything a refresh needs was snapshotted into the
cache at login (automations.aws.login). It never loads automations.yaml, imports a plugin
or imports `tasks`; a changed automations.yaml takes effect at the next `automations run`.

Only the JSON goes to stdout, whatever `--output` says; errors go to stderr without secrets,
with a non-zero exit.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from automations.aws.login import ChainedRoleLogin, RoleLogin, SnapshotError, refresh_cached
from automations.engine.report.base import Reporter
from automations.errors import EXIT_FAILED, EXIT_OK, FatalError, StepFailed
from automations.files.credentials_file import CredentialCache, cache_dir
from automations.retry import retry_message

# Every AWS SDK call pays this command's start while the credentials last: the answer from
# the cache imports no datetime, hashlib, botocore or token code (bench/credential_process.py).

CONTRACT_KEYS = ("Version", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration")


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    # The SDK parses stdout as the answer: events and errors (JSON ones too) go to stderr.
    reporter.out = reporter.err
    cache = _cache(args)
    task, step = args.task or "aws-login", "aws-login"
    logins: list[RoleLogin] = []

    def found(login: RoleLogin) -> None:
        nonlocal task, step
        task, step = login.task, "aws-assume-role" if isinstance(login, ChainedRoleLogin) else "aws-login"
        logins.append(login)

    def on_retry(login: RoleLogin, number: int, error: BaseException, error_class: str, wait: float) -> None:
        # A chained login's source is refreshed first, under its own retry policy: its count.
        source = "" if login is logins[0] else f"refreshing {login.role_arn} first: "
        reporter.warning(source + retry_message(number, login.retry_policy[error_class].attempts, str(error),
                                                error_class, wait))

    try:
        entry = refresh_cached(cache, os.environ, on_retry, on_login=found)
    except SnapshotError as error:
        reporter.error(f"{task}: {step}: {error}; run `automations run {args.task or 'TASK'}` "
                       f"(its {step} step, with `credentials: process`) to log in again")
        return EXIT_FAILED
    except StepFailed as error:
        reporter.error(f"{task}: {step}: {error}")
        return EXIT_FAILED
    # Straight to stdout, not through the reporter: its redactor would mask the very keys
    # the SDK asked for.
    sys.stdout.write(json.dumps({k: entry[k] for k in CONTRACT_KEYS}) + "\n")
    sys.stdout.flush()
    return EXIT_OK


def _cache(args: argparse.Namespace) -> CredentialCache:
    """The cache `--cache` names, or the one of `--task`/`--step` of the config (found, not
    read: its path is part of the key)."""
    if args.cache:
        return CredentialCache(Path(args.cache).absolute())
    from automations.engine.config import find_config

    config = find_config(args.config)
    if args.step:
        return CredentialCache.for_step(os.environ, config, args.task, args.step)
    # Without --step, the login that snapshotted this config's task (its step id is in the key);
    # the aws-login's rather than an aws-assume-role's of the same task.
    found = [path for path in sorted(cache_dir(os.environ).glob("aws-credentials-*.json"))
             if _snapshot_of(path, config, args.task)]
    logins = [path for path in found if _snapshot_of(path, config, args.task, kind=None)]
    if len(found) > 1 and len(logins) != 1:
        raise FatalError(f"task {args.task!r} has several steps with `credentials: process`; "
                         "choose one with --step, or name its cache with --cache")
    found = logins if len(found) > 1 else found
    return CredentialCache(found[0]) if found else CredentialCache.for_step(os.environ, config, args.task, None)


def _snapshot_of(path: Path, config: Path, task: str, **kind: str | None) -> bool:
    """Whether `path` holds a snapshot of `task` of `config` (and of `kind=`, if given)."""
    entry = CredentialCache(path).read()
    refresh = entry.get("Refresh") if entry else None
    return isinstance(refresh, dict) and refresh.get("config") == str(config) and refresh.get("task") == task \
        and all(refresh.get("kind") == value for value in kind.values())
