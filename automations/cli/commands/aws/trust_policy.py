"""`automations aws trust-policy`: print a least-privilege trust policy for the role.

`desired_trust_policy` turns the trust options (shared with `aws setup`) into the policy."""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from automations.engine.report.base import Reporter
from automations.errors import EXIT_OK, FatalError

DEFAULT_PROVIDER = "app.gitpod.io"


@dataclass(frozen=True)
class TrustRequest:
    account: str
    provider: str
    audience: str
    document: dict[str, Any]


def desired_trust_policy(args: argparse.Namespace) -> TrustRequest:
    from automations.aws.trust.generate import gitpod_sub_pattern, provider_host, trust_policy
    from automations.aws.trust.policy import PolicyError, check_policy_for_iam

    try:
        if (args.project or args.env) and not args.org:
            raise PolicyError("--project" if args.project else "--env", "only goes with --org")
        if (args.task or args.token_file) and not args.from_token:
            raise PolicyError("--task" if args.task else "--token-file", "only goes with --from-token")
        provider = provider_host(args.provider) if args.provider else None
        if args.from_token:
            provider, patterns = _from_token(args, provider)
        elif args.org:
            patterns = [gitpod_sub_pattern(args.org, args.project, args.env)]
        else:
            patterns = list(args.sub)
        provider = provider or DEFAULT_PROVIDER
        document = trust_policy(args.account, provider, args.audience, patterns)
        check_policy_for_iam(document, "trust")
    except PolicyError as error:
        raise FatalError(str(error)) from None
    return TrustRequest(args.account, provider, args.audience, document)


def _from_token(args: argparse.Namespace, provider: str | None) -> tuple[str, list[str]]:
    from automations.aws.trust.generate import provider_host, sub_pattern_from_claims
    from automations.aws.trust.policy import PolicyError
    from automations.cli.commands.token import decode, read_token

    _, claims = decode(read_token(args, args.audience))
    issuer = claims.get("iss")
    if not isinstance(issuer, str):
        raise PolicyError("--from-token", "the token has no iss claim")
    if not issuer.startswith("https://"):
        raise PolicyError("--from-token", f"the token's issuer {issuer!r} is not https://: IAM accepts only "
                                          "https identity providers")
    issuer_provider = provider_host(issuer)
    if provider is not None and provider != issuer_provider:
        raise PolicyError("--provider", f"{provider!r} is not the token's issuer {issuer!r} "
                                        f"(its provider would be {issuer_provider!r})")
    audiences = claims.get("aud")
    audiences = [audiences] if isinstance(audiences, str) else audiences or []
    if args.audience not in audiences:
        raise PolicyError("--audience", f"the token's aud is {audiences}, which does not contain {args.audience!r}")
    return issuer_provider, [sub_pattern_from_claims(claims)]


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    from automations.aws.trust.policy import policy_json

    request = desired_trust_policy(args)
    reporter.result("trust_policy", [policy_json(request.document)], policy=request.document)
    return EXIT_OK
