"""`aws-login`: the environment's OIDC token becomes AWS credentials.

The story of one run: unless the profile still holds credentials this step wrote that stay
valid for longer than `minRemaining`, fetch a fresh token, check it could be accepted, ask
STS to assume the role with it (retried with a new token per attempt when the failure is
transient), refuse credentials for an account not allowed, optionally check them with
GetCallerIdentity, and write them: static keys into the shared credentials file, or a
`credential_process` line that refreshes them for as long as the environment lives. Later
AWS steps of the same run get them from memory.

boto3, botocore and PyJWT are imported only when the step runs.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from automations.api import (
    TRANSIENT,
    RetryPolicy,
    StepContext,
    StepFailed,
    StepResult,
    call_with_retry,
    option,
)

# What the options declare, and nothing heavier, at the top: `list` and `validate` import this
# module to check `with:`, and must not pay for the AWS and OIDC code, which run() imports.
from automations.aws.declarations import AWS_RETRY, ROLE_ARN_PATTERN
from automations.aws.role_credentials import ROLE_ARN_CHECK, RoleCredentialsOptions, RoleCredentialsStep
from automations.oidc.token_option import DEFAULT_AUDIENCE, TokenOption

if TYPE_CHECKING:
    from automations.aws.login import WebIdentityLogin
    from automations.aws.sts import AssumedRole

ROLE_ARN_VARIABLES = ("AWS_ROLE_ARN", "IDP_AWS_ROLE_ARN")
# IAM is eventually consistent: brand-new credentials can be refused for a few seconds.
VERIFY_POLICY = RetryPolicy(attempts=5, initial_delay=0.5, max_delay=2.0, deadline=15.0)
VERIFY_RETRY_CODES = frozenset({"InvalidClientTokenId", "AccessDenied", "ExpiredToken"})


class AwsLoginOptions(RoleCredentialsOptions):
    role_arn: str | None = option(None, key="roleArn", check=ROLE_ARN_CHECK,
                                  help="the role to assume (default: $AWS_ROLE_ARN, else $IDP_AWS_ROLE_ARN)")
    token: TokenOption | None = option(None, help="{command: ...}, {file: ...} or {env: ...} (default: gitpod CLI, "
                                                  "gp CLI, $AWS_WEB_IDENTITY_TOKEN_FILE, GitHub Actions OIDC)")
    audience: str = option(DEFAULT_AUDIENCE, help="the audience to request and to expect in the token")
    verify: bool = option(False, help="check the new credentials with GetCallerIdentity")


class AwsLoginStep(RoleCredentialsStep):
    name = "aws-login"
    Options = AwsLoginOptions
    options: AwsLoginOptions
    summary = "Exchange the environment's OIDC token for AWS credentials (STS AssumeRoleWithWebIdentity)"
    # Throttled: a fleet booting together spreads over the STS quota; transient (token not
    # ready, IDPCommunicationError, 5xx): a lone environment tries again within a second
    # (bench/fleet.py, BENCHMARKS.md "Fleet and lone environment").
    retry_policy = AWS_RETRY

    def run(self, ctx: StepContext) -> StepResult:
        web_identity = self.web_identity(ctx)
        files = self.open_files(ctx)
        skipped = self.rerun_result(files, web_identity, ctx)
        if skipped is not None:
            return skipped
        assumed = web_identity.assume_role(ctx.env, cancelled=ctx.cancelled, log=ctx.log.info, secret=ctx.secret)
        if self.options.verify:
            self.verify(assumed, ctx)
        return self.deliver(files, assumed, web_identity, ctx)

    # -- the login itself: automations.aws.login, shared with the credential process ------

    def role_arn(self, env: Mapping[str, str]) -> str:
        if self.options.role_arn:
            return self.options.role_arn
        for variable in ROLE_ARN_VARIABLES:
            value = env.get(variable, "").strip()
            if value:
                if not re.fullmatch(ROLE_ARN_PATTERN, value):
                    raise StepFailed(f"${variable} is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)")
                return value
        raise StepFailed("no role to assume: set the step's `roleArn` or $AWS_ROLE_ARN")

    def web_identity(self, ctx: StepContext) -> WebIdentityLogin:
        """This step's login, resolved against the task's environment: also what the
        credential process refreshes from, without reading automations.yaml again."""
        from automations.aws.login import WebIdentityLogin
        from automations.oidc.sources import token_spec

        return WebIdentityLogin(token=token_spec(self.options.token, ctx.config_path.parent),
                                audience=self.options.audience, **self.login_settings(ctx, self.role_arn(ctx.env)))

    def verify(self, assumed: AssumedRole, ctx: StepContext) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        from automations.aws.clients import aws_error_class, error_code
        from automations.aws.sts import sts_client

        client = sts_client(self.region(ctx.env), ctx.env, ctx.cancelled, signed_by=assumed.credentials)

        def settling(error: BaseException) -> str | None:
            return TRANSIENT if error_code(error) in VERIFY_RETRY_CODES else aws_error_class(error)

        try:
            identity = call_with_retry(client.get_caller_identity, VERIFY_POLICY, settling, cancelled=ctx.cancelled)
        except (BotoCoreError, ClientError) as error:
            raise StepFailed(f"the new credentials do not work (GetCallerIdentity: {error_code(error) or error}); "
                             "nothing was written") from None
        if identity.get("Account") != assumed.account_id:
            raise StepFailed(f"GetCallerIdentity says account {identity.get('Account')}, STS said "
                             f"{assumed.account_id}; nothing was written")
        ctx.log.info(f"verified: {identity.get('Arn')}")

    def describe(self) -> list[str]:
        from automations.oidc.sources import token_source

        role = self.options.role_arn or "$AWS_ROLE_ARN"
        return [f"assume {role} with the token from {token_source(self.options.token, self.options.audience).describe}",
                *self.describe_writing()]
