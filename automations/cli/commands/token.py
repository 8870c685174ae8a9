"""`automations token`: the OIDC token an aws-login step would use.

Without options it prints the token itself (that is what the command is for, like
`gitpod idp token`); `--decode` prints its header and claims instead, never the signature;
`--verify` checks it against the issuer's published keys as STS will.

`read_token` is shared with `aws check-trust` and `aws trust-policy --from-token`.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from automations.errors import EXIT_OK, FatalError, StepFailed
from automations.engine.report.base import Reporter
from automations.redaction import REDACTOR


def read_token(args: argparse.Namespace, audience: str | None = None) -> str:
    """The token from --token-file, else from the task's aws-login token source. It is
    registered with the redactor at once: no message or log line can show it."""
    token_file = getattr(args, "token_file", None)
    if token_file:
        token = _read_file(Path(token_file))
    else:
        from automations.engine.config import find_config, load_config
        from automations.oidc.sources import token_source_for_task

        config = load_config(find_config(args.config))
        source = token_source_for_task(config, getattr(args, "task", None), getattr(args, "step", None), audience)
        try:
            token = source.fetch(os.environ)
        except StepFailed as error:  # TokenNotReady included: one attempt is what a person asked for
            raise FatalError(f"cannot get the token from {source.describe}: {error}") from None
    REDACTOR.add(token)
    return token


def step_audience(args: argparse.Namespace) -> str:
    """--audience, else the aws-login step's `audience:`, else sts.amazonaws.com."""
    from automations.oidc.sources import DEFAULT_AUDIENCE

    if args.audience:
        return args.audience
    if getattr(args, "token_file", None):
        return DEFAULT_AUDIENCE
    from automations.engine.config import find_config, load_config
    from automations.engine.expand import expand
    from automations.oidc.sources import find_login_step

    config = load_config(find_config(args.config))
    _, spec = find_login_step(config, getattr(args, "task", None), getattr(args, "step", None))
    raw = spec.options.get("audience") if isinstance(spec.options, dict) else None
    if raw is None:
        return DEFAULT_AUDIENCE
    try:
        return str(expand(raw, os.environ))
    except StepFailed as error:
        raise FatalError(f"{spec.location}: audience: {error}") from None


def decode(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    from automations.oidc.sources import InvalidToken, decode_unverified

    try:
        return decode_unverified(token)
    except InvalidToken as error:
        raise FatalError(str(error)) from None


def expiry_line(claims: dict[str, Any], now: float | None = None) -> str:
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or isinstance(exp, bool):
        return "the token has no exp claim: it does not say when it expires (STS requires one)"
    from automations.oidc.sources import format_time

    now = time.time() if now is None else now
    left = int(exp - now)
    span = _span(abs(left))
    return f"expires at {format_time(exp)} (in {span})" if left > 0 else f"expired at {format_time(exp)} ({span} ago)"


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


def _span(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
