"""A small OIDC issuer on 127.0.0.1 for tests: it serves /.well-known/openid-configuration and
its JWKS over real HTTP, and signs tokens with its own RSA key, like app.gitpod.io does.

    with LocalIssuer() as issuer:
        token = issuer.token(sub="org:o/prj:p/env:e")
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

AUDIENCE = "sts.amazonaws.com"


KEY_POOL_SIZE = 16
_key_pool: list[Any] = []
_keys_handed_out = 0


def new_rsa_key() -> Any:
    """A 2048-bit RSA key other than the last KEY_POOL_SIZE - 1 this process handed out: a
    test (every issuer it starts, every "someone else's key") never gets one key twice.
    Each takes ~60 ms of CPU to make, so a process makes at most KEY_POOL_SIZE of them and
    hands them out again in turn (tests do not share keys in any other way)."""
    global _keys_handed_out
    index = _keys_handed_out % KEY_POOL_SIZE
    _keys_handed_out += 1
    if index == len(_key_pool):
        _key_pool.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return _key_pool[index]


class LocalIssuer:
    def __init__(self, key_id: str = "local-key-1", published_issuer: str | None = None) -> None:
        self.key = new_rsa_key()
        self.key_id = key_id
        self._published_issuer = published_issuer
        self.requests: list[str] = []
        self.request_headers: list[dict[str, str]] = []
        self.raw_bodies: dict[str, bytes] = {}  # path -> the exact body to answer instead
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                issuer.requests.append(self.path)
                issuer.request_headers.append(dict(self.headers.items()))
                documents = {"/.well-known/openid-configuration": issuer.discovery(), "/jwks": issuer.jwks()}
                document = documents.get(self.path)
                body = json.dumps(document).encode() if document is not None else b'{"error": "not found"}'
                body = issuer.raw_bodies.get(self.path, body)
                self.send_response(200 if document is not None or self.path in issuer.raw_bodies else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> LocalIssuer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def discovery(self) -> dict[str, Any]:
        return {"issuer": self._published_issuer or self.url, "jwks_uri": f"{self.url}/jwks",
                "response_types_supported": ["id_token"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"]}

    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": self.key_id, "use": "sig", "alg": "RS256"}]}

    def claims(self, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {"iss": self.url, "aud": [AUDIENCE], "sub": "org:org-a/prj:prj-1/env:env-9",
                  "iat": now, "nbf": now, "exp": now + 3600, "jti": str(uuid.uuid4())}
        for name, value in changes.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return claims

    def token(self, key: Any = None, key_id: str | None = None, **changes: Any) -> str:
        """A token of this issuer; `key`/`key_id` sign it with another key instead."""
        return jwt.encode(self.claims(**changes), key or self.key, algorithm="RS256",
                          headers={"kid": key_id or self.key_id})
