"""`automations aws setup`: create (or bring up to date) the IAM OIDC provider, the role, its
secrets policy and its permission to assume the roles of `--chain-to`, whose trust statement
it prints (their accounts are not ours to change). Idempotent; --dry-run prints the plan and
changes nothing."""
from __future__ import annotations

import argparse
import itertools
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from automations.engine.report.base import Reporter
from automations.errors import EXIT_OK, FatalError
from automations.wording import plural

if TYPE_CHECKING:
    from automations.aws.iam_setup import Change


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    from automations.aws.clients import AwsSessions
    from automations.aws.iam_setup import IamSetup, SetupRequest, caller_account, check_request
    from automations.cli.commands.aws.trust_policy import desired_trust_policy

    trust = desired_trust_policy(args)
    request = SetupRequest(account=trust.account, provider=trust.provider, audience=trust.audience,
                           role_name=args.role, trust_policy=trust.document, secrets=tuple(args.secret),
                           max_session_duration=args.max_session_duration, chain_to=tuple(args.chain_to))
    check_request(request)

    sessions = AwsSessions()
    account = caller_account(sessions.client("sts"))
    if account != request.account:
        raise FatalError(f"--account is {request.account}, but these AWS credentials are for account {account}: "
                         "the provider and the role must be created in the account the policy names")
    setup = IamSetup(sessions.client("iam"), request)
    changes = setup.plan()

    if not changes:
        _report(reporter, "unchanged", f"nothing to change: OIDC provider {request.provider_arn}, role "
                                       f"{request.role_arn} and its policies are already as requested")
    elif args.dry_run:
        _report(reporter, "plan", f"dry run: {plural(len(changes), 'change')} "
                                  "would be made; nothing was changed", _describe(changes),
                changes=[c.description for c in changes])
    else:
        setup.apply(changes, on_done=lambda change: _report(reporter, "changed", f"changed: {change.description}"))
        _report(reporter, "done", f"role {request.role_arn} is ready: use it as the aws-login step's roleArn")
    if request.chain_to:
        _report_chain_trust(reporter, request.role_arn, request.chain_to)
    return EXIT_OK


def _report(reporter: Reporter, kind: str, message: str, details: Iterable[str] = (), **fields: Any) -> None:
    reporter.result("setup", itertools.chain([message], details), status=kind, message=message, **fields)


def _report_chain_trust(reporter: Reporter, role_arn: str, targets: tuple[str, ...]) -> None:
    """What the administrators of each chained role's account must add: setup changes
    nothing outside the account it runs in."""
    from automations.aws.iam_setup import chain_trust_statement
    from automations.aws.trust.policy import policy_json

    statement = chain_trust_statement(role_arn)

    def lines() -> Iterator[str]:
        yield (f"each role of --chain-to needs this statement in its trust policy (setup does not change "
               f"their accounts): {', '.join(targets)}")
        yield from (f"  {line}" for line in policy_json(statement).splitlines())

    reporter.result("chain-trust", lines(), targets=list(targets), statement=statement)


def _describe(changes: list[Change]) -> Iterator[str]:
    from automations.aws.trust.policy import policy_json

    for change in changes:
        yield f"  would {change.description}"
        if change.document is not None:
            for line in policy_json(change.document).splitlines():
                yield f"    {line}"
