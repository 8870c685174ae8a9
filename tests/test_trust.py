"""The local trust-policy evaluator decides as IAM does for AssumeRoleWithWebIdentity:
a table of policies and token claims with the expected decision and reason, then the
generator and the policy checks."""
from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from automations.aws.trust.evaluate import evaluate
from automations.aws.trust.generate import (
    gitpod_sub_pattern,
    provider_host,
    role_name_from_arn,
    sub_pattern_from_claims,
    trust_policy,
    trust_troubleshooting_hint,
)
from automations.aws.trust.policy import PolicyError, check_policy_for_iam, parse_policy

P = "app.gitpod.io"
ARN = f"arn:aws:iam::123456789012:oidc-provider/{P}"
ORG, OTHER_ORG, PRJ, ENV = "org-a", "org-b", "prj-1", "env-9"
SUB = f"org:{ORG}/prj:{PRJ}/env:{ENV}"
CLAIMS: dict[str, Any] = {"iss": f"https://{P}", "aud": ["sts.amazonaws.com"], "sub": SUB,
                          "amr": ["pwd", "mfa"], "email": "Dev@Example.com", "email_verified": True}


def allow(condition: dict | None = None, *, principal: Any = None, action: Any = "sts:AssumeRoleWithWebIdentity",
          effect: str = "Allow", sid: str | None = None, **extra: Any) -> dict:
    statement: dict[str, Any] = {"Effect": effect, "Principal": principal or {"Federated": ARN}}
    if action is not None:
        statement["Action"] = action
    if sid:
        statement["Sid"] = sid
    if condition is not None:
        statement["Condition"] = condition
    statement.update(extra)
    return statement


def deny(condition: dict | None = None, **kwargs: Any) -> dict:
    return allow(condition, effect="Deny", **kwargs)


def claims(**changes: Any) -> dict:
    result = dict(CLAIMS)
    for name, value in changes.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = value
    return result


def policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


