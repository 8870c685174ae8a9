"""JWTs with chosen claims, for tests: `make_token(**claims)`.

Signed RS256 with a throwaway RSA key made once per test session, so tokens look exactly like
an identity provider's (header with `kid`, three base64url parts). Nothing verifies them:
moto accepts any token, and our own pre-flight checks decode without verifying.
"""
from __future__ import annotations

import functools
import time
import uuid
from typing import Any

import jwt

ISSUER = "https://app.gitpod.io"
AUDIENCE = "sts.amazonaws.com"
ORG_ID = "0191e223-1c3b-7388-aa66-7b4b3b1a6c38"
PROJECT_ID = "019527e4-7b4e-7d9a-bc0f-2b2f08b1e6a1"
ENVIRONMENT_ID = "019527e4-8a41-7c5d-9e3b-3c1e5f6a7b8c"
_UNSET = object()


@functools.lru_cache(maxsize=1)
def _private_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def default_claims(now: int | None = None) -> dict[str, Any]:
    now = int(time.time()) if now is None else now
    return {
        "iss": ISSUER,
        "aud": [AUDIENCE],
        "sub": f"org:{ORG_ID}/prj:{PROJECT_ID}/env:{ENVIRONMENT_ID}",
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "jti": str(uuid.uuid4()),
    }


def make_token(**claims: Any) -> str:
    """A signed JWT with Gitpod-like defaults; a claim given as None is left out."""
    payload = default_claims()
    for name, value in claims.items():
        if value is None:
            payload.pop(name, None)
        else:
            payload[name] = value
    return jwt.encode(payload, _private_key(), algorithm="RS256", headers={"kid": "test-key-1"})


def raw_token(payload: str, header: str = '{"alg":"RS256","typ":"JWT","kid":"test-key-1"}') -> str:
    """A JWT-shaped token whose header and payload are exactly the JSON text given (which
    may be JSON no encoder would write: NaN, 1e400, deep nesting). Its signature is junk."""
    import base64

    def part(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(payload)}.c2lnbmF0dXJl"
