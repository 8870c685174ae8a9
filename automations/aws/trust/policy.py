"""A policy document as IAM reads it: its statements and conditions (`parse_policy`), and what
IAM would refuse in it (`check_policy_for_iam`: structure, size). Read by the evaluator
(automations.aws.trust.evaluate), checked for what the generator writes
(automations.aws.trust.generate, automations.aws.iam_setup)."""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
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

FEDERATED_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):oidc-provider/(.+)$")


class PolicyError(ValueError):
    """The document is not a trust policy IAM would accept; `path` says where."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


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
            texts = tuple(value_text(v) for v in values)
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


def value_text(value: Any) -> str:
    """A condition value as IAM compares it: a JSON boolean is `true`/`false`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def policy_json(policy: Mapping[str, Any]) -> str:
    return json.dumps(policy, indent=2)
