"""One-command IAM setup: the OIDC identity provider, the role with its trust policy, an
inline policy reading exactly the given secrets (the seed's steps 1 and 2), and one allowing
`sts:AssumeRole` on the roles it chains to (aws-assume-role), whose trust policies need the
statement `chain_trust_statement` gives (in accounts that are not ours to change).

Idempotent by construction: `plan()` reads what exists and lists only the differences;
`apply()` makes exactly those. A second run plans nothing and says so; `--dry-run` prints
the plan. Every document is checked against IAM's rules before it is sent, because moto
(our test endpoint) accepts documents IAM would reject.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from automations.aws.declarations import ROLE_ARN_PATTERN
from automations.aws.trust.generate import provider_arn
from automations.aws.trust.policy import POLICY_VERSION, PolicyError, check_policy_for_iam
from automations.errors import EXIT_FAILED, FatalError
from automations.wording import plural

SECRETS_POLICY_NAME = "automations-secrets"
CHAINING_POLICY_NAME = "automations-role-chaining"
ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+$")
# Secrets Manager appends "-" and six random characters to a secret's name in its ARN.
SECRET_SUFFIX = re.compile(r"-[A-Za-z0-9]{6}$")
MIN_SESSION, MAX_SESSION = 3600, 43200
ROLE_DESCRIPTION = "Assumed with an OIDC token (AssumeRoleWithWebIdentity); managed by automations aws setup"


class SetupFailed(FatalError):
    """IAM refused a call; nothing after it was attempted."""

    exit_code = EXIT_FAILED


@dataclass(frozen=True)
class SetupRequest:
    account: str
    provider: str
    audience: str
    role_name: str
    trust_policy: dict[str, Any]
    secrets: tuple[str, ...] = ()
    max_session_duration: int = 3600
    chain_to: tuple[str, ...] = ()              # roles (in other accounts) it may assume

    @property
    def provider_arn(self) -> str:
        return provider_arn(self.account, self.provider)

    @property
    def role_arn(self) -> str:
        return f"arn:aws:iam::{self.account}:role/{self.role_name}"


@dataclass(frozen=True)
class Change:
    description: str                          # one line, e.g. "create role gitpod-dev"
    call: str                                 # the IAM API operation
    params: dict[str, Any] = field(default_factory=dict)
    document: dict[str, Any] | None = None    # the policy it sends, shown by --dry-run


def check_request(request: SetupRequest) -> None:
    """Everything IAM would refuse, refused here first, with the option to fix."""
    problems: list[tuple[str, str]] = []
    if not ROLE_NAME.fullmatch(request.role_name):
        problems.append(("--role", f"{request.role_name!r}: 1 to 64 of letters, digits and +=,.@_-"))
    if not MIN_SESSION <= request.max_session_duration <= MAX_SESSION:
        problems.append(("--max-session-duration", f"{request.max_session_duration}: IAM allows {MIN_SESSION}..{MAX_SESSION} seconds"))
    if len(f"https://{request.provider}") > 255:
        problems.append(("--provider", "the provider URL is longer than 255 characters"))
    for arn in request.secrets:
        if not SECRET_ARN.fullmatch(arn):
            problems.append(("--secret", f"{arn!r} is not a secret ARN "
                                         "(arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)"))
    for arn in request.chain_to:
        if not re.fullmatch(ROLE_ARN_PATTERN, arn):
            problems.append(("--chain-to", f"{arn!r} is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)"))
        elif arn == request.role_arn:
            problems.append(("--chain-to", f"{arn} is the role being set up: it cannot chain to itself"))
    try:
        check_policy_for_iam(request.trust_policy, "trust")
        if request.secrets:
            check_policy_for_iam(secrets_policy(request.secrets), "identity")
        if request.chain_to:
            check_policy_for_iam(chaining_policy(request.chain_to), "identity")
    except PolicyError as error:
        problems.append(("policy", str(error)))
    if problems:
        raise FatalError("\n".join(f"{option}: {message}" for option, message in problems))


def secret_resource(arn: str) -> str:
    """A secret's ARN ends in -XXXXXX (random); one given without it matches through -??????,
    as the Secrets Manager documentation recommends, and nothing else of that name's prefix."""
    return arn if SECRET_SUFFIX.search(arn) else f"{arn}-??????"


