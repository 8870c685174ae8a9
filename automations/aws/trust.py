"""Trust policies for AssumeRoleWithWebIdentity: written for people, and checked locally.

`trust_policy()` writes the least-privilege policy the seed's step 2 asks for. `evaluate()`
decides, as IAM does when STS receives AssumeRoleWithWebIdentity, whether a trust policy
admits a token with these claims, and says which statement, condition and claim value
failed. The seed's troubleshooting ("compare the sub claim with the trust policy by eye")
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
import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import translate
from typing import Any, Literal

ASSUME_ACTION = "sts:AssumeRoleWithWebIdentity"
TAG_SESSION_ACTION = "sts:TagSession"
# A token carrying session tags needs sts:TagSession allowed as well.
SESSION_TAGS_CLAIM = "https://aws.amazon.com/tags"
POLICY_VERSION = "2012-10-17"
# IAM's default quota for a role trust policy (non-whitespace characters).
TRUST_POLICY_MAX_CHARS = 2048
INLINE_POLICY_MAX_CHARS = 10240

STRING_OPERATORS = ("StringEquals", "StringNotEquals", "StringEqualsIgnoreCase",
                    "StringNotEqualsIgnoreCase", "StringLike", "StringNotLike")
# Valid IAM operators that make no sense on token claims, or that we do not evaluate:
# accepted in a policy, reported as "not checked here".
UNCHECKED_OPERATORS = ("NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals",
                       "NumericGreaterThan", "NumericGreaterThanEquals", "DateEquals", "DateNotEquals",
                       "DateLessThan", "DateLessThanEquals", "DateGreaterThan", "DateGreaterThanEquals",
                       "BinaryEquals", "IpAddress", "NotIpAddress", "ArnEquals", "ArnLike",
                       "ArnNotEquals", "ArnNotLike")
BASE_OPERATORS = (*STRING_OPERATORS, "Bool", "Null", *UNCHECKED_OPERATORS)
SET_QUALIFIERS = ("ForAnyValue", "ForAllValues")
REQUEST_KEY_PREFIXES = ("aws", "sts")
# Claims IAM documents as condition keys for any OIDC provider; others may not be exposed.
DOCUMENTED_CLAIM_KEYS = ("aud", "sub", "amr", "azp", "oaud", "email")

ACCOUNT_PATTERN = re.compile(r"^\d{12}$")
ID_SEGMENT_PATTERN = re.compile(r"^[A-Za-z0-9._-]+$")
FEDERATED_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):oidc-provider/(.+)$")
GITPOD_ENV_SEGMENT = re.compile(r"^(?P<scope>.*?)/env:[^/]+$")
FLAT_ENV_SEGMENT = re.compile(r"^(?P<scope>.*?):environment_id:[^:]+$")


class PolicyError(ValueError):
    """The document is not a trust policy IAM would accept; `path` says where."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


# -- generating ----------------------------------------------------------------------------

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


def policy_json(policy: Mapping[str, Any]) -> str:
    return json.dumps(policy, indent=2)


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


# -- validating ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Statement:
    index: int                      # 1-based, as people count
    sid: str | None
    effect: Literal["Allow", "Deny"]
    principals: tuple[str, ...] | None   # Federated ARNs; None = any principal ("*")
    not_principal: bool
    actions: tuple[str, ...]
    not_action: bool
    conditions: tuple[Condition, ...]

    @property
    def label(self) -> str:
        return f"Statement {self.index}" + (f" (Sid {self.sid!r})" if self.sid else "")


@dataclass(frozen=True)
class Condition:
    operator: str                   # as written, e.g. "ForAnyValue:StringLike"
    key: str
    values: tuple[str, ...]
    qualifier: str | None           # ForAnyValue / ForAllValues
    base: str                       # StringLike, Bool, Null, ...
    if_exists: bool

    def __str__(self) -> str:
        shown = self.values[0] if len(self.values) == 1 else list(self.values)
        return f"{self.operator} {self.key} {json.dumps(shown)}"


