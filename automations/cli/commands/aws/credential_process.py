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
import re
import sys
import time
from pathlib import Path

from automations.aws.login import SnapshotError, WebIdentityLogin, cache_entry
from automations.engine.report.base import Reporter
from automations.errors import EXIT_FAILED, EXIT_OK, FatalError, StepFailed
from automations.files.credentials_file import CredentialCache, cache_dir
from automations.redaction import REDACTOR
from automations.retry import retry_message
from automations.timefmt import UTC_STAMP_PATTERN, utc_stamp

# Every AWS SDK call pays this command's start while the credentials last: the answer from
# the cache imports no datetime, hashlib, botocore or token code (bench/credential_process.py).

CONTRACT_KEYS = ("Version", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration")


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    # The SDK parses stdout as the answer: events and errors (JSON ones too) go to stderr.
    reporter.out = reporter.err
    cache = _cache(args)
    task = args.task or "aws-login"
    try:
        with cache.locked():  # several SDKs may ask at once: one refresh, the others read it
            entry = cache.read()
            if entry is None:
                raise SnapshotError(f"no login in {cache.path}")
            login = WebIdentityLogin.from_snapshot(entry.get("Refresh"))
            task = login.task
            REDACTOR.add(entry["SecretAccessKey"])
            REDACTOR.add(entry["SessionToken"])
            if _expires_within(entry["Expiration"], login.min_remaining):
                def on_retry(number: int, error: BaseException, error_class: str, wait: float) -> None:
                    reporter.warning(retry_message(number, login.retry_policy[error_class].attempts, str(error),
                                                   error_class, wait))

                assumed = login.assume_role_with_retries(os.environ, on_retry)
                entry = cache_entry(assumed.credentials, assumed.assumed_role_arn, login)
                cache.write(entry)
    except SnapshotError as error:
        reporter.error(f"{task}: aws-login: {error}; run `automations run {args.task or 'TASK'}` "
                       "(its aws-login step, with `credentials: process`) to log in again")
        return EXIT_FAILED
    except StepFailed as error:
        reporter.error(f"{task}: aws-login: {error}")
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
    # Without --step, the login that snapshotted this config's task (its step id is in the key).
    found = [path for path in sorted(cache_dir(os.environ).glob("aws-credentials-*.json"))
             if _snapshot_of(path, config, args.task)]
    if len(found) > 1:
        raise FatalError(f"task {args.task!r} has several aws-login steps with `credentials: process`; "
                         "choose one with --step")
    return CredentialCache(found[0]) if found else CredentialCache.for_step(os.environ, config, args.task, None)


def _snapshot_of(path: Path, config: Path, task: str) -> bool:
    entry = CredentialCache(path).read()
    refresh = entry.get("Refresh") if entry else None
    return isinstance(refresh, dict) and refresh.get("config") == str(config) and refresh.get("task") == task


def _expires_within(expiration: str, seconds: float) -> bool:
    """Whether `expiration`, as the cache stores it (2030-01-31T12:00:00Z), is at most
    `seconds` away. Fixed-width UTC stamps compare as text; any other form means refresh."""
    if not re.fullmatch(UTC_STAMP_PATTERN, expiration):
        return True
    return expiration <= utc_stamp(time.time() + seconds)
