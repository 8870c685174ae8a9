"""Verifying an OIDC token the way STS will, before STS is involved.

STS answers a token it cannot check with InvalidIdentityToken, often as "Couldn't retrieve
verification key from your identity provider", and says no more. `verify_token` does STS's
part of the work step by step: the issuer's `/.well-known/openid-configuration`, its JWKS,
the signing key named by the token's `kid`, then the signature, `iss`, `aud` and `exp` with
PyJWT, and each failure says which step failed and what it means.

PyJWT is imported inside functions (listing tasks must not pay for it). The token itself
never appears in a message.
"""
from __future__ import annotations

import ipaddress
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from automations.errors import EXIT_FAILED, FatalError

FETCH_TIMEOUT = 5.0
MAX_DOCUMENT_BYTES = 1 << 20
# What STS accepts for web identity tokens: RSA and ECDSA signatures.
ACCEPTED_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512")
DISCOVERY_PATH = "/.well-known/openid-configuration"
UNREACHABLE_HINT = ("STS fetches the same documents from the internet when it checks the token; when it cannot, "
                    "it answers InvalidIdentityToken \"Couldn't retrieve verification key from your identity "
                    "provider\". The issuer must be reachable from AWS over https with a publicly trusted "
                    "certificate.")


class TokenRejected(FatalError):
    """The token would not pass STS's checks; the message says which and why."""

    exit_code = EXIT_FAILED


@dataclass(frozen=True)
class Verified:
    header: dict[str, Any]
    claims: dict[str, Any]
    issuer: str
    jwks_uri: str
    key_id: str | None


def verify_token(token: str, audience: str, *, timeout: float = FETCH_TIMEOUT) -> dict[str, Any]:
    """The token's claims, once its signature, `iss`, `aud` and expiry check out against the
    issuer's published keys; TokenRejected otherwise."""
    return verify(token, audience, timeout=timeout).claims


def verify(token: str, audience: str, *, timeout: float = FETCH_TIMEOUT) -> Verified:
    import jwt

    header, claims = _unverified(token)
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise TokenRejected("the token has no iss claim: STS cannot tell which identity provider issued it")
    _check_issuer_url(issuer, "the token's iss")
    algorithm = header.get("alg")
    if algorithm not in ACCEPTED_ALGORITHMS:
        raise TokenRejected(f"the token is signed with {algorithm!r}; STS accepts only {', '.join(ACCEPTED_ALGORITHMS)}")

    discovery_url = issuer.rstrip("/") + DISCOVERY_PATH
    discovery = _fetch_json(discovery_url, "the issuer's OpenID configuration", timeout)
    published_issuer = discovery.get("issuer")
    if published_issuer != issuer:
        raise TokenRejected(
            f"wrong issuer: the token's iss is {issuer!r}, but {discovery_url} names the issuer "
            f"{published_issuer!r}. STS requires them to be identical (and the IAM OIDC provider's URL to "
            "match them): the token was issued for a different issuer URL")
    jwks_uri = discovery.get("jwks_uri")
    if not isinstance(jwks_uri, str) or not jwks_uri:
        raise TokenRejected(f"Couldn't retrieve verification key: {discovery_url} has no jwks_uri. {UNREACHABLE_HINT}")
    _check_issuer_url(jwks_uri, "the issuer's jwks_uri")
    jwks = _fetch_json(jwks_uri, "the issuer's signing keys (JWKS)", timeout)
    key_id = header.get("kid")
    key = _signing_key(jwks, key_id, algorithm, jwks_uri)

    try:
        verified = jwt.decode(token, key, algorithms=[algorithm], audience=audience, issuer=issuer,
                              options={"require": ["exp", "iss", "aud"]})
    except jwt.InvalidSignatureError:
        raise TokenRejected(
            f"the signature does not verify with {issuer}'s key {key_id!r}: the token was not signed by "
            "this issuer (or was altered). STS answers InvalidIdentityToken") from None
    except jwt.ExpiredSignatureError:
        raise TokenRejected(f"the token expired {_when(claims.get('exp'))}: fetch a new one "
                            "(STS answers ExpiredTokenException)") from None
    except jwt.InvalidAudienceError:
        raise TokenRejected(f"the token's aud is {json.dumps(claims.get('aud'))}, not {audience!r}: request the token "
                            f"with --audience {audience}, and register that audience as a client id of the IAM "
                            "OIDC provider") from None
    except jwt.ImmatureSignatureError:
        raise TokenRejected(f"the token is not valid yet (nbf/iat {_when(claims.get('nbf') or claims.get('iat'))}); "
                            "is this machine's clock right?") from None
    except jwt.MissingRequiredClaimError as error:
        raise TokenRejected(f"the token has no {error.claim} claim, which STS requires") from None
    except jwt.InvalidIssuerError:
        raise TokenRejected(f"the token's iss does not match {issuer!r}") from None
    except jwt.PyJWTError as error:
        raise TokenRejected(f"the token does not verify: {type(error).__name__}") from None
    return Verified(header, verified, issuer, jwks_uri, key_id)


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    from automations.oidc.claims import InvalidToken, decode_unverified

    try:
        return decode_unverified(token)
    except InvalidToken as error:
        raise TokenRejected(str(error)) from None


