"""`automations aws check-trust`: would this role's trust policy admit this token?

Evaluated locally, as IAM does for AssumeRoleWithWebIdentity (automations.trust), against the
token's claims. Exit 0: allowed; 1: denied; 2: bad input (unreadable policy or token).
"""
from __future__ import annotations

import argparse
import json
import urllib.parse
from pathlib import Path
from typing import Any

from automations.errors import EXIT_FAILED, EXIT_OK, FatalError
from automations.output import Reporter


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    from automations.commands.token import decode, expiry_line, read_token
    from automations.trust import PolicyError, describe_claims, evaluate, parse_policy

    if args.policy:
        source, document, account = args.policy, load_policy_file(Path(args.policy)), None
    else:
        source, document, account = role_trust_policy(args.role)
    try:
        statements = parse_policy(document)
    except PolicyError as error:
        raise FatalError(f"{source}: {error}") from None
    _, claims = decode(read_token(args))
    decision = evaluate(statements, claims, account=account)
    expired = expiry_line(claims).startswith("expired")

    if reporter.json_output:
        failure = decision.failure
        reporter.event("trust", allowed=decision.allowed, reason=decision.reason, statement=decision.statement,
                       condition=failure.condition if failure else None, key=failure.key if failure else None,
                       value=failure.value if failure else None,
                       failures=[{"statement": f.statement, "kind": f.kind, "detail": f.detail}
                                 for f in decision.failures],
                       notes=list(decision.notes), policy=source)
        return EXIT_OK if decision.allowed else EXIT_FAILED

    reporter.print(f"token: {'; '.join(describe_claims(claims))}")
    reporter.print(f"policy: {source}")
    if decision.allowed:
        reporter.print(f"allowed: {decision.statement} admits this token")
        for condition in decision.matched:
            reporter.print(f"  holds: {condition}")
    elif decision.reason == "explicit-deny":
        reporter.print(f"denied: {decision.statement} denies this token explicitly (a Deny beats every Allow)")
        if decision.failure:
            reporter.print(f"  {decision.failure.detail}")
    elif decision.reason == "no-allow-statement":
        reporter.print("denied: the policy has no Allow statement")
    else:
        reporter.print("denied: no statement allows this token")
        for failure in decision.failures:
            reporter.print(f"  {failure.statement}: {failure.detail}")
    for note in decision.notes:
        reporter.print(f"note: {note}")
    if expired:
        reporter.print(f"note: the token {expiry_line(claims)}: STS refuses it before looking at the trust policy")
    return EXIT_OK if decision.allowed else EXIT_FAILED


def load_policy_file(path: Path) -> Any:
    """A trust policy JSON file: the document itself, or what `aws iam get-role` prints."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FatalError(f"policy file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise FatalError(f"cannot read policy file {path}: {getattr(error, 'strerror', None) or error}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise FatalError(f"{path}:{error.lineno}:{error.colno}: not JSON: {error.msg}") from None
    role = document.get("Role") if isinstance(document, dict) else None
    if isinstance(role, dict) and "AssumeRolePolicyDocument" in role:
        return _decoded(role["AssumeRolePolicyDocument"])
    return document


def role_trust_policy(role_name: str) -> tuple[str, Any, str | None]:
    """(a label, the trust policy, the role's account) from IAM GetRole."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    from automations.aws import AwsSessions, error_code

    try:
        role = AwsSessions().client("iam").get_role(RoleName=role_name)["Role"]
    except NoCredentialsError:
        raise FatalError("no AWS credentials to read the role with (iam:GetRole); use credentials that may read "
                         "it, or pass the policy with --policy FILE") from None
    except ClientError as error:
        code = error_code(error)
        if code == "NoSuchEntity":
            raise FatalError(f"no role named {role_name!r} in this account") from None
        if code in ("AccessDenied", "AccessDeniedException"):
            raise FatalError(f"IAM refused iam:GetRole on {role_name!r} for these credentials; "
                             "pass the trust policy with --policy FILE instead") from None
        raise FatalError(f"IAM GetRole failed: {code}: {error.response.get('Error', {}).get('Message', '')}") from None
    except BotoCoreError as error:
        raise FatalError(f"IAM GetRole failed: {error}") from None
    arn = role.get("Arn", "")
    account = arn.split(":")[4] if arn.count(":") >= 5 else None
    return f"role {arn or role_name}", _decoded(role.get("AssumeRolePolicyDocument")), account


def _decoded(document: Any) -> Any:
    # The IAM API returns policies URL-encoded; boto3 usually decodes them already.
    if isinstance(document, str):
        try:
            return json.loads(urllib.parse.unquote(document))
        except json.JSONDecodeError as error:
            raise FatalError(f"the role's trust policy is not JSON: {error.msg}") from None
    return document
