"""`verify_token` checks a token as STS will, against a local OIDC issuer over real HTTP, and
each failure says which check failed and why."""
from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from support.oidc_issuer import AUDIENCE, LocalIssuer, new_rsa_key

from automations.oidc.verify import TokenRejected, verify_token


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
