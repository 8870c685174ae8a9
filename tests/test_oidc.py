"""`verify_token` checks a token as STS will, against a local OIDC issuer over real HTTP, and
each failure says which check failed and why."""
from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from support.oidc_issuer import AUDIENCE, LocalIssuer, new_rsa_key

from automations.oidc.verify import UNREACHABLE_HINT, TokenRejected, verify_token


@pytest.fixture
def issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer() as running:
        yield running


def test_a_good_token_verifies_and_gives_its_claims(issuer: LocalIssuer) -> None:
    token = issuer.token(sub="org:o/prj:p/env:e")
    claims = verify_token(token, AUDIENCE)
    assert claims["sub"] == "org:o/prj:p/env:e"
    assert issuer.requests == ["/.well-known/openid-configuration", "/jwks"]


def test_a_token_signed_by_another_key_with_the_same_kid_fails_the_signature(issuer: LocalIssuer) -> None:
    token = issuer.token(key=new_rsa_key())
    with pytest.raises(TokenRejected, match="signature does not verify") as raised:
        verify_token(token, AUDIENCE)
    assert token not in str(raised.value)


def test_a_token_signed_by_an_unpublished_key_is_explained(issuer: LocalIssuer) -> None:
    token = issuer.token(key=new_rsa_key(), key_id="someone-elses-key")
    with pytest.raises(TokenRejected, match="Couldn't retrieve verification key.*'someone-elses-key'"):
        verify_token(token, AUDIENCE)


def test_an_expired_token_says_when_it_expired(issuer: LocalIssuer) -> None:
    now = int(time.time())
    token = issuer.token(iat=now - 7200, nbf=now - 7200, exp=now - 600)
    with pytest.raises(TokenRejected, match=r"expired at .*\(10m ago\)"):
        verify_token(token, AUDIENCE)


def test_a_token_whose_issuer_differs_from_the_published_one_is_a_wrong_issuer(issuer: LocalIssuer) -> None:
    # Same server, other spelling: the discovery document names http://127.0.0.1:PORT.
    token = issuer.token(iss=issuer.url.replace("127.0.0.1", "localhost"))
    with pytest.raises(TokenRejected, match="wrong issuer"):
        verify_token(token, AUDIENCE)


def test_a_token_of_another_issuer_is_checked_against_that_issuer() -> None:
    with LocalIssuer() as mine, LocalIssuer() as theirs:
        token = mine.token(iss=theirs.url)   # claims to be theirs, signed with my key and kid
        with pytest.raises(TokenRejected, match="signature does not verify"):
            verify_token(token, AUDIENCE)
        assert theirs.requests and not mine.requests


def test_a_wrong_audience_names_the_audience_to_request(issuer: LocalIssuer) -> None:
    token = issuer.token(aud=["some-app"])
    with pytest.raises(TokenRejected, match="--audience sts.amazonaws.com"):
        verify_token(token, AUDIENCE)


def test_an_unreachable_issuer_is_the_couldnt_retrieve_verification_key_case() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with LocalIssuer() as issuer:
        token = issuer.token(iss=f"http://127.0.0.1:{port}")
    with pytest.raises(TokenRejected) as raised:
        verify_token(token, AUDIENCE)
    message = str(raised.value)
    assert "Couldn't retrieve verification key" in message and "unreachable" in message
    assert "reachable from AWS" in message


def test_a_missing_discovery_document_is_reported_with_its_status() -> None:
    with LocalIssuer() as issuer:
        token = issuer.token(iss=issuer.url + "/tenant")
        with pytest.raises(TokenRejected, match="HTTP 404"):
            verify_token(token, AUDIENCE)


def test_a_plain_http_issuer_off_this_machine_is_refused_before_any_request() -> None:
    with LocalIssuer() as issuer:
        token = issuer.token(iss="http://issuer.example.com")
    with pytest.raises(TokenRejected, match="https"):
        verify_token(token, AUDIENCE)


def test_a_symmetric_signature_is_refused(issuer: LocalIssuer) -> None:
    import jwt

    token = jwt.encode(issuer.claims(), "a-shared-secret-of-enough-length-for-hs256", algorithm="HS256")
    with pytest.raises(TokenRejected, match="HS256"):
        verify_token(token, AUDIENCE)