def parse_policy(document: Any, *, kind: Literal["trust", "identity"] = "trust") -> list[Statement]:
    """The statements of a policy document, or PolicyError for what IAM would reject."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError as error:
            raise PolicyError("", f"not JSON: {error.msg} at line {error.lineno} column {error.colno}") from None
    if not isinstance(document, dict):
        raise PolicyError("", "a policy is a JSON object with Version and Statement")
    unknown = set(document) - {"Version", "Id", "Statement"}
    if unknown:
        raise PolicyError(sorted(unknown)[0], "unknown top-level element (expected Version, Id, Statement)")
    version = document.get("Version")
    if version is not None and version not in (POLICY_VERSION, "2008-10-17"):
        raise PolicyError("Version", f"{version!r} is not a policy language version (use {POLICY_VERSION!r})")
    raw = document.get("Statement")
    if raw is None:
        raise PolicyError("Statement", "missing")
    raw_statements = [raw] if isinstance(raw, dict) else raw
    if not isinstance(raw_statements, list) or not raw_statements:
        raise PolicyError("Statement", "must be a statement object or a non-empty list of them")
    statements = [_parse_statement(s, i, kind) for i, s in enumerate(raw_statements)]
    sids = [s.sid for s in statements if s.sid]
    duplicate = next((sid for sid in sids if sids.count(sid) > 1), None)
    if duplicate:
        raise PolicyError("Statement", f"Sid {duplicate!r} is used twice (IAM requires unique Sids)")
    return statements


def policy_size(document: Mapping[str, Any]) -> int:
    """IAM counts a policy's characters without whitespace."""
    return len(re.sub(r"\s", "", json.dumps(document)))


def check_policy_for_iam(document: Mapping[str, Any], kind: Literal["trust", "identity"]) -> None:
    """What IAM would reject (moto accepts more than IAM does): structure and size."""
    parse_policy(dict(document), kind=kind)
    if document.get("Version") != POLICY_VERSION:
        raise PolicyError("Version", f"must be {POLICY_VERSION!r}")
    limit = TRUST_POLICY_MAX_CHARS if kind == "trust" else INLINE_POLICY_MAX_CHARS
    size = policy_size(document)
    if size > limit:
        raise PolicyError("", f"{size} characters (without whitespace); IAM allows {limit} for a "
                              f"{'trust policy' if kind == 'trust' else 'role inline policy'}")


def _parse_statement(raw: Any, position: int, kind: str) -> Statement:
    path = f"Statement[{position}]"
    if not isinstance(raw, dict):
        raise PolicyError(path, "a statement is a JSON object")
    allowed = {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource",
               "NotResource", "Condition"}
    unknown = set(raw) - allowed
    if unknown:
        raise PolicyError(f"{path}.{sorted(unknown)[0]}", "unknown statement element")
    sid = raw.get("Sid")
    if sid is not None and (not isinstance(sid, str) or not re.fullmatch(r"[A-Za-z0-9]*", sid)):
        raise PolicyError(f"{path}.Sid", "letters and digits only")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyError(f"{path}.Effect", f"must be \"Allow\" or \"Deny\", not {json.dumps(effect)}")
    principals, not_principal = None, False
    if kind == "trust":
        if ("Principal" in raw) == ("NotPrincipal" in raw):
            raise PolicyError(path, "a trust policy statement needs exactly one of Principal and NotPrincipal")
        not_principal = "NotPrincipal" in raw
        principals = _federated(raw["NotPrincipal" if not_principal else "Principal"],
                                f"{path}.{'NotPrincipal' if not_principal else 'Principal'}")
        for element in ("Resource", "NotResource"):
            if element in raw:
                raise PolicyError(f"{path}.{element}", "a trust policy has no Resource (IAM rejects it)")
    else:
        for element in ("Principal", "NotPrincipal"):
            if element in raw:
                raise PolicyError(f"{path}.{element}", "an identity policy has no Principal (IAM rejects it)")
        if ("Resource" in raw) == ("NotResource" in raw):
            raise PolicyError(path, "needs exactly one of Resource and NotResource")
        element = "Resource" if "Resource" in raw else "NotResource"
        _strings(raw[element], f"{path}.{element}")
    if ("Action" in raw) == ("NotAction" in raw):
        raise PolicyError(path, "needs exactly one of Action and NotAction")
    not_action = "NotAction" in raw
    action_key = "NotAction" if not_action else "Action"
    actions = _strings(raw[action_key], f"{path}.{action_key}")
    for action in actions:
        if action != "*" and not re.match(r"^[A-Za-z0-9-]+:[A-Za-z0-9*?]+$", action):
            raise PolicyError(f"{path}.{action_key}", f"{action!r} is not an action like sts:AssumeRoleWithWebIdentity")
    conditions = _conditions(raw.get("Condition", {}), f"{path}.Condition")
    return Statement(position + 1, sid, effect, principals, not_principal, tuple(actions), not_action,
                     tuple(conditions))