# (case id, statements, claims, allowed, reason, failing key or None)
CASES = [
    # Principal and action
    ("generated-org-project-policy", [allow({"StringEquals": {f"{P}:aud": "sts.amazonaws.com"},
                                             "StringLike": {f"{P}:sub": f"org:{ORG}/prj:{PRJ}/*"}})],
     claims(), True, "allowed", None),
    ("no-conditions-admits-any-token-of-provider", [allow()], claims(), True, "allowed", None),
    ("principal-of-another-provider", [allow(principal={"Federated": "arn:aws:iam::123456789012:oidc-provider/"
                                                                      "token.actions.githubusercontent.com"})],
     claims(), False, "no-matching-allow", None),
    ("principal-list-containing-provider", [allow(principal={"Federated": ["arn:aws:iam::123456789012:oidc-provider/x.io",
                                                                           ARN]})],
     claims(), True, "allowed", None),
    ("principal-star", [allow(principal="*")], claims(), True, "allowed", None),
    ("issuer-with-path-must-match-provider-path", [allow()], claims(iss=f"https://{P}/tenant"), False,
     "no-matching-allow", None),
    ("action-assume-role-only", [allow(action="sts:AssumeRole")], claims(), False, "no-matching-allow", None),
    ("action-wildcard", [allow(action="sts:AssumeRoleWith*")], claims(), True, "allowed", None),
    ("action-case-insensitive", [allow(action="STS:assumerolewithwebidentity")], claims(), True, "allowed", None),
    ("session-tags-need-tag-session", [allow()], claims(**{"https://aws.amazon.com/tags": {"principal_tags": {}}}),
     False, "no-matching-allow", None),
    ("session-tags-with-tag-session", [allow(action=["sts:AssumeRoleWithWebIdentity", "sts:TagSession"])],
     claims(**{"https://aws.amazon.com/tags": {"principal_tags": {}}}), True, "allowed", None),
    ("not-action-excluding-web-identity", [allow(action=None, NotAction="sts:AssumeRoleWithWebIdentity")],
     claims(), False, "no-matching-allow", None),
    # StringEquals / StringNotEquals and case
    ("string-equals-sub", [allow({"StringEquals": {f"{P}:sub": SUB}})], claims(), True, "allowed", None),
    ("string-equals-is-case-sensitive", [allow({"StringEquals": {f"{P}:sub": SUB.upper()}})], claims(),
     False, "no-matching-allow", f"{P}:sub"),
    ("string-equals-ignore-case", [allow({"StringEqualsIgnoreCase": {f"{P}:email": "dev@example.com"}})],
     claims(), True, "allowed", None),
    ("string-not-equals-other-org", [allow({"StringNotEquals": {f"{P}:sub": f"org:{OTHER_ORG}/prj:{PRJ}/env:{ENV}"}})],
     claims(), True, "allowed", None),
    ("string-not-equals-ignore-case-fails-on-same-value",
     [allow({"StringNotEqualsIgnoreCase": {f"{P}:email": "DEV@EXAMPLE.COM"}})], claims(), False,
     "no-matching-allow", f"{P}:email"),
    ("values-of-one-key-are-ored", [allow({"StringEquals": {f"{P}:sub": ["nope", SUB]}})], claims(), True,
     "allowed", None),
    ("negated-values-are-nored", [allow({"StringNotEquals": {f"{P}:sub": ["nope", SUB]}})], claims(), False,
     "no-matching-allow", f"{P}:sub"),
    ("keys-of-one-operator-are-anded", [allow({"StringEquals": {f"{P}:sub": SUB, f"{P}:aud": "other-aud"}})],
     claims(), False, "no-matching-allow", f"{P}:aud"),
    ("operators-are-anded", [allow({"StringEquals": {f"{P}:aud": "sts.amazonaws.com"},
                                    "StringLike": {f"{P}:sub": f"org:{OTHER_ORG}/*"}})],
     claims(), False, "no-matching-allow", f"{P}:sub"),
    # StringLike / StringNotLike with * and ?
    ("string-like-org-wide", [allow({"StringLike": {f"{P}:sub": f"org:{ORG}/*"}})], claims(), True, "allowed", None),
    ("string-like-other-org", [allow({"StringLike": {f"{P}:sub": f"org:{OTHER_ORG}/*"}})], claims(), False,
     "no-matching-allow", f"{P}:sub"),
    ("string-like-other-project", [allow({"StringLike": {f"{P}:sub": f"org:{ORG}/prj:prj-2/*"}})], claims(), False,
     "no-matching-allow", f"{P}:sub"),
    ("string-like-question-mark-is-one-character", [allow({"StringLike": {f"{P}:sub": f"org:{ORG}/prj:prj-?/*"}})],
     claims(), True, "allowed", None),
    ("string-like-question-mark-not-two", [allow({"StringLike": {f"{P}:sub": f"org:{ORG}/prj:prj?/*"}})],
     claims(), False, "no-matching-allow", f"{P}:sub"),
    ("string-like-without-wildcard-is-exact", [allow({"StringLike": {f"{P}:sub": f"org:{ORG}"}})], claims(),
     False, "no-matching-allow", f"{P}:sub"),
    ("string-like-is-case-sensitive", [allow({"StringLike": {f"{P}:sub": f"ORG:{ORG}/*"}})], claims(), False,
     "no-matching-allow", f"{P}:sub"),
    ("string-like-escaped-star-is-literal", [allow({"StringLike": {f"{P}:sub": "org:${*}"}})], claims(sub="org:*"),
     True, "allowed", None),
    ("string-like-escaped-star-not-wildcard", [allow({"StringLike": {f"{P}:sub": "org:${*}"}})], claims(), False,
     "no-matching-allow", f"{P}:sub"),
    ("string-not-like-excludes-project", [allow({"StringNotLike": {f"{P}:sub": f"*/prj:{PRJ}/*"}})], claims(),
     False, "no-matching-allow", f"{P}:sub"),
    ("string-not-like-other-project", [allow({"StringNotLike": {f"{P}:sub": "*/prj:prj-2/*"}})], claims(), True,
     "allowed", None),
    # multi-valued aud and amr, set operators
    ("for-any-value-aud", [allow({"ForAnyValue:StringEquals": {f"{P}:aud": "sts.amazonaws.com"}})],
     claims(aud=["other", "sts.amazonaws.com"]), True, "allowed", None),
    ("for-any-value-aud-none-matches", [allow({"ForAnyValue:StringEquals": {f"{P}:aud": "sts.amazonaws.com"}})],
     claims(aud=["a", "b"]), False, "no-matching-allow", f"{P}:aud"),
    ("for-all-values-aud-one-outside", [allow({"ForAllValues:StringEquals": {f"{P}:aud": "sts.amazonaws.com"}})],
     claims(aud=["sts.amazonaws.com", "other"]), False, "no-matching-allow", f"{P}:aud"),
    ("for-all-values-aud-all-inside", [allow({"ForAllValues:StringEquals": {f"{P}:aud": ["sts.amazonaws.com", "x"]}})],
     claims(aud=["sts.amazonaws.com", "x"]), True, "allowed", None),
    ("for-all-values-missing-key-holds", [allow({"ForAllValues:StringLike": {f"{P}:groups": "dev-*"}})],
     claims(), True, "allowed", None),
    ("for-any-value-missing-key-fails", [allow({"ForAnyValue:StringLike": {f"{P}:groups": "dev-*"}})],
     claims(), False, "no-matching-allow", f"{P}:groups"),
    ("for-any-value-amr-mfa", [allow({"ForAnyValue:StringLike": {f"{P}:amr": "mf?"}})], claims(), True,
     "allowed", None),
    ("for-any-value-string-not-equals", [allow({"ForAnyValue:StringNotEquals": {f"{P}:amr": "pwd"}})],
     claims(), True, "allowed", None),
    ("for-all-values-string-not-equals", [allow({"ForAllValues:StringNotEquals": {f"{P}:amr": "pwd"}})],
     claims(), False, "no-matching-allow", f"{P}:amr"),
    ("plain-string-equals-on-multi-valued-aud-any", [allow({"StringEquals": {f"{P}:aud": "sts.amazonaws.com"}})],
     claims(aud=["other", "sts.amazonaws.com"]), True, "allowed", None),
    ("string-aud-not-list", [allow({"StringEquals": {f"{P}:aud": "sts.amazonaws.com"}})],
     claims(aud="sts.amazonaws.com"), True, "allowed", None),
    # missing keys, IfExists, Null, Bool
    ("missing-key-fails-string-equals", [allow({"StringEquals": {f"{P}:environment_id": ENV}})], claims(),
     False, "no-matching-allow", f"{P}:environment_id"),
    ("missing-key-holds-string-not-equals", [allow({"StringNotEquals": {f"{P}:environment_id": ENV}})], claims(),
     True, "allowed", None),
    ("if-exists-missing-key-holds", [allow({"StringEqualsIfExists": {f"{P}:environment_id": ENV}})], claims(),
     True, "allowed", None),
    ("if-exists-present-key-checked", [allow({"StringEqualsIfExists": {f"{P}:sub": "x"}})], claims(), False,
     "no-matching-allow", f"{P}:sub"),
    ("null-true-requires-absent", [allow({"Null": {f"{P}:environment_id": "true"}})], claims(), True, "allowed", None),
    ("null-false-requires-present", [allow({"Null": {f"{P}:environment_id": "false"}})], claims(), False,
     "no-matching-allow", f"{P}:environment_id"),
    ("null-false-sub-present", [allow({"Null": {f"{P}:sub": "false"}})], claims(), True, "allowed", None),
    ("bool-true", [allow({"Bool": {f"{P}:email_verified": "true"}})], claims(), True, "allowed", None),
    ("bool-false-fails", [allow({"Bool": {f"{P}:email_verified": "false"}})], claims(), False,
     "no-matching-allow", f"{P}:email_verified"),
    ("bool-missing-fails", [allow({"Bool": {f"{P}:email_verified": "true"}})], claims(email_verified=None), False,
     "no-matching-allow", f"{P}:email_verified"),
    ("other-providers-key-is-absent", [allow({"StringLike": {"token.actions.githubusercontent.com:sub": "repo:*"}})],
     claims(), False, "no-matching-allow", "token.actions.githubusercontent.com:sub"),
    ("condition-key-prefix-is-case-insensitive", [allow({"StringEquals": {"APP.GITPOD.IO:sub": SUB}})], claims(),
     True, "allowed", None),
    ("condition-key-claim-is-case-insensitive", [allow({"StringEquals": {f"{P}:SUB": SUB}})], claims(),
     True, "allowed", None),
    # Deny
    ("explicit-deny-beats-allow", [allow(), deny({"StringLike": {f"{P}:sub": f"*/prj:{PRJ}/*"}})], claims(), False,
     "explicit-deny", f"{P}:sub"),
    ("deny-not-matching-leaves-allow", [allow(), deny({"StringLike": {f"{P}:sub": "*/prj:prj-2/*"}})], claims(),
     True, "allowed", None),
    ("deny-without-condition", [allow(), deny()], claims(), False, "explicit-deny", None),
    ("deny-with-negated-operator-on-missing-key", [allow(), deny({"StringNotEquals": {f"{P}:environment_id": ENV}})],
     claims(), False, "explicit-deny", f"{P}:environment_id"),
    ("deny-of-tag-session-refuses-tagged-tokens",
     [allow(action=["sts:AssumeRoleWithWebIdentity", "sts:TagSession"]), deny(action="sts:TagSession")],
     claims(**{"https://aws.amazon.com/tags": {"principal_tags": {}}}), False, "explicit-deny", None),
    ("deny-of-tag-session-leaves-untagged-tokens",
     [allow(), deny(action="sts:TagSession")], claims(), True, "allowed", None),
    ("deny-only-policy", [deny({"StringLike": {f"{P}:sub": "nope"}})], claims(), False, "no-allow-statement", None),
    ("second-allow-statement-admits", [allow({"StringLike": {f"{P}:sub": f"org:{OTHER_ORG}/*"}}, sid="Other"),
                                       allow({"StringLike": {f"{P}:sub": f"org:{ORG}/*"}}, sid="Mine")],
     claims(), True, "allowed", None),
    ("request-keys-are-not-checked", [allow({"StringEquals": {"aws:SourceIp": "10.0.0.1"}})], claims(), True,
     "allowed", None),
]


