"""`automations aws credential-process --task TASK [--step ID]`: AWS's credential_process
contract for an aws-login step. Prints `{"Version": 1, AccessKeyId, SecretAccessKey,
SessionToken, Expiration}` from a cache (0600, under $XDG_CACHE_HOME/automations) until the
credentials are within the step's `minRemaining` of expiring; then fetches a new token and
assumes the role again, with the step's retries. The SDK calls it again before expiry, so
credentials last as long as the environment does.

Only the JSON goes to stdout; errors go to stderr without secrets, with a non-zero exit.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from automations.config import find_config, load_config
from automations.credentials_file import remaining_seconds
from automations.errors import EXIT_FAILED, EXIT_OK, FatalError, StepFailed
from automations.expand import expand
from automations.options import convert
from automations.output import Reporter
from automations.redaction import REDACTOR
from automations.retry import RetryPolicies, call_with_retry, retry_message
from automations.sts import parse_expiration
from automations.tokens import find_login_step

CONTRACT_KEYS = ("Version", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration")


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    from tasks.aws_login import AwsLoginStep, Login, cache_entry

    config = load_config(find_config(args.config))
    task_id, spec = find_login_step(config, args.task, args.step)
    env = _task_env(config.tasks[task_id].env)
    try:
        options, problems = convert(AwsLoginStep.Options, expand(spec.options, env), load_time=False)
    except StepFailed as error:
        raise FatalError(f"{spec.location}: {error}") from None
    if problems:
        raise FatalError(f"{spec.locate(problems[0].path)}: aws-login: {problems[0].message}")
    step = AwsLoginStep(options)
    policies = RetryPolicies.of(AwsLoginStep.retry_policy).override(spec.retry)
    try:
        role_arn = step.role_arn(env)
        cache = step.cache(env, config.path, task_id, spec.id)
        with cache.locked():  # several SDKs may ask at once: one refresh, the others read it
            entry = cache.read(role_arn)
            if entry is not None:
                REDACTOR.add(entry["SecretAccessKey"])
                REDACTOR.add(entry["SessionToken"])
            if entry is None or remaining_seconds(parse_expiration(entry["Expiration"])) <= options.min_remaining:
                def attempt() -> Any:
                    return step.assume_role(env, role_arn, task=task_id, base_dir=config.path.parent)

                def on_retry(number: int, error: BaseException, error_class: str, wait: float) -> None:
                    reporter.warning(retry_message(number, policies[error_class].attempts, str(error), error_class,
                                                   wait))

                assumed = call_with_retry(attempt, policies, step.error_class, on_retry=on_retry)
                entry = cache_entry(Login(assumed.credentials, assumed.assumed_role_arn), role_arn)
                cache.write(entry)
    except StepFailed as error:
        reporter.error(f"{task_id}: aws-login: {error}")
        return EXIT_FAILED
    # Straight to stdout, not through the reporter: its redactor would mask the very keys
    # the SDK asked for.
    sys.stdout.write(json.dumps({k: entry[k] for k in CONTRACT_KEYS}) + "\n")
    sys.stdout.flush()
    return EXIT_OK


def _task_env(task_env: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    try:
        env.update({k: expand(v, env) for k, v in task_env.items()})
    except StepFailed as error:
        raise FatalError(f"env: {error}") from None
    return env
