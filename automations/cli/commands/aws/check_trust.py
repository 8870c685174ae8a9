"""`automations aws check-trust`: would this role's trust policy admit this token?

Evaluated locally, as IAM does for AssumeRoleWithWebIdentity (automations.aws.trust), against the
token's claims. Exit 0: allowed; 1: denied; 2: bad input (unreadable policy or token).
"""
from __future__ import annotations

import argparse
import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from automations.engine.report.base import Reporter
from automations.errors import EXIT_FAILED, EXIT_OK, FatalError, StepFailed


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    from automations.aws.trust.evaluate import evaluate
    from automations.aws.trust.policy import PolicyError, parse_policy
    from automations.cli.commands.token import decode, read_token

    role = None
    if args.policy:
        source, document = args.policy, load_policy_file(Path(args.policy))
    else:
        role = RoleLookup(args.role)
        source, document = f"role {role.arn}", role.trust_policy
    try:
        statements = parse_policy(document)
    except PolicyError as error:
        raise FatalError(f"{source}: {error}") from None
    _, claims = decode(read_token(args))
    decision = evaluate(statements, claims, account=role.account if role else None)
    # With --role we can also ask IAM what STS checks before the policy: the provider and its audiences.
    problems = role.provider_problems(statements, claims) if role and decision.allowed else []
    admitted = decision.allowed and not problems
    failure = decision.failure
    reporter.result("trust", _describe(decision, problems, source, claims), allowed=admitted,
                    reason=decision.reason if not problems else "provider", statement=decision.statement,
                    condition=failure.condition if failure else None, key=failure.key if failure else None,
                    value=failure.value if failure else None,
                    failures=[{"statement": f.statement, "kind": f.kind, "detail": f.detail} for f in decision.failures],
                    problems=problems, notes=list(decision.notes), policy=source)
    return EXIT_OK if admitted else EXIT_FAILED


def _describe(decision: Any, problems: list[str], source: str, claims: dict[str, Any]) -> Iterator[str]:
    from automations.aws.trust.evaluate import describe_claims
    from automations.cli.commands.token import expiry_line

    yield f"token: {'; '.join(describe_claims(claims))}"
    yield f"policy: {source}"
    if decision.allowed and problems:
        yield f"refused: {decision.statement} admits this token, but STS will refuse it first"
        for problem in problems:
            yield f"  {problem}"
    elif decision.allowed:
        yield f"allowed: {decision.statement} admits this token"
        for condition in decision.matched:
            yield f"  holds: {condition}"
    elif decision.reason == "explicit-deny":
        yield f"denied: {decision.statement} denies this token explicitly (a Deny beats every Allow)"
        if decision.failure:
            yield f"  {decision.failure.detail}"
    elif decision.reason == "no-allow-statement":
        yield "denied: the policy has no Allow statement"
    else:
        yield "denied: no statement allows this token"
        for failure in decision.failures:
            yield f"  {failure.statement}: {failure.detail}"
    for note in decision.notes:
        yield f"note: {note}"
    expiry = expiry_line(claims)
    if expiry.startswith("expired"):
        yield f"note: the token {expiry}: STS refuses it before looking at the trust policy"


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


class RoleLookup:
    """A role read from IAM (GetRole), and the OIDC providers its trust policy names."""

    def __init__(self, role_name: str) -> None:
        from automations.aws.clients import AwsSessions

        self.iam = AwsSessions().client("iam")
        role = self._call("GetRole", role_name, lambda: self.iam.get_role(RoleName=role_name))["Role"]
        self.arn: str = role.get("Arn", role_name)
        self.account: str | None = self.arn.split(":")[4] if self.arn.count(":") >= 5 else None
        self.trust_policy = _decoded(role.get("AssumeRolePolicyDocument"))

    def provider_problems(self, statements: list[Any], claims: dict[str, Any]) -> list[str]:
        """What STS checks before the trust policy: the provider exists in the role's account,
        and the token's aud is one of its client ids (else InvalidIdentityToken)."""
        from automations.aws.trust.evaluate import federated_arns_for

        problems = []
        audiences = claims.get("aud")
        audiences = [audiences] if isinstance(audiences, str) else audiences if isinstance(audiences, list) else []
        for arn in federated_arns_for(statements, claims):
            try:
                provider = self.iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
            except Exception as error:  # noqa: BLE001 (reported, not fatal: the policy check stands)
                from automations.aws.clients import error_code

                code = error_code(error)
                if code == "NoSuchEntity":
                    problems.append(f"the OIDC provider {arn} does not exist in this account (STS answers "
                                    "InvalidIdentityToken); create it with `automations aws setup`")
                else:
                    problems.append(f"could not read the OIDC provider {arn} ({code or error}) to check its audiences")
                continue
            client_ids = provider.get("ClientIDList", [])
            if not set(audiences) & set(client_ids):
                problems.append(f"the token's aud {audiences} is not an audience (client id) of {arn}, which has "
                                f"{client_ids} (STS answers InvalidIdentityToken: incorrect token audience)")
        return problems

    @staticmethod
    def _call(api: str, role_name: str, call: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        from automations.aws.clients import error_code

        try:
            return call()
        except NoCredentialsError:
            raise FatalError("no AWS credentials to read the role with (iam:GetRole); use credentials that may "
                             "read it, or pass the policy with --policy FILE") from None
        except ClientError as error:
            code = error_code(error)
            if code == "NoSuchEntity":
                raise FatalError(f"no role named {role_name!r} in this account") from None
            if code in ("AccessDenied", "AccessDeniedException"):
                raise FatalError(f"IAM refused iam:{api} on {role_name!r} for these credentials; "
                                 "pass the trust policy with --policy FILE instead") from None
            message = error.response.get("Error", {}).get("Message", "")
            raise FatalError(f"IAM {api} failed: {code}: {message}") from None
        except (BotoCoreError, StepFailed) as error:  # StepFailed: an answer not to believe (automations.aws.clients)
            raise FatalError(f"IAM {api} failed: {error}") from None


def _decoded(document: Any) -> Any:
    # The IAM API returns policies URL-encoded; boto3 usually decodes them already.
    if isinstance(document, str):
        try:
            return json.loads(urllib.parse.unquote(document))
        except json.JSONDecodeError as error:
            raise FatalError(f"the role's trust policy is not JSON: {error.msg}") from None
    return document