def _check_issuer_url(url: str, what: str) -> None:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme == "https" and parsed.hostname:
        return
    if parsed.scheme == "http" and parsed.hostname and _is_loopback(parsed.hostname):
        return  # a local test issuer; AWS itself would refuse it
    raise TokenRejected(f"{what} {url!r} is not an https:// URL: STS accepts only https identity providers")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _fetch_json(url: str, what: str, timeout: float) -> dict[str, Any]:
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "automations"})
    prefix = f"Couldn't retrieve verification key: {what} at {url}"
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (https or loopback only)
            body = response.read(MAX_DOCUMENT_BYTES + 1)
    except urllib.error.HTTPError as error:
        raise TokenRejected(f"{prefix} answered HTTP {error.code}. {UNREACHABLE_HINT}") from None
    except urllib.error.URLError as error:
        reason = error.reason
        detail = getattr(reason, "strerror", None) or str(reason)
        if "CERTIFICATE_VERIFY_FAILED" in str(reason):
            detail = "its certificate does not verify"
        raise TokenRejected(f"{prefix} is unreachable ({detail}). {UNREACHABLE_HINT}") from None
    except TimeoutError:
        raise TokenRejected(f"{prefix} did not answer within {timeout:g}s. {UNREACHABLE_HINT}") from None
    except OSError as error:
        raise TokenRejected(f"{prefix} failed ({error.strerror or error}). {UNREACHABLE_HINT}") from None
    if len(body) > MAX_DOCUMENT_BYTES:
        raise TokenRejected(f"{prefix} is larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise TokenRejected(f"{prefix} is not JSON. {UNREACHABLE_HINT}") from None
    if not isinstance(document, dict):
        raise TokenRejected(f"{prefix} is not a JSON object")
    return document


def _signing_key(jwks: dict[str, Any], key_id: str | None, algorithm: str, jwks_uri: str) -> Any:
    import jwt

    keys = jwks.get("keys")
    if not isinstance(keys, list) or not keys:
        raise TokenRejected(f"Couldn't retrieve verification key: {jwks_uri} publishes no keys")
    family = "RSA" if algorithm.startswith("RS") else "EC"
    candidates = [k for k in keys if isinstance(k, dict) and k.get("kty") == family and k.get("use", "sig") == "sig"]
    if key_id is not None:
        chosen = [k for k in candidates if k.get("kid") == key_id]
        if not chosen:
            published = ", ".join(repr(k.get("kid")) for k in candidates) or "none"
            raise TokenRejected(
                f"Couldn't retrieve verification key: the token names key {key_id!r}, which {jwks_uri} does not "
                f"publish (it publishes {published}). The token was signed by a key this issuer does not publish: "
                "another issuer's token, or a key rotated away")
    elif len(candidates) == 1:
        chosen = candidates
    else:
        raise TokenRejected(f"the token names no key (no kid) and {jwks_uri} publishes {len(candidates)} {family} keys: "
                            "STS cannot choose one")
    try:
        return jwt.PyJWK.from_dict(chosen[0], algorithm=algorithm).key
    except jwt.PyJWTError as error:
        raise TokenRejected(f"the key {key_id!r} at {jwks_uri} is unusable: {error}") from None


def _when(timestamp: Any) -> str:
    if not isinstance(timestamp, (int, float)) or isinstance(timestamp, bool):
        return "at an unknown time"
    from automations.timefmt import span, utc_stamp

    delta = int(time.time() - timestamp)
    return f"at {utc_stamp(timestamp)} ({span(delta)} {'ago' if delta >= 0 else 'from now'})"