@pytest.mark.parametrize("statements, token_claims, allowed, reason, key",
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_trust_policy_decision(statements: list[dict], token_claims: dict, allowed: bool, reason: str,
                               key: str | None) -> None:
    decision = evaluate(policy(*statements), token_claims)
    assert (decision.allowed, decision.reason) == (allowed, reason), decision
    if key is not None:
        assert decision.failure is not None and decision.failure.key == key, decision


def test_the_table_covers_every_operator() -> None:
    operators = {op for case in CASES for statement in case[1] for op in statement.get("Condition", {})}
    bases = {op.split(":")[-1].removesuffix("IfExists") for op in operators}
    assert bases >= {"StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase",
                     "StringLike", "StringNotLike", "Null", "Bool"}
    assert any(op.startswith("ForAnyValue:") for op in operators)
    assert any(op.startswith("ForAllValues:") for op in operators)
    assert len(CASES) >= 30


def test_a_denial_names_the_statement_condition_and_claim_value() -> None:
    statements = [allow({"StringEquals": {f"{P}:aud": "sts.amazonaws.com"},
                         "StringLike": {f"{P}:sub": f"org:{OTHER_ORG}/*"}}, sid="GitpodOrg")]
    decision = evaluate(policy(*statements), claims())
    assert decision.failure is not None
    assert decision.failure.statement == "Statement 1 (Sid 'GitpodOrg')"
    assert decision.failure.condition == f'StringLike {P}:sub "org:{OTHER_ORG}/*"'
    assert decision.failure.value == SUB
    assert SUB in decision.summary and f"org:{OTHER_ORG}/*" in decision.summary


def test_a_principal_failure_says_which_provider_the_token_needs() -> None:
    other = allow(principal={"Federated": "arn:aws:iam::123456789012:oidc-provider/gitpod.io"})
    decision = evaluate(policy(other), claims())
    assert decision.failure is not None and decision.failure.kind == "principal"
    assert f"oidc-provider/{P}" in decision.failure.detail


def test_the_role_account_must_own_the_provider() -> None:
    assert evaluate(policy(allow()), claims(), account="123456789012").allowed
    decision = evaluate(policy(allow()), claims(), account="999999999999")
    assert not decision.allowed and "999999999999" in decision.failure.detail


def test_a_multi_valued_claim_under_a_plain_operator_is_noted() -> None:
    decision = evaluate(policy(allow({"StringEquals": {f"{P}:aud": "sts.amazonaws.com"}})),
                        claims(aud=["x", "sts.amazonaws.com"]))
    assert any("ForAnyValue" in note for note in decision.notes)


def test_request_keys_are_reported_as_unchecked() -> None:
    decision = evaluate(policy(allow({"StringEquals": {"aws:SourceIp": "10.0.0.1"}})), claims())
    assert any("aws:SourceIp" in note and "not checked" in note for note in decision.notes)


# -- policy documents IAM would reject ------------------------------------------------------

@pytest.mark.parametrize("document, where", [
    ({"Statement": []}, "Statement"),
    ({"Version": "2012-10-17", "Statement": [{"Effect": "Permit", "Principal": "*", "Action": "sts:*"}]},
     "Statement[0].Effect"),
    ({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity"}]},
     "Statement[0]"),
    ({"Version": "2012-10-17", "Statement": [allow({"StringLikeIgnoreCase": {f"{P}:sub": "x"}})]},
     "Statement[0].Condition.StringLikeIgnoreCase"),
    ({"Version": "2012-10-17", "Statement": [allow({"ForSomeValues:StringLike": {f"{P}:sub": "x"}})]},
     "Statement[0].Condition.ForSomeValues:StringLike"),
    ({"Version": "2012-10-17", "Statement": [allow(Resource="*")]}, "Statement[0].Resource"),
    ({"Version": "2012-10-17", "Statement": [allow({"Bool": {f"{P}:email_verified": "yes"}})]},
     f"Statement[0].Condition.Bool.{P}:email_verified"),
    ({"Version": "2012-10-17", "Statement": [allow(principal={"Federated": "app.gitpod.io/x y"})]},
     "Statement[0].Principal.Federated"),
    ({"Version": "2012-10-17", "Statement": [allow(sid="A"), allow(sid="A")]}, "Statement"),
])
def test_malformed_policies_are_refused_with_their_location(document: dict, where: str) -> None:
    with pytest.raises(PolicyError) as raised:
        parse_policy(document)
    assert raised.value.path == where


def test_a_policy_over_the_trust_policy_quota_is_refused() -> None:
    patterns = [f"org:{ORG}/prj:project-number-{i:04d}/*" for i in range(80)]
    document = trust_policy("123456789012", P, "sts.amazonaws.com", patterns)
    with pytest.raises(PolicyError, match="2048"):
        check_policy_for_iam(document, "trust")


def test_an_identity_policy_needs_a_resource() -> None:
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue"}]}
    with pytest.raises(PolicyError, match="Resource"):
        check_policy_for_iam(document, "identity")


# -- generating ----------------------------------------------------------------------------

def test_generated_policy_is_least_privilege() -> None:
    document = trust_policy("123456789012", P, "sts.amazonaws.com", [gitpod_sub_pattern(ORG, PRJ)])
    check_policy_for_iam(document, "trust")
    (statement,) = document["Statement"]
    assert statement["Principal"] == {"Federated": ARN}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {"StringEquals": {f"{P}:aud": "sts.amazonaws.com"},
                                      "StringLike": {f"{P}:sub": f"org:{ORG}/prj:{PRJ}/*"}}


@pytest.mark.parametrize("project, env, pattern", [
    (None, None, f"org:{ORG}/*"),
    (PRJ, None, f"org:{ORG}/prj:{PRJ}/*"),
    (PRJ, ENV, f"org:{ORG}/prj:{PRJ}/env:{ENV}"),
])
def test_gitpod_scopes_give_the_narrowest_pattern(project: str | None, env: str | None, pattern: str) -> None:
    assert gitpod_sub_pattern(ORG, project, env) == pattern


def test_an_environment_without_a_project_is_refused() -> None:
    with pytest.raises(PolicyError, match="--project"):
        gitpod_sub_pattern(ORG, None, ENV)


def test_an_id_with_a_wildcard_is_refused() -> None:
    with pytest.raises(PolicyError, match="--org"):
        gitpod_sub_pattern("*")


@pytest.mark.parametrize("pattern", ["*", "??*", "org:*", "repo:*/x"])
def test_patterns_admitting_everyone_are_refused(pattern: str) -> None:
    with pytest.raises(PolicyError):
        trust_policy("123456789012", P, "sts.amazonaws.com", [pattern])


def test_an_account_must_have_twelve_digits() -> None:
    with pytest.raises(PolicyError, match="12-digit"):
        trust_policy("12345", P, "sts.amazonaws.com", ["org:x/*"])


@pytest.mark.parametrize("sub, pattern", [
    (SUB, f"org:{ORG}/prj:{PRJ}/*"),
    (f"org:{ORG}/env:{ENV}", f"org:{ORG}/*"),
    ("organization_id:o1:project_id:p1:environment_id:e1", "organization_id:o1:project_id:p1:*"),
    ("repo:octo/app:ref:refs/heads/main", "repo:octo/app:ref:refs/heads/main"),
    ("weird*sub", "weird${*}sub"),
])
def test_pattern_from_a_token_covers_its_project(sub: str, pattern: str) -> None:
    assert sub_pattern_from_claims({"sub": sub}) == pattern


def test_pattern_from_a_token_admits_the_token_and_not_another_org() -> None:
    document = trust_policy("123456789012", P, "sts.amazonaws.com", [sub_pattern_from_claims(CLAIMS)])
    assert evaluate(document, CLAIMS).allowed
    assert not evaluate(document, claims(sub=f"org:{OTHER_ORG}/prj:{PRJ}/env:{ENV}")).allowed
    assert not evaluate(document, claims(sub=f"org:{ORG}/prj:prj-2/env:{ENV}")).allowed


@pytest.mark.parametrize("given, host", [
    ("app.gitpod.io", "app.gitpod.io"),
    ("https://app.gitpod.io", "app.gitpod.io"),
    ("https://oidc.eks.us-east-1.amazonaws.com/id/ABC", "oidc.eks.us-east-1.amazonaws.com/id/ABC"),
])
def test_provider_host_drops_only_the_scheme(given: str, host: str) -> None:
    assert provider_host(given) == host


def test_an_http_provider_is_refused() -> None:
    with pytest.raises(PolicyError, match="https"):
        provider_host("http://app.gitpod.io")


def test_the_troubleshooting_hint_is_a_runnable_check_trust_command() -> None:
    hint = trust_troubleshooting_hint("aws-login", "arn:aws:iam::123456789012:role/ci/gitpod-dev")
    assert hint == "automations aws check-trust --role gitpod-dev --task aws-login"
    assert role_name_from_arn("arn:aws:iam::123456789012:role/x") == "x"
    assert "ROLE_NAME" in trust_troubleshooting_hint("login")


# -- StringLike matching, as a property ----------------------------------------------------

def _literal(text: str) -> str:
    return text.replace("$", "${$}").replace("*", "${*}").replace("?", "${?}")


@given(st.text(max_size=12), st.text(max_size=12), st.text(max_size=12))
def test_string_like_star_matches_any_middle_and_escapes_are_literal(head: str, middle: str, tail: str) -> None:
    condition = {"StringLike": {f"{P}:sub": _literal(head) + "*" + _literal(tail)}}
    assert evaluate(policy(allow(condition)), claims(sub=head + middle + tail)).allowed


@given(st.text(min_size=1, max_size=12), st.text(min_size=1, max_size=12))
def test_string_like_without_wildcards_matches_only_the_same_string(value: str, other: str) -> None:
    condition = {"StringLike": {f"{P}:sub": _literal(value)}}
    assert evaluate(policy(allow(condition)), claims(sub=other)).allowed == (value == other)