def secrets_policy(secrets: tuple[str, ...] | list[str]) -> dict[str, Any]:
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {"Sid": "ReadTheseSecrets", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
             "Resource": [secret_resource(arn) for arn in secrets]},
            # BatchGetSecretValue has no resource-level permissions (Resource must be "*"); it
            # still needs GetSecretValue on each secret, so this grants nothing more.
            {"Sid": "BatchReadThem", "Effect": "Allow", "Action": "secretsmanager:BatchGetSecretValue",
             "Resource": "*"},
        ],
    }


def chaining_policy(targets: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """The OIDC role's permission to assume exactly these roles (role chaining)."""
    return {"Version": POLICY_VERSION,
            "Statement": [{"Sid": "AssumeChainedRoles", "Effect": "Allow", "Action": "sts:AssumeRole",
                           "Resource": sorted(set(targets))}]}


def chain_trust_statement(role_arn: str) -> dict[str, Any]:
    """What the trust policy of each role chained to must hold so that `role_arn` may assume
    it. Its account is not ours to change: `aws setup` prints it for its administrators."""
    return {"Sid": "AssumedByAutomationsRole", "Effect": "Allow", "Principal": {"AWS": role_arn},
            "Action": "sts:AssumeRole"}


class IamSetup:
    def __init__(self, iam: Any, request: SetupRequest) -> None:
        self.iam = iam
        self.request = request

    def plan(self) -> list[Change]:
        role = self._get("get_role", RoleName=self.request.role_name)
        role = role["Role"] if role else None
        return [*self._provider_changes(), *self._role_changes(role),
                *self._inline_policy_changes(role, SECRETS_POLICY_NAME, self.request.secrets, secrets_policy,
                                             lambda count: f"read {plural(count, 'secret')}"),
                *self._inline_policy_changes(role, CHAINING_POLICY_NAME, self.request.chain_to, chaining_policy,
                                             lambda count: f"assume {plural(count, 'chained role')}")]

    def apply(self, changes: list[Change], on_done: Callable[[Change], None] = lambda change: None) -> None:
        for change in changes:
            self._call(change.call, **change.params)
            on_done(change)

    # -- what differs ---------------------------------------------------------------------

    def _provider_changes(self) -> list[Change]:
        request = self.request
        existing = {p["Arn"] for p in self._call("list_open_id_connect_providers").get("OpenIDConnectProviderList", [])}
        if request.provider_arn not in existing:
            return [Change(f"create OIDC provider https://{request.provider} (audience {request.audience})",
                           "create_open_id_connect_provider",
                           {"Url": f"https://{request.provider}", "ClientIDList": [request.audience]})]
        provider = self._call("get_open_id_connect_provider", OpenIDConnectProviderArn=request.provider_arn)
        if request.audience in provider.get("ClientIDList", []):
            return []
        return [Change(f"add audience {request.audience} to OIDC provider {request.provider_arn}",
                       "add_client_id_to_open_id_connect_provider",
                       {"OpenIDConnectProviderArn": request.provider_arn, "ClientID": request.audience})]

    def _role_changes(self, role: dict[str, Any] | None) -> list[Change]:
        request = self.request
        trust = json.dumps(request.trust_policy)
        if role is None:
            return [Change(f"create role {request.role_name} (MaxSessionDuration {request.max_session_duration}s)",
                           "create_role",
                           {"RoleName": request.role_name, "AssumeRolePolicyDocument": trust,
                            "MaxSessionDuration": request.max_session_duration, "Description": ROLE_DESCRIPTION},
                           request.trust_policy)]
        changes = []
        if _document(role.get("AssumeRolePolicyDocument")) != request.trust_policy:
            changes.append(Change(f"update the trust policy of role {request.role_name}", "update_assume_role_policy",
                                  {"RoleName": request.role_name, "PolicyDocument": trust}, request.trust_policy))
        if int(role.get("MaxSessionDuration") or 3600) != request.max_session_duration:
            changes.append(Change(f"set MaxSessionDuration of role {request.role_name} to {request.max_session_duration}s",
                                  "update_role", {"RoleName": request.role_name,
                                                  "MaxSessionDuration": request.max_session_duration,
                                                  "Description": role.get("Description") or ROLE_DESCRIPTION}))
        return changes

    def _inline_policy_changes(self, role: dict[str, Any] | None, name: str, items: tuple[str, ...],
                               policy: Callable[[tuple[str, ...]], dict[str, Any]],
                               what: Callable[[int], str]) -> list[Change]:
        """The inline policy `name` made of `items`, added or brought up to date (nothing
        when no items are asked for: a policy added by hand stays)."""
        request = self.request
        if not items:
            return []
        wanted = policy(items)
        current = self._get("get_role_policy", RoleName=request.role_name, PolicyName=name) \
            if role is not None else None
        if current is not None and _document(current.get("PolicyDocument")) == wanted:
            return []
        verb = "update" if current is not None else "add"
        return [Change(f"{verb} inline policy {name} of role {request.role_name}: {what(len(items))}",
                       "put_role_policy", {"RoleName": request.role_name, "PolicyName": name,
                                           "PolicyDocument": json.dumps(wanted)}, wanted)]

    # -- calling IAM ----------------------------------------------------------------------

    def _get(self, operation: str, **params: Any) -> dict[str, Any] | None:
        """The answer, or None when the entity does not exist."""
        from botocore.exceptions import ClientError

        from automations.aws.clients import error_code

        try:
            answer: dict[str, Any] = getattr(self.iam, operation)(**params)
            return answer
        except ClientError as error:
            if error_code(error) == "NoSuchEntity":
                return None
            raise _failed(f"iam:{self._api(operation)}", error) from None
        except Exception as error:  # connection problems, missing credentials
            raise _failed(f"iam:{self._api(operation)}", error) from None

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        try:
            answer: dict[str, Any] = getattr(self.iam, operation)(**params)
            return answer
        except Exception as error:
            raise _failed(f"iam:{self._api(operation)}", error) from None

    def _api(self, operation: str) -> str:
        api: str = self.iam.meta.method_to_api_mapping.get(operation, operation)
        return api


def caller_account(sts: Any) -> str:
    try:
        account: str = sts.get_caller_identity()["Account"]
        return account
    except Exception as error:
        raise _failed("sts:GetCallerIdentity", error) from None


def _document(value: Any) -> Any:
    import urllib.parse

    if isinstance(value, str):
        try:
            return json.loads(urllib.parse.unquote(value))
        except ValueError:
            return value
    return value


def _failed(action: str, error: BaseException) -> SetupFailed:
    from botocore.exceptions import ClientError, NoCredentialsError

    from automations.aws.clients import error_code

    if isinstance(error, NoCredentialsError):
        return SetupFailed("no AWS credentials: setup needs an administrator's credentials (iam:CreateRole, "
                           "iam:CreateOpenIDConnectProvider, ...); run it where `aws sts get-caller-identity` works")
    if isinstance(error, ClientError):
        code = error_code(error)
        message = error.response.get("Error", {}).get("Message", "")
        if code in ("AccessDenied", "AccessDeniedException"):
            return SetupFailed(f"{action} was refused (AccessDenied): these credentials may not do this; {message}")
        return SetupFailed(f"{action} failed: {code}: {message}")
    return SetupFailed(f"{action} failed: {error}")