def test_something_that_is_not_a_jwt_is_refused_without_echoing_it() -> None:
    with pytest.raises(TokenRejected, match="not a JWT") as raised:
        verify_token("not-a-token-at-all", AUDIENCE)
    assert "not-a-token-at-all" not in str(raised.value)


# -- what is asked of the issuer, and what its documents may hold ------------------------------

def test_the_issuer_is_asked_for_json_by_name(issuer: LocalIssuer) -> None:
    verify_token(issuer.token(), AUDIENCE)
    for headers in issuer.request_headers:
        assert headers["Accept"] == "application/json" and headers["User-Agent"] == "automations"


def test_an_issuer_that_never_answers_is_given_up_on_in_time() -> None:
    with socket.socket() as silent, LocalIssuer() as signer:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        token = signer.token(iss=f"http://127.0.0.1:{silent.getsockname()[1]}")
        started = time.monotonic()
        with pytest.raises(TokenRejected, match=r"did not answer within 0\.5s"):
            verify_token(token, AUDIENCE, timeout=0.5)
        assert time.monotonic() - started < 10


def test_a_document_of_the_size_limit_is_read_and_one_byte_more_is_refused(issuer: LocalIssuer) -> None:
    from automations.oidc.verify import MAX_DOCUMENT_BYTES

    document = issuer.discovery()
    text = json.dumps(document)
    padded = text[:-1] + " " * (MAX_DOCUMENT_BYTES - len(text)) + "}"
    serve_raw(issuer, "/.well-known/openid-configuration", padded.encode())
    verify_token(issuer.token(), AUDIENCE)
    serve_raw(issuer, "/.well-known/openid-configuration", padded.encode() + b" ")
    with pytest.raises(TokenRejected, match=f"is larger than {MAX_DOCUMENT_BYTES} bytes"):
        verify_token(issuer.token(), AUDIENCE)


def serve_raw(issuer: LocalIssuer, path: str, body: bytes) -> None:
    """Make `issuer` answer `path` with exactly `body`."""
    issuer.raw_bodies[path] = body


def publish(issuer: LocalIssuer, *keys: Any) -> None:
    issuer.jwks = lambda: {"keys": list(keys)}  # type: ignore[method-assign]