def _federated(raw: Any, path: str) -> tuple[str, ...] | None:
    if raw == "*":
        return None
    if not isinstance(raw, dict) or not raw:
        raise PolicyError(path, 'must be "*" or an object like {"Federated": "arn:aws:iam::ACCOUNT:oidc-provider/HOST"}')
    for kind in raw:
        if kind not in ("AWS", "Federated", "Service", "CanonicalUser"):
            raise PolicyError(f"{path}.{kind}", "unknown principal type (AWS, Federated, Service, CanonicalUser)")
    federated = _strings(raw["Federated"], f"{path}.Federated") if "Federated" in raw else []
    if raw.get("AWS") == "*" or federated == ["*"]:
        return None
    for arn in federated:
        if not FEDERATED_ARN.fullmatch(arn) and not re.fullmatch(r"[a-z0-9.-]+\.[a-z]+", arn):
            raise PolicyError(f"{path}.Federated", f"{arn!r} is not an OIDC provider ARN "
                                                   "(arn:aws:iam::ACCOUNT:oidc-provider/HOST)")
    return tuple(federated)


def _strings(raw: Any, path: str) -> list[str]:
    values = [raw] if isinstance(raw, str) else raw
    if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
        raise PolicyError(path, "must be a non-empty string or list of strings")
    return values


def _conditions(raw: Any, path: str) -> list[Condition]:
    if not isinstance(raw, dict):
        raise PolicyError(path, "must be an object of operators")
    conditions = []
    for operator, block in raw.items():
        qualifier, base, if_exists = _split_operator(operator, f"{path}.{operator}")
        if not isinstance(block, dict) or not block:
            raise PolicyError(f"{path}.{operator}", "must be a non-empty object of condition keys")
        for key, value in block.items():
            values = [value] if not isinstance(value, list) else value
            if not values or not all(isinstance(v, (str, bool, int, float)) for v in values):
                raise PolicyError(f"{path}.{operator}.{key}", "values must be strings (or a list of them)")
            texts = tuple(_text(v) for v in values)
            if base in ("Bool", "Null") and not all(t.lower() in ("true", "false") for t in texts):
                raise PolicyError(f"{path}.{operator}.{key}", f'{base} takes "true" or "false"')
            conditions.append(Condition(operator, key, texts, qualifier, base, if_exists))
    return conditions


def _split_operator(operator: str, path: str) -> tuple[str | None, str, bool]:
    qualifier = None
    name = operator
    if ":" in name:
        qualifier, name = name.split(":", 1)
        if qualifier not in SET_QUALIFIERS:
            raise PolicyError(path, f"unknown set operator {qualifier!r} (ForAnyValue, ForAllValues)")
    if_exists = name.endswith("IfExists") and name != "IfExists"
    base = name[: -len("IfExists")] if if_exists else name
    if base not in BASE_OPERATORS or (base == "Null" and (if_exists or qualifier)):
        hint = " (IAM has no StringLikeIgnoreCase: use StringEqualsIgnoreCase, or StringLike with both cases)" \
            if "Like" in base and "IgnoreCase" in base else ""
        raise PolicyError(path, f"unknown condition operator {operator!r}{hint}")
    return qualifier, base, if_exists


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# -- evaluating ----------------------------------------------------------------------------

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
        return [_text(v) for v in value if v is not None and not isinstance(v, (dict, list))]
    if isinstance(value, dict):
        return [json.dumps(value, sort_keys=True)]
    return [_text(value)]


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
