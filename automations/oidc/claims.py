"""What we check in a token before anyone uses it, without verifying its signature: that it
is a JWT whose registered claims have the types RFC 7519 gives them (`decode_unverified`),
and that STS could accept it: not expired, not yet valid, for the right audience
(`check_token`). A token that can only fail raises `InvalidToken`: there is no point in
sending it to STS. Verifying the signature against the issuer's keys is
automations.oidc.verify's job.

Plain base64url and JSON, not PyJWT: importing PyJWT loads cryptography, ~60 ms of every
`automations run` for a read that needs neither (BENCHMARKS.md, profile).
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from automations.errors import StepFailed
from automations.timefmt import ago, span, utc_stamp

# A token whose `nbf`/`iat` is this little in the future is a clock difference, not a problem.
CLOCK_SKEW_SECONDS = 60


class InvalidToken(StepFailed):
    """The token can only be refused by STS: not a JWT, expired, not yet valid, wrong audience."""


# How deeply a token's JSON may nest. Real tokens nest 3 or 4 levels (a session-tags claim);
# this bound keeps every later walk of the claims (display, trust evaluation) far from
# Python's recursion limit (issue 10).
MAX_JSON_DEPTH = 32
# NumericDate claims a datetime can show: year 1 to year 9999.
_TIME_RANGE = (-62_135_596_800, 253_402_300_799)


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) of a JWT, without verifying its signature, once its JSON and its
    registered claims have the types RFC 7519 gives them. Raises InvalidToken, whose
    message never contains the token."""
    if token.count(".") != 2:
        raise InvalidToken(f"the token is not a JWT (expected three dot-separated parts, got {token.count('.') + 1})")
    header_part, claims_part, _ = token.split(".")
    header = _json_segment(header_part, "header")
    claims = _json_segment(claims_part, "payload")
    if not isinstance(header, dict):
        raise InvalidToken("the token is not a JWT (its header is not a JSON object)")
    if not isinstance(claims, dict):
        raise InvalidToken("the token is not a JWT (its payload is not a JSON object)")
    for name in ("alg", "kid", "typ"):
        if name in header and not isinstance(header[name], str):
            raise InvalidToken(f"the token's header {name!r} is not a string")
    _check_registered_claims(claims)
    return header, claims


def _json_segment(segment: str, what: str) -> Any:
    import base64
    import binascii

    try:
        raw = base64.b64decode(segment + "=" * (-len(segment) % 4), altchars=b"-_", validate=True)
        import json

        value = json.loads(raw, parse_constant=_refuse_constant)
    except _NotJson:
        raise InvalidToken(f"the token is not a JWT (its {what} holds NaN or Infinity, which JSON does not allow)") from None
    except RecursionError:
        raise InvalidToken(f"the token's {what} is nested more than {MAX_JSON_DEPTH} levels deep") from None
    except (binascii.Error, ValueError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise InvalidToken(f"the token is not a JWT (its {what} is not base64url-encoded JSON)") from None
    if _depth_exceeds(value, MAX_JSON_DEPTH):
        raise InvalidToken(f"the token's {what} is nested more than {MAX_JSON_DEPTH} levels deep")
    return value


class _NotJson(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NotJson(name)


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether JSON `value` nests deeper than `limit` (without recursing: it may be deep)."""
    level: list[Any] = [value]
    for _ in range(limit):
        level = [child for item in level if isinstance(item, (dict, list))
                 for child in (item.values() if isinstance(item, dict) else item)]
        if not level:
            return False
    return any(isinstance(item, (dict, list)) for item in level)


def _check_registered_claims(claims: Mapping[str, Any]) -> None:
    """The claims RFC 7519 defines, with its types: a wrong type is a broken token, and
    refusing it here keeps every later check (and STS) from guessing."""
    for name in ("exp", "nbf", "iat"):
        _number_claim(claims, name)
    for name in ("iss", "sub"):
        if name in claims and not isinstance(claims[name], str):
            raise InvalidToken(f"the token's {name!r} claim is not a string")
    audiences = claims.get("aud", "")
    if not isinstance(audiences, str) and not (isinstance(audiences, list)
                                               and all(isinstance(a, str) for a in audiences)):
        raise InvalidToken("the token's 'aud' claim is not a string or a list of strings")


def check_token(token: str, audience: str, now: float | None = None) -> dict[str, Any]:
    """The token's claims, if STS could accept it; else InvalidToken saying why."""
    _, claims = decode_unverified(token)
    now = time.time() if now is None else now
    exp = _number_claim(claims, "exp")
    if exp is not None and exp <= now:
        raise InvalidToken(f"the token expired at {utc_stamp(exp)} ({ago(now - exp)}); fetch a new one")
    nbf = _number_claim(claims, "nbf")
    if nbf is not None and nbf > now + CLOCK_SKEW_SECONDS:
        raise InvalidToken(f"the token is not valid before {utc_stamp(nbf)} (in {span(nbf - now)}); "
                           "is this machine's clock right?")
    audiences = claims.get("aud")
    audiences = [audiences] if isinstance(audiences, str) else audiences if isinstance(audiences, list) else []
    if not audiences:
        raise InvalidToken(f"the token has no audience (aud); STS needs {audience!r} "
                           f"(request the token with --audience {audience})")
    if audience not in audiences:
        raise InvalidToken(f"the token's audience {_show_list(audiences)} does not contain {audience!r} "
                           f"(request the token with --audience {audience})")
    return claims


def _show_list(items: list[str], most: int = 3, width: int = 100) -> str:
    """A list for a message, kept to one readable line however long the token's list is."""
    shown = [item if len(item) <= width else item[:width - 3] + "..." for item in items[:most]]
    return repr(shown) if len(items) <= most else repr(shown)[:-1] + f", ... ({len(items)} in all)]"


def _number_claim(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidToken(f"the token's {name!r} claim is not a number")
    if not _TIME_RANGE[0] <= value <= _TIME_RANGE[1]:  # also false for NaN; 1e400 parses as infinity
        raise InvalidToken(f"the token's {name!r} claim is not a time between the years 1 and 9999")
    return float(value)