def jwk(key: Any, **fields: Any) -> dict[str, Any]:
    """The public JWK of an RSA or EC private key, with `fields` added."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    family = jwt.algorithms.RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else jwt.algorithms.ECAlgorithm
    return {**json.loads(family.to_jwk(key.public_key())), **fields}


@pytest.mark.parametrize("keys", [[], "not a list"])
def test_an_issuer_publishing_no_keys_is_the_couldnt_retrieve_verification_key_case(issuer, keys) -> None:
    issuer.jwks = lambda: {"keys": keys}
    with pytest.raises(TokenRejected) as raised:
        verify_token(issuer.token(), AUDIENCE)
    assert str(raised.value) == f"Couldn't retrieve verification key: {issuer.url}/jwks publishes no keys"


def test_a_token_signed_with_an_ec_key_verifies(issuer: LocalIssuer) -> None:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    publish(issuer, jwk(key, kid="ec-1", use="sig"))
    token = jwt.encode(issuer.claims(), key, algorithm="ES256", headers={"kid": "ec-1"})
    assert verify_token(token, AUDIENCE)["iss"] == issuer.url


def test_the_key_is_chosen_by_kid_among_keys_of_the_tokens_family(issuer: LocalIssuer) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    other_family = jwk(ec.generate_private_key(ec.SECP256R1()), kid=issuer.key_id, use="sig")
    publish(issuer, "not a key", other_family, jwk(issuer.key, kid=issuer.key_id, use="sig"))
    assert verify_token(issuer.token(), AUDIENCE)["iss"] == issuer.url


def test_a_key_published_without_use_is_a_signing_key(issuer: LocalIssuer) -> None:
    publish(issuer, jwk(issuer.key, kid=issuer.key_id))
    assert verify_token(issuer.token(), AUDIENCE)["iss"] == issuer.url


def test_an_unknown_kid_names_the_keys_the_issuer_does_publish(issuer: LocalIssuer) -> None:
    publish(issuer, jwk(issuer.key, kid="key-a", use="sig"), jwk(new_rsa_key(), kid="key-b"),
            jwk(new_rsa_key(), kid="key-c", use="enc"))
    with pytest.raises(TokenRejected) as raised:
        verify_token(issuer.token(key_id="key-z"), AUDIENCE)
    assert str(raised.value) == (
        f"Couldn't retrieve verification key: the token names key 'key-z', which {issuer.url}/jwks does not "
        "publish (it publishes 'key-a', 'key-b'). The token was signed by a key this issuer does not publish: "
        "another issuer's token, or a key rotated away")


def test_a_kid_only_an_encryption_key_has_is_not_published_for_signing(issuer: LocalIssuer) -> None:
    publish(issuer, jwk(issuer.key, kid=issuer.key_id, use="enc"))
    with pytest.raises(TokenRejected, match=r"\(it publishes none\)"):
        verify_token(issuer.token(), AUDIENCE)


def test_a_token_without_kid_uses_the_one_key_of_its_family(issuer: LocalIssuer) -> None:
    import jwt

    publish(issuer, jwk(issuer.key, kid="only", use="sig"))
    token = jwt.encode(issuer.claims(), issuer.key, algorithm="RS256")
    assert verify_token(token, AUDIENCE)["iss"] == issuer.url


@pytest.mark.parametrize("count", [0, 2])
def test_a_token_without_kid_cannot_choose_among_none_or_several_keys(issuer: LocalIssuer, count: int) -> None:
    import jwt

    publish(issuer, "not a key", *[jwk(new_rsa_key(), kid=f"k{n}") for n in range(count)])
    token = jwt.encode(issuer.claims(), issuer.key, algorithm="RS256")
    with pytest.raises(TokenRejected) as raised:
        verify_token(token, AUDIENCE)
    assert str(raised.value) == (f"the token names no key (no kid) and {issuer.url}/jwks publishes {count} RSA keys: "
                                 "STS cannot choose one")


def test_an_unusable_published_key_is_named(issuer: LocalIssuer) -> None:
    publish(issuer, {"kty": "RSA", "kid": issuer.key_id, "n": "AQAB", "e": "not-base64!"})
    with pytest.raises(TokenRejected, match=f"^the key '{issuer.key_id}' at {issuer.url}/jwks is unusable: "):
        verify_token(issuer.token(), AUDIENCE)


# -- when: how long ago a token expired, or how soon it becomes valid ---------------------------

@pytest.fixture
def frozen_now(monkeypatch: pytest.MonkeyPatch) -> int:
    """Our clock stopped at a whole second (PyJWT keeps its own, a moment later)."""
    now = int(time.time())
    monkeypatch.setattr(time, "time", lambda: float(now))
    return now


@pytest.mark.parametrize(("seconds", "said"), [(59, "59s ago"), (60, "1m ago"), (3599, "59m ago"), (3600, "1h00m ago")])
def test_an_expiry_is_told_in_seconds_under_a_minute_then_minutes_then_hours(issuer, frozen_now, seconds, said) -> None:
    with pytest.raises(TokenRejected, match=rf"expired at .* \({said}\): fetch a new one \(STS answers ExpiredTokenException\)$"):
        verify_token(issuer.token(iat=frozen_now - 7200, nbf=frozen_now - 7200, exp=frozen_now - seconds), AUDIENCE)


def test_a_token_not_valid_yet_says_how_soon_it_will_be(issuer: LocalIssuer, frozen_now: int) -> None:
    with pytest.raises(TokenRejected, match=r"not valid yet \(nbf/iat at .* \(5m from now\)\); is this machine's clock right\?$"):
        verify_token(issuer.token(nbf=frozen_now + 300), AUDIENCE)


def test_a_token_issued_in_the_future_without_nbf_says_when_it_was_issued(issuer: LocalIssuer, frozen_now: int) -> None:
    with pytest.raises(TokenRejected, match=r"not valid yet \(nbf/iat at .* \(10m from now\)\)"):
        verify_token(issuer.token(nbf=None, iat=frozen_now + 600), AUDIENCE)


# -- the token's own iss and alg, checked before any request -----------------------------------

def test_an_issuer_that_never_answers_is_given_up_on_after_five_seconds_by_default() -> None:
    with socket.socket() as silent, LocalIssuer() as signer:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        token = signer.token(iss=f"http://127.0.0.1:{silent.getsockname()[1]}")
        with pytest.raises(TokenRejected, match=r"did not answer within 5s"):
            verify_token(token, AUDIENCE)


def token_of(claims: dict[str, Any]) -> str:
    """A token with these claims as they are (PyJWT would refuse to sign some), badly signed."""
    import base64

    def part(data: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    return f"{part({'alg': 'RS256', 'kid': 'local-key-1'})}.{part(claims)}.{part('signature')}"


@pytest.mark.parametrize("iss", [None, ""])
def test_a_token_without_an_issuer_is_refused_saying_so(issuer: LocalIssuer, iss: Any) -> None:
    with pytest.raises(TokenRejected) as raised:
        verify_token(token_of(issuer.claims(iss=iss) if iss is not None else issuer.claims(iss=None)), AUDIENCE)
    assert str(raised.value) == "the token has no iss claim: STS cannot tell which identity provider issued it"
    assert issuer.requests == []


@pytest.mark.parametrize("iss", ["http://issuer.example.com", "ftp://127.0.0.1/x", "https:///no-host"])
def test_an_issuer_that_is_not_https_is_refused_before_any_request(iss: str) -> None:
    with LocalIssuer() as issuer:
        token = issuer.token(iss=iss)
    with pytest.raises(TokenRejected) as raised:
        verify_token(token, AUDIENCE)
    assert str(raised.value) == f"the token's iss {iss!r} is not an https:// URL: STS accepts only https identity providers"


def test_an_https_issuer_is_fetched() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with LocalIssuer() as issuer:
        token = issuer.token(iss=f"https://127.0.0.1:{port}")
    with pytest.raises(TokenRejected, match=f"^Couldn't retrieve verification key: the issuer's OpenID configuration "
                                            f"at https://127.0.0.1:{port}/.well-known/openid-configuration is unreachable"):
        verify_token(token, AUDIENCE)


def test_an_issuer_url_ending_in_a_slash_has_its_documents_below_it(issuer: LocalIssuer) -> None:
    issuer_url = issuer.url + "/"
    issuer._published_issuer = issuer_url  # what this issuer calls itself, as a token's iss must
    assert verify_token(issuer.token(iss=issuer_url), AUDIENCE)["iss"] == issuer_url
    assert issuer.requests == ["/.well-known/openid-configuration", "/jwks"]


def test_a_symmetric_signature_is_refused_naming_what_sts_accepts(issuer: LocalIssuer) -> None:
    import jwt

    token = jwt.encode(issuer.claims(), "a-shared-secret-of-enough-length-for-hs256", algorithm="HS256")
    with pytest.raises(TokenRejected) as raised:
        verify_token(token, AUDIENCE)
    assert str(raised.value) == "the token is signed with 'HS256'; STS accepts only RS256, RS384, RS512, ES256, ES384, ES512"


# -- the issuer's documents ----------------------------------------------------------------------

def discovery_failed(url: str, how: str) -> str:
    """The message for an issuer at `url` whose discovery document could not be had `how`."""
    return (f"Couldn't retrieve verification key: the issuer's OpenID configuration at "
            f"{url}/.well-known/openid-configuration {how}. {UNREACHABLE_HINT}")


def test_a_missing_discovery_document_is_named_with_its_address_and_status() -> None:
    with LocalIssuer() as issuer:
        token = issuer.token(iss=issuer.url + "/tenant")
        with pytest.raises(TokenRejected) as raised:
            verify_token(token, AUDIENCE)
    assert str(raised.value) == discovery_failed(f"{issuer.url}/tenant", "answered HTTP 404")


def test_missing_signing_keys_are_named_with_their_address_and_status(issuer: LocalIssuer) -> None:
    issuer.discovery = lambda: {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/no-keys-here"}  # type: ignore[method-assign]
    with pytest.raises(TokenRejected) as raised:
        verify_token(issuer.token(), AUDIENCE)
    assert str(raised.value) == (f"Couldn't retrieve verification key: the issuer's signing keys (JWKS) at "
                                 f"{issuer.url}/no-keys-here answered HTTP 404. {UNREACHABLE_HINT}")


def test_signing_keys_that_never_come_are_given_up_on_in_time(issuer: LocalIssuer) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        keys_url = f"http://127.0.0.1:{silent.getsockname()[1]}/jwks"
        issuer.discovery = lambda: {"issuer": issuer.url, "jwks_uri": keys_url}  # type: ignore[method-assign]
        with pytest.raises(TokenRejected, match=r"signing keys \(JWKS\) at .* did not answer within 0\.5s"):
            verify_token(issuer.token(), AUDIENCE, timeout=0.5)


@pytest.mark.parametrize("jwks_uri", [None, "", 123])
def test_a_discovery_document_without_a_jwks_uri_is_the_couldnt_retrieve_case(issuer: LocalIssuer, jwks_uri) -> None:
    issuer.discovery = lambda: {"issuer": issuer.url, "jwks_uri": jwks_uri}  # type: ignore[method-assign]
    with pytest.raises(TokenRejected) as raised:
        verify_token(issuer.token(), AUDIENCE)
    assert str(raised.value) == (f"Couldn't retrieve verification key: {issuer.url}/.well-known/openid-configuration "
                                 f"has no jwks_uri. {UNREACHABLE_HINT}")


def test_signing_keys_not_served_over_https_are_refused(issuer: LocalIssuer) -> None:
    issuer.discovery = lambda: {"issuer": issuer.url, "jwks_uri": "http://keys.example.com/jwks"}  # type: ignore[method-assign]
    with pytest.raises(TokenRejected) as raised:
        verify_token(issuer.token(), AUDIENCE)
    assert str(raised.value) == ("the issuer's jwks_uri 'http://keys.example.com/jwks' is not an https:// URL: "
                                 "STS accepts only https identity providers")


def test_a_wrong_issuer_says_what_each_side_names(issuer: LocalIssuer) -> None:
    token_issuer = issuer.url.replace("127.0.0.1", "localhost")
    with pytest.raises(TokenRejected) as raised:
        verify_token(issuer.token(iss=token_issuer), AUDIENCE)
    assert str(raised.value) == (
        f"wrong issuer: the token's iss is {token_issuer!r}, but {token_issuer}/.well-known/openid-configuration "
        f"names the issuer {issuer.url!r}. STS requires them to be identical (and the IAM OIDC provider's URL to "
        "match them): the token was issued for a different issuer URL")


@pytest.mark.parametrize("claim", ["exp", "aud"])
def test_a_token_without_a_claim_sts_requires_is_refused(issuer: LocalIssuer, claim: str) -> None:
    with pytest.raises(TokenRejected) as raised:
        verify_token(issuer.token(**{claim: None}), AUDIENCE)
    assert str(raised.value) == f"the token has no {claim} claim, which STS requires"


def test_a_wrong_audience_says_which_audience_it_has_and_what_to_do(issuer: LocalIssuer) -> None:
    with pytest.raises(TokenRejected) as raised:
        verify_token(issuer.token(aud=["some-app"]), AUDIENCE)
    assert str(raised.value) == ("the token's aud is [\"some-app\"], not 'sts.amazonaws.com': request the token with "
                                 "--audience sts.amazonaws.com, and register that audience as a client id of the IAM "
                                 "OIDC provider")


def test_a_refused_connection_is_named_as_the_reason(issuer: LocalIssuer) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(TokenRejected) as raised:
        verify_token(issuer.token(iss=url), AUDIENCE)
    assert str(raised.value) == discovery_failed(url, "is unreachable (Connection refused)")


def test_an_issuer_hanging_up_without_an_answer_is_named_as_the_reason(issuer: LocalIssuer) -> None:
    import threading

    with socket.socket() as rude:
        rude.bind(("127.0.0.1", 0))
        rude.listen()

        def hang_up() -> None:
            connection, _ = rude.accept()
            connection.recv(65536)
            connection.close()
        threading.Thread(target=hang_up, daemon=True).start()
        url = f"http://127.0.0.1:{rude.getsockname()[1]}"
        with pytest.raises(TokenRejected) as raised:
            verify_token(issuer.token(iss=url), AUDIENCE)
    assert str(raised.value) == discovery_failed(url, "failed (Remote end closed connection without response)")


@pytest.mark.parametrize(("body", "said"), [(b"<html>sign in</html>", f"is not JSON. {UNREACHABLE_HINT}"),
                                            (b"\xff\xfe", f"is not JSON. {UNREACHABLE_HINT}"),
                                            (b"[1, 2]", "is not a JSON object")])
def test_a_document_that_is_not_a_json_object_is_refused(issuer: LocalIssuer, body: bytes, said: str) -> None:
    serve_raw(issuer, "/jwks", body)
    with pytest.raises(TokenRejected) as raised:
        verify_token(issuer.token(), AUDIENCE)
    assert str(raised.value) == f"Couldn't retrieve verification key: the issuer's signing keys (JWKS) at {issuer.url}/jwks {said}"


def test_an_issuer_whose_certificate_does_not_verify_is_told_so(issuer: LocalIssuer, tmp_path) -> None:
    import datetime
    import ssl
    import threading

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    key = new_rsa_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
                   .sign(key, hashes.SHA256()))  # self-signed: no one trusts it
    (tmp_path / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()

        def handshake() -> None:
            connection, _ = listener.accept()
            try:
                context.wrap_socket(connection, server_side=True).close()
            except (ssl.SSLError, OSError):
                connection.close()
        threading.Thread(target=handshake, daemon=True).start()
        url = f"https://127.0.0.1:{listener.getsockname()[1]}"
        with pytest.raises(TokenRejected) as raised:
            verify_token(issuer.token(iss=url), AUDIENCE)
    assert str(raised.value) == discovery_failed(url, "is unreachable (its certificate does not verify)")


def test_an_issuer_below_a_path_has_its_documents_below_that_path(issuer: LocalIssuer) -> None:
    tenant = issuer.url + "/tenant/"
    serve_raw(issuer, "/tenant/.well-known/openid-configuration",
              json.dumps({"issuer": tenant, "jwks_uri": f"{issuer.url}/jwks"}).encode())
    assert verify_token(issuer.token(iss=tenant), AUDIENCE)["iss"] == tenant
    assert issuer.requests == ["/tenant/.well-known/openid-configuration", "/jwks"]


def test_a_verified_token_says_who_issued_it_and_with_which_key(issuer: LocalIssuer) -> None:
    from automations.oidc.verify import verify

    verified = verify(issuer.token(), AUDIENCE)
    assert (verified.issuer, verified.jwks_uri, verified.key_id) == (issuer.url, f"{issuer.url}/jwks", issuer.key_id)
    assert verified.header["kid"] == issuer.key_id and verified.claims["iss"] == issuer.url


def test_a_bad_signature_says_what_sts_will_answer(issuer: LocalIssuer) -> None:
    with pytest.raises(TokenRejected) as raised:
        verify_token(issuer.token(key=new_rsa_key()), AUDIENCE)
    assert str(raised.value) == (f"the signature does not verify with {issuer.url}'s key {issuer.key_id!r}: the token "
                                 "was not signed by this issuer (or was altered). STS answers InvalidIdentityToken")


def test_a_token_expiring_this_second_has_expired_zero_seconds_ago(issuer: LocalIssuer, frozen_now: int) -> None:
    with pytest.raises(TokenRejected, match=r"expired at .* \(0s ago\)"):
        verify_token(issuer.token(iat=frozen_now - 60, nbf=frozen_now - 60, exp=frozen_now), AUDIENCE)


def test_any_other_reason_pyjwt_refuses_a_token_is_named_by_its_kind(issuer: LocalIssuer) -> None:
    with pytest.raises(TokenRejected) as raised:
        verify_token(issuer.token(jti=5), AUDIENCE)  # a jti that is not a string
    assert str(raised.value) == "the token does not verify: InvalidJTIError"
