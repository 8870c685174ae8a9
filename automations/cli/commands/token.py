"""`automations token`: the OIDC token an aws-login step would use.

Without options it prints the token itself (that is what the command is for, like
`gitpod idp token`); `--decode` prints its header and claims instead, never the signature;
`--verify` checks it against the issuer's published keys as STS will.

`read_token` is shared with `aws check-trust` and `aws trust-policy --from-token`: all three
see the task's aws-login step as it runs, the task's `env:` included (automations.engine.scope).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from automations.engine.options import Options, option
from automations.engine.report.base import Reporter
from automations.errors import EXIT_OK, FatalError, StepFailed
from automations.oidc.sources import token_source
from automations.oidc.token_option import DEFAULT_AUDIENCE, TokenOption
from automations.redaction import REDACTOR

if TYPE_CHECKING:
    from automations.engine.config import Config, StepSpec, TaskSpec
    from automations.oidc.sources import TokenSource


LOGIN_STEP = "aws-login"


class _TokenSettings(Options):
    """The part of an aws-login step's options that says where its token comes from."""

    token: TokenOption | None = option(None)
    audience: str = option(DEFAULT_AUDIENCE)


class TaskLogin(NamedTuple):
    """What a task's aws-login step would use for its token, seen as the step sees it."""

    source: TokenSource
    audience: str
    env: dict[str, str]  # the task's environment, which the source reads (`token: {env: ...}`)


def find_login_step(config: Config, task_id: str | None = None,
                    step_id: str | None = None) -> tuple[TaskSpec, StepSpec]:
    """The aws-login step of `task_id` (of the only task having one, when None)."""
    if task_id is None:
        candidates = [t.id for t in config.tasks.values() if any(s.uses == LOGIN_STEP for s in t.steps)]
        if not candidates:
            raise FatalError(f"no task in {config.path} has an {LOGIN_STEP} step")
        if len(candidates) > 1:
            raise FatalError(f"several tasks have an {LOGIN_STEP} step ({', '.join(candidates)}); choose one with --task")
        task_id = candidates[0]
    task = config.tasks.get(task_id)
    if task is None:
        raise FatalError(f"unknown task {task_id!r} (tasks: {', '.join(config.tasks) or 'none'})")
    steps = [s for s in task.steps if s.uses == LOGIN_STEP and (step_id is None or s.id == step_id)]
    if not steps:
        which = f" with id {step_id!r}" if step_id else ""
        raise FatalError(f"task {task_id!r} has no {LOGIN_STEP} step{which}")
    if len(steps) > 1:
        ids = ", ".join(repr(s.id) for s in steps if s.id)
        raise FatalError(f"task {task_id!r} has several {LOGIN_STEP} steps; choose one with --step"
                         + (f" ({ids})" if ids else " (give them `id:`s)"))
    return task, steps[0]


def task_login(config: Config, task_id: str | None = None, step_id: str | None = None,
               audience: str | None = None, environ: Mapping[str, str] | None = None) -> TaskLogin:
    """The token source and audience of a task's aws-login step, its `${...}` expanded from
    the task's environment (`environ`, default this process's, plus the task's `env:`)
    exactly as when the step runs (automations.engine.scope). `audience` overrides the step's."""
    from automations.engine.scope import step_options, task_env

    task, spec = find_login_step(config, task_id, step_id)
    try:
        env = task_env(task, environ)
        settings = step_options(spec, _TokenSettings, env, keys=("token", "audience"))
    except StepFailed as error:
        raise FatalError(str(error)) from None
    audience = audience or settings.audience
    return TaskLogin(token_source(settings.token, audience, config.path.parent), audience, env)


def _task_login(args: argparse.Namespace, audience: str | None = None) -> TaskLogin:
    from automations.engine.config import find_config, load_config

    config = load_config(find_config(args.config))
    return task_login(config, getattr(args, "task", None), getattr(args, "step", None), audience)


def read_token(args: argparse.Namespace, audience: str | None = None) -> str:
    """The token from --token-file, else from the task's aws-login token source. It is
    registered with the redactor at once: no message or log line can show it."""
    token_file = getattr(args, "token_file", None)
    if token_file:
        token = _read_file(Path(token_file))
    else:
        login = _task_login(args, audience)
        try:
            token = login.source.fetch(login.env)
        except StepFailed as error:  # TokenNotReady included: one attempt is what a person asked for
            raise FatalError(f"cannot get the token from {login.source.describe}: {error}") from None
    REDACTOR.add(token)
    return token


def step_audience(args: argparse.Namespace) -> str:
    """--audience, else the aws-login step's `audience:`, else sts.amazonaws.com."""
    audience: str | None = args.audience
    if audience:
        return audience
    if getattr(args, "token_file", None):
        return DEFAULT_AUDIENCE
    return _task_login(args).audience


def decode(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    from automations.oidc.claims import InvalidToken, decode_unverified

    try:
        return decode_unverified(token)
    except InvalidToken as error:
        raise FatalError(str(error)) from None


def expiry_line(claims: dict[str, Any], now: float | None = None) -> str:
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or isinstance(exp, bool):
        return "the token has no exp claim: it does not say when it expires (STS requires one)"
    from automations.timefmt import ago, span, utc_stamp

    now = time.time() if now is None else now
    left = int(exp - now)
    return f"expires at {utc_stamp(exp)} (in {span(left)})" if left > 0 else f"expired at {utc_stamp(exp)} ({ago(left)})"


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    audience = args.audience
    token = read_token(args, audience)
    if not args.decode and not args.verify:
        # The one place a token is printed: on request, to stdout, unredacted, nothing else.
        sys.stdout.write(token + "\n")
        sys.stdout.flush()
        return EXIT_OK
    header, claims = decode(token)
    if args.decode:
        _print_decoded(reporter, header, claims)
    if args.verify:
        from automations.oidc.verify import verify

        wanted = audience or step_audience(args)
        verified = verify(token, wanted)
        message = (f"verified: signed by {verified.issuer}'s key {verified.key_id!r} (from {verified.jwks_uri}), "
                   f"audience {wanted!r}; {expiry_line(verified.claims)}")
        reporter.result("verified", [message], issuer=verified.issuer, key_id=verified.key_id,
                        jwks_uri=verified.jwks_uri, expires=claims.get("exp"))
    return EXIT_OK


def _print_decoded(reporter: Reporter, header: dict[str, Any], claims: dict[str, Any]) -> None:
    expiry = expiry_line(claims)
    # The expiry on stderr, so `automations token --decode | jq` reads plain JSON.
    reporter.result("token", [json.dumps({"header": header, "claims": claims}, indent=2, sort_keys=False)],
                    stderr=[expiry], header=header, claims=claims, expiry=expiry)


def _read_file(path: Path) -> str:
    from automations.oidc.sources import FileTokenSource

    try:  # the same bounded read as a step's `token: {file: ...}`
        return FileTokenSource(path, f"token file {path}").fetch(os.environ)
    except StepFailed as error:
        raise FatalError(str(error)) from None


