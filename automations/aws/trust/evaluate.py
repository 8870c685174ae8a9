"""Trust policies checked locally: `evaluate()` decides, as IAM does when STS receives
AssumeRoleWithWebIdentity, whether a trust policy admits a token with these claims, and says
which statement, condition and claim value failed. The seed's troubleshooting ("compare the sub claim with the trust policy by eye")
becomes `automations aws check-trust`.

What IAM does, and so what this module does (IAM User Guide, "Condition operators" and
"Conditions with multiple context keys or values"):
- a statement applies when its Principal names the token's identity provider
  (`arn:aws:iam::ACCOUNT:oidc-provider/HOST[/PATH]` for the issuer `https://HOST[/PATH]`),
  its Action covers sts:AssumeRoleWithWebIdentity, and every condition holds;
- conditions: AND across operators and across keys, OR across one key's values (NOR for the
  negated operators); a key missing from the request makes a condition false, except for the
  negated operators (true), `...IfExists` (true), `Null`, and `ForAllValues:` (true);
- an explicit Deny beats any Allow; no applicable Allow means denied.

The request context of a web identity token holds `PROVIDER:claim` for the token's claims
(`PROVIDER:aud`, `PROVIDER:sub`, `PROVIDER:amr`, ...). Keys of other providers are absent;
`aws:`/`sts:` keys describe the request, not the token, and cannot be checked here: they are
reported, and assumed not to get in the way.

Pure data in, pure data out: no AWS, no network, no PyJWT.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import translate
from typing import Any, Literal

from automations.aws.trust.policy import (
    ASSUME_ACTION,
    FEDERATED_ARN,
    SESSION_TAGS_CLAIM,
    TAG_SESSION_ACTION,
    UNCHECKED_OPERATORS,
    Condition,
    Statement,
    parse_policy,
    value_text,
)

REQUEST_KEY_PREFIXES = ("aws", "sts")
# Claims IAM documents as condition keys for any OIDC provider; others may not be exposed.
DOCUMENTED_CLAIM_KEYS = ("aud", "sub", "amr", "azp", "oaud", "email")


@dataclass(frozen=True)
class Failure:
    """Why one statement did not apply (or, for a Deny, why it did)."""

    statement: str
    kind: Literal["principal", "action", "condition"]
    detail: str                         # one line for people
    condition: str | None = None        # e.g. 'StringLike app.gitpod.io:sub "org:A/*"'
    key: str | None = None
    value: Any = None                   # the token's value for the key (None: absent)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: Literal["allowed", "explicit-deny", "no-allow-statement", "no-matching-allow"]
    statement: str | None               # the statement that allowed, denied, or came closest
    failure: Failure | None             # for a denial: what failed (or which Deny matched)
    failures: tuple[Failure, ...] = ()  # every Allow statement's failure, in order
    notes: tuple[str, ...] = ()         # what could not be checked here, and warnings
    matched: tuple[str, ...] = ()       # for an allowance: the conditions that held

    @property
    def summary(self) -> str:
        if self.allowed:
            return f"allowed by {self.statement}"
        if self.reason == "explicit-deny":
            return f"denied: {self.statement} denies this token explicitly ({self.failure.detail if self.failure else ''})"
        if self.reason == "no-allow-statement":
            return "denied: the policy has no Allow statement"
        return f"denied: no statement allows this token; {self.failure.statement}: {self.failure.detail}" \
            if self.failure else "denied: no statement allows this token"


@dataclass
class _Context:
    provider: str | None
    claims: Mapping[str, Any]
    notes: list[str] = field(default_factory=list)

    def lookup(self, key: str) -> tuple[Literal["token", "request", "absent"], str, Any]:
        """Where a condition key's value comes from, the claim's name, and its raw value."""
        if self.provider is not None and key.lower().startswith(self.provider.lower() + ":"):
            claim = key[len(self.provider) + 1:]
            if claim not in self.claims:
                # IAM's condition key names are case-insensitive.
                claim = next((name for name in self.claims if name.lower() == claim.lower()), claim)
            return "token", claim, self.claims.get(claim)
        if key.partition(":")[0].lower() in REQUEST_KEY_PREFIXES:
            return "request", key, None
        # Another provider's key: a token of this provider does not put it in the request.
        return "absent", key, None


def evaluate(policy: Any, claims: Mapping[str, Any], *, account: str | None = None) -> Decision:
    """Would IAM let a token with these claims assume a role with this trust policy?
    `account`, when known (the role's), must also be the provider's account."""
    statements = policy if isinstance(policy, list) else parse_policy(policy)
    issuer = claims.get("iss")
    context = _Context(_issuer_provider(issuer) if isinstance(issuer, str) else None, claims)
    required = [ASSUME_ACTION] + ([TAG_SESSION_ACTION] if SESSION_TAGS_CLAIM in claims else [])
    if context.provider is None:
        context.notes.append("the token has no usable iss claim: no Federated principal can match it")

    deny = next((f for f in (_deny_match(s, context, required, account) for s in statements
                             if s.effect == "Deny") if f), None)
    allows = [s for s in statements if s.effect == "Allow"]
    results = [(s, _allow_failure(s, context, required, account)) for s in allows]
    winner = next((s for s, failure in results if failure is None), None)
    notes = tuple(dict.fromkeys(context.notes))
    failures = tuple(f for _, f in results if f is not None)
    if deny is not None:
        return Decision(False, "explicit-deny", deny.statement, deny, failures, notes)
    if winner is not None:
        matched = tuple(str(c) for c in winner.conditions)
        return Decision(True, "allowed", winner.label, None, failures, notes, matched)
    if not allows:
        return Decision(False, "no-allow-statement", None, None, (), notes)
    closest = min(failures, key=lambda f: {"condition": 0, "action": 1, "principal": 2}[f.kind])
    return Decision(False, "no-matching-allow", closest.statement, closest, failures, notes)


def _issuer_provider(issuer: str) -> str | None:
    for scheme in ("https://", "http://"):
        if issuer.startswith(scheme) and len(issuer) > len(scheme):
            return issuer[len(scheme):]
    return None


def _principal_failure(statement: Statement, context: _Context, account: str | None) -> str | None:
    wanted = context.provider
    if statement.principals is None:
        matches = True
    else:
        matches = any(_names_provider(p, wanted, account) for p in statement.principals)
    if statement.not_principal:
        matches = not matches
    if matches:
        return None
    names = ", ".join(statement.principals or ("*",))
    issuer = context.claims.get("iss")
    why = f"{'NotPrincipal' if statement.not_principal else 'Principal'} {names} does not admit the token's issuer {issuer!r}"
    if account and statement.principals and any(_names_provider(p, wanted, None) for p in statement.principals):
        why += f" in account {account} (the provider must be in the role's account)"
    elif wanted:
        why += f" (expected Federated arn:aws:iam::ACCOUNT:oidc-provider/{wanted})"
    return why


def _names_provider(principal: str, provider: str | None, account: str | None) -> bool:
    if provider is None:
        return False
    match = FEDERATED_ARN.fullmatch(principal)
    if match is None:
        # Well-known web identity providers are named by host (accounts.google.com).
        return principal == provider
    return match.group(2) == provider and (account is None or match.group(1) == account)


def _action_failure(statement: Statement, required: list[str]) -> str | None:
    for action in required:
        covered = any(_action_matches(pattern, action) for pattern in statement.actions)
        if statement.not_action:
            covered = not covered
        if not covered:
            element = "NotAction" if statement.not_action else "Action"
            extra = " (the token carries session tags, which need sts:TagSession too)" \
                if action == TAG_SESSION_ACTION else ""
            return f"{element} {', '.join(statement.actions)} does not cover {action}{extra}"
    return None


def _action_matches(pattern: str, action: str) -> bool:
    return re.fullmatch(translate(pattern.lower()), action.lower()) is not None


def _allow_failure(statement: Statement, context: _Context, required: list[str],
                   account: str | None) -> Failure | None:
    why = _principal_failure(statement, context, account)
    if why:
        return Failure(statement.label, "principal", why)
    why = _action_failure(statement, required)
    if why:
        return Failure(statement.label, "action", why)
    for condition in statement.conditions:
        holds, detail, value = _condition(condition, context, for_deny=False)
        if not holds:
            return Failure(statement.label, "condition", detail, str(condition), condition.key, value)
    return None


def _deny_match(statement: Statement, context: _Context, required: list[str], account: str | None) -> Failure | None:
    # A Deny applies when it covers any action the exchange needs.
    if _principal_failure(statement, context, account) or all(_action_failure(statement, [a]) for a in required):
        return None
    details = []
    for condition in statement.conditions:
        holds, detail, value = _condition(condition, context, for_deny=True)
        if not holds:
            return None
        details.append((condition, detail, value))
    if not details:
        return Failure(statement.label, "condition", "it has no Condition: it denies every token of this provider")
    condition, detail, value = details[-1]
    return Failure(statement.label, "condition", detail, str(condition), condition.key, value)


def _condition(condition: Condition, context: _Context, *, for_deny: bool) -> tuple[bool, str, Any]:
    """(holds, one line saying why, the token's value for the key)."""
    source, claim, raw_value = context.lookup(condition.key)
    values = _claim_values(raw_value)
    if condition.base in UNCHECKED_OPERATORS or source == "request":
        what = "an operator not evaluated here" if condition.base in UNCHECKED_OPERATORS else "the request, not the token"
        context.notes.append(f"{condition} depends on {what}: not checked; assumed "
                             f"{'not to apply' if for_deny else 'to hold'}")
        return (not for_deny), f"{condition}: not checked here", raw_value
    if source == "token":
        if claim not in DOCUMENTED_CLAIM_KEYS and raw_value is not None:
            context.notes.append(f"{condition.key}: IAM documents only aud, sub, amr, azp, oaud and email as "
                                 "condition keys (plus some provider-specific ones); check that it knows this claim")
        if condition.qualifier is None and len(values) > 1:
            context.notes.append(f"{condition.key} has several values ({', '.join(values)}): IAM expects a "
                                 f"ForAnyValue: or ForAllValues: operator on a multi-valued key; read here as "
                                 f"{'no value' if _negated(condition.base) else 'any value'} matching")
    holds = _holds(condition, values)
    return holds, _explain(condition, values, holds, source), raw_value


def _holds(condition: Condition, values: list[str]) -> bool:
    base = condition.base
    if base == "Null":
        return (not values) == (condition.values[0].lower() == "true")
    if not values:
        if condition.if_exists or condition.qualifier == "ForAllValues":
            return True
        if condition.qualifier == "ForAnyValue":
            return False
        return _negated(base)
    match = _matcher(condition)
    if condition.qualifier == "ForAllValues":
        return all(match(v) for v in values)
    if condition.qualifier == "ForAnyValue":
        return any(match(v) for v in values)
    if _negated(base):
        # Negated operators are NOR across the policy's values, over every claim value.
        return all(match(v) for v in values)
    return any(match(v) for v in values)


def _negated(base: str) -> bool:
    return "Not" in base


def _matcher(condition: Condition) -> Callable[[str], bool]:
    base = condition.base
    wanted = condition.values
    if base == "Bool":
        return lambda v: v.lower() in {w.lower() for w in wanted}
    positive: Callable[[str], bool]
    if base in ("StringEquals", "StringNotEquals"):
        positive = lambda v: v in wanted  # noqa: E731
    elif base in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
        lowered = {w.lower() for w in wanted}
        positive = lambda v: v.lower() in lowered  # noqa: E731
    else:  # StringLike / StringNotLike
        patterns = [_like_pattern(w) for w in wanted]
        positive = lambda v: any(p.fullmatch(v) for p in patterns)  # noqa: E731
    return (lambda v: not positive(v)) if _negated(base) else positive


def _like_pattern(value: str) -> re.Pattern[str]:
    """StringLike: `*` any run of characters (including `/` and none), `?` one character;
    `${*}`, `${?}`, `${$}` are literal; matching is case-sensitive."""
    parts = []
    for token in re.split(r"(\$\{[*?$]\}|\*|\?)", value):
        if token == "*":
            parts.append(".*")
        elif token == "?":
            parts.append(".")
        elif token in ("${*}", "${?}", "${$}"):
            parts.append(re.escape(token[2]))
        elif token:
            parts.append(re.escape(token))
    return re.compile("".join(parts), re.DOTALL)


def _claim_values(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [value_text(v) for v in value if v is not None and not isinstance(v, (dict, list))]
    if isinstance(value, dict):
        return [json.dumps(value, sort_keys=True)]
    return [value_text(value)]


def _explain(condition: Condition, values: list[str], holds: bool, source: str) -> str:
    if source == "token":
        subject = f"the token's {condition.key.split(':')[-1]}"
    else:
        subject = f"{condition.key} (not a key of this token's provider)"
    verdict = f"{condition} {'holds' if holds else 'fails'}"
    if condition.base == "Null":
        want = "absent" if condition.values[0].lower() == "true" else "present"
        return f"{verdict}: {subject} is {'absent' if not values else 'present'}, the policy wants it {want}"
    if not values:
        return (f"{verdict}: {subject} is absent"
                + (" (a missing key fails every operator except the negated ones, ...IfExists, Null "
                   "and ForAllValues)" if not holds else ""))
    shown = json.dumps(values[0]) if len(values) == 1 else json.dumps(values)
    return f"{verdict}: {subject} is {shown}"


def federated_arns_for(statements: list[Statement], claims: Mapping[str, Any]) -> list[str]:
    """The provider ARNs of Allow statements that name this token's issuer."""
    issuer = claims.get("iss")
    provider = _issuer_provider(issuer) if isinstance(issuer, str) else None
    arns = [p for s in statements if s.effect == "Allow" and s.principals and not s.not_principal
            for p in s.principals if FEDERATED_ARN.fullmatch(p) and _names_provider(p, provider, None)]
    return list(dict.fromkeys(arns))


def describe_claims(claims: Mapping[str, Any], names: Iterable[str] = ("iss", "aud", "sub", "amr")) -> list[str]:
    return [f"{name}: {json.dumps(claims[name])}" for name in names if name in claims]
