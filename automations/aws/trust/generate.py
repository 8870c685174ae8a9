"""Trust policies written for people: the least-privilege policy the seed's step 2 asks for
(`trust_policy`: this provider, this audience, these subjects), the pieces it is made of
(the provider's host and ARN, Gitpod's `sub` patterns, a pattern derived from a token), and
the command to suggest when STS refuses a token (`trust_troubleshooting_hint`).

Pure data in, pure data out: no AWS, no network, no PyJWT.
"""
from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from typing import Any

from automations.aws.trust.policy import ASSUME_ACTION, POLICY_VERSION, PolicyError

ACCOUNT_PATTERN = re.compile(r"^\d{12}$")
ID_SEGMENT_PATTERN = re.compile(r"^[A-Za-z0-9._-]+$")
GITPOD_ENV_SEGMENT = re.compile(r"^(?P<scope>.*?)/env:[^/]+$")
FLAT_ENV_SEGMENT = re.compile(r"^(?P<scope>.*?):environment_id:[^:]+$")


def provider_host(value: str) -> str:
    """`app.gitpod.io` from `app.gitpod.io`, `https://app.gitpod.io` or an issuer URL.
    IAM names a provider by its URL without the scheme; the path (and a trailing slash)
    stays, because the token's `iss` must match it exactly."""
    host = value.strip()
    if host.startswith("https://"):
        host = host[len("https://"):]
    elif host.startswith("http://"):
        raise PolicyError("--provider", f"{value!r}: IAM accepts only https:// identity providers")
    if not host or "://" in host or " " in host or host.startswith("/"):
        raise PolicyError("--provider", f"{value!r} is not a provider host like app.gitpod.io")
    return host


def provider_arn(account: str, provider: str) -> str:
    return f"arn:aws:iam::{account}:oidc-provider/{provider}"


def gitpod_sub_pattern(org: str, project: str | None = None, environment: str | None = None) -> str:
    """Gitpod's `sub` is `org:ORG/prj:PRJ/env:ENV`: the narrowest pattern for the scope asked."""
    for flag, value in (("--org", org), ("--project", project), ("--env", environment)):
        if value is not None and not ID_SEGMENT_PATTERN.fullmatch(value):
            raise PolicyError(flag, f"{value!r} is not an id (letters, digits, '.', '_', '-'; no wildcards)")
    if environment is not None and project is None:
        raise PolicyError("--env", "needs --project (Gitpod's sub is org:ORG/prj:PRJ/env:ENV)")
    if project is None:
        return f"org:{org}/*"
    if environment is None:
        return f"org:{org}/prj:{project}/*"
    return f"org:{org}/prj:{project}/env:{environment}"


def sub_pattern_from_claims(claims: Mapping[str, Any]) -> str:
    """The pattern admitting tokens like this one. Environments come and go, a role stays:
    Gitpod's `.../env:ID` (or `:environment_id:ID`) widens to every environment of the same
    project; any other `sub` (another issuer's) is taken exactly."""
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise PolicyError("sub", "the token has no sub claim to derive a pattern from")
    for pattern, tail in ((GITPOD_ENV_SEGMENT, "/*"), (FLAT_ENV_SEGMENT, ":*")):
        match = pattern.fullmatch(sub)
        if match and match.group("scope"):
            return _escape_wildcards(match.group("scope")) + tail
    return _escape_wildcards(sub)


def check_sub_patterns(patterns: Iterable[str]) -> list[str]:
    """Refuse patterns that admit every token of the provider (anyone with an account)."""
    checked = []
    for pattern in patterns:
        if not pattern or not pattern.strip():
            raise PolicyError("--sub", "an empty pattern")
        if set(pattern) <= {"*", "?"}:
            raise PolicyError("--sub", f"{pattern!r} admits every token the provider issues, "
                                       "to anyone: name an organisation, project or repository")
        if re.match(r"^(org|repo|organization_id):[*?]", pattern):
            raise PolicyError("--sub", f"{pattern!r} admits every organisation: name one")
        checked.append(pattern)
    return checked


def trust_policy(account: str, provider: str, audience: str, sub_patterns: list[str]) -> dict[str, Any]:
    """The least-privilege trust policy: this provider, this audience, these subjects."""
    if not ACCOUNT_PATTERN.fullmatch(account):
        raise PolicyError("--account", f"{account!r} is not a 12-digit AWS account id")
    if not audience or len(audience) > 255:
        raise PolicyError("--audience", "must be 1 to 255 characters")
    patterns = check_sub_patterns(sub_patterns)
    return {
        "Version": POLICY_VERSION,
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn(account, provider)},
            "Action": ASSUME_ACTION,
            "Condition": {
                "StringEquals": {f"{provider}:aud": audience},
                "StringLike": {f"{provider}:sub": patterns[0] if len(patterns) == 1 else patterns},
            },
        }],
    }


def trust_troubleshooting_hint(task_id: str | None, role_arn: str | None = None,
                               config_path: str | None = None) -> str:
    """The command to suggest when STS answers AccessDenied for this task's token."""
    role = role_name_from_arn(role_arn) if role_arn else None
    parts = ["automations"]
    if config_path:
        parts += ["-c", str(config_path)]
    parts += ["aws", "check-trust", "--role", role or "ROLE_NAME"]
    if task_id:
        parts += ["--task", task_id]
    return " ".join(shlex.quote(p) if p != "ROLE_NAME" else p for p in parts)


def role_name_from_arn(role_arn: str) -> str | None:
    match = re.match(r"^arn:aws[a-z-]*:iam::\d{12}:role/(?:.*/)?([\w+=,.@-]+)$", role_arn)
    return match.group(1) if match else None


def _escape_wildcards(text: str) -> str:
    # IAM's escapes for a literal * or ? inside StringLike values.
    return text.replace("$", "${$}").replace("*", "${*}").replace("?", "${?}") if re.search(r"[*?]", text) else text
