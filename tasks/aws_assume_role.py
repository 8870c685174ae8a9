"""`aws-assume-role`: role chaining, from the credentials of a login to a role in another
account (configure-aws-credentials calls it `role-chaining`).

The story of one run: find the credentials to start from (`sourceProfile`, else what this
run's aws-login obtained), unless the profile still holds credentials this step wrote that
stay valid for longer than `minRemaining`; ask STS to assume the role with them (AssumeRole,
retried when the failure is transient), refuse credentials for an account not allowed, and
write them as aws-login does: static keys, or a `credential_process` line that refreshes the
source first (from its own cache) and then assumes the role again. Later AWS steps of the
same run can use them from memory (`profile:`).

Several of these steps in tasks that depend on the login task run at once: the AssumeRole
calls are concurrent, and the shared files are edited under a lock, one profile each.

boto3 and botocore are imported only when the step runs.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from automations.api import OptionError, StepContext, StepFailed, StepResult, option

# What the options declare, and nothing heavier, at the top: `list` and `validate` import this
# module to check `with:`; the AWS code is imported where it runs.
from automations.aws.declarations import AWS_RETRY, PROFILE_PATTERN
from automations.aws.role_credentials import (
    ROLE_ARN_CHECK,
    SESSION_NAME_CHECK,
    RoleCredentialsOptions,
    RoleCredentialsStep,
    matching,
)

if TYPE_CHECKING:
    from automations.aws.login import ChainedRoleLogin, SourceCredentials

# AWS limits a session obtained with another role's session credentials to one hour.
CHAINED_MAX_SECONDS = 3600


def _at_most_an_hour(seconds: Any) -> str | None:
    if isinstance(seconds, int) and seconds > CHAINED_MAX_SECONDS:
        return f"{seconds} is out of range: must be at most {CHAINED_MAX_SECONDS} (AWS limits a chained role session to one hour)"
    return None


class AwsAssumeRoleOptions(RoleCredentialsOptions):
    role_arn: str = option(key="roleArn", check=ROLE_ARN_CHECK, help="the role to assume, e.g. in a workload account")
    profile: str = option(pattern=PROFILE_PATTERN, help="the profile to write")
    source_profile: str | None = option(None, key="sourceProfile", pattern=PROFILE_PATTERN,
                                        help="the profile whose credentials assume the role (default: those the "
                                             "aws-login step of this run obtained)")
    duration_seconds: int = option(CHAINED_MAX_SECONDS, key="durationSeconds", minimum=900, check=_at_most_an_hour,
                                   help="lifetime of the credentials (at most 3600: AWS limits chained sessions)")
    session_name: str | None = option(None, key="sessionName",
                                      check=SESSION_NAME_CHECK,
                                      help="role session name (default: the source's session name)")
    external_id: str | None = option(None, key="externalId",
                                     check=matching(r"[\w+=,.@:/-]{2,1224}", "an external id (2 to 1224 of A-Z a-z 0-9 _ + = , . @ : / -)"),
                                     help="the ExternalId the role's trust policy requires, if any")

    def validate(self) -> None:
        super().validate()
        if self.source_profile is not None and self.source_profile == self.profile:
            raise OptionError("sourceProfile", f"is the profile this step writes ({self.profile!r}): "
                                               "the credentials to start from must be another profile's")


class AwsAssumeRoleStep(RoleCredentialsStep):
    name = "aws-assume-role"
    Options = AwsAssumeRoleOptions
    options: AwsAssumeRoleOptions
    summary = "Assume a role with the credentials of a login (role chaining, STS AssumeRole)"
    retry_policy = AWS_RETRY  # the same classes and waits as aws-login
    chained = True
    source_region: str | None = None  # the region of the credentials it starts from, once known

    def run(self, ctx: StepContext) -> StepResult:
        chained, source = self.chained_login(ctx)
        files = self.open_files(ctx)
        skipped = self.rerun_result(files, chained, ctx)
        if skipped is not None:
            return skipped
        assumed = chained.assume_role(ctx.env, source(), cancelled=ctx.cancelled, log=ctx.log.info, secret=ctx.secret)
        return self.deliver(files, assumed, chained, ctx)

    def chained_login(self, ctx: StepContext) -> tuple[ChainedRoleLogin, Callable[[], SourceCredentials]]:
        """This step's AssumeRole, resolved (also what the credential process refreshes from),
        and how to get the credentials it starts from: from memory when a step of this run
        obtained them, else botocore's reading of `sourceProfile`. The credential process
        refreshes them from that step's cache when it has one (`credentials: process`),
        else from the profile."""
        from automations.aws.clients import aws_sessions
        from automations.aws.login import ChainedRoleLogin, SourceCredentials, profile_credentials

        sessions = aws_sessions(ctx)
        name = self.options.source_profile
        remembered = sessions.remembered(name) if name else sessions.source_for(ctx.task)
        if remembered is not None:
            self.source_region = remembered.region
            if remembered.cache is not None and remembered.cache == self.cache(ctx).path:
                raise StepFailed(f"profile {remembered.profile!r} was written by a step with the same cache as this "
                                 "one: give the steps of this task different `id:`s")
            source = {"cache": str(remembered.cache)} if remembered.cache else {"profile": remembered.profile}
            known = SourceCredentials(remembered.credentials, remembered.assumed_role_arn)
            if self.options.credentials == "process" and not remembered.cache:
                ctx.log.warning(f"profile {remembered.profile!r} holds static credentials: the credential process "
                                f"of {self.options.profile!r} can assume the role again only while they are valid "
                                "(give the step that writes them `credentials: process`, or keep them fresh with "
                                "`automations watch`)")
            get: Callable[[], SourceCredentials] = lambda: known  # noqa: E731
        else:
            assert name is not None
            source = {"profile": name}
            get = lambda: profile_credentials(name)  # noqa: E731
        login = ChainedRoleLogin(source=source, external_id=self.options.external_id,
                                 **self.login_settings(ctx, self.options.role_arn))
        return login, get

    def region(self, env: Mapping[str, str]) -> str | None:
        """As aws-login's (`region:`, $AWS_REGION, $AWS_DEFAULT_REGION), then the region of the
        login it starts from: a hub in eu-west-1 chains in eu-west-1, unless told otherwise."""
        from automations.aws.clients import resolve_region

        return resolve_region(env, self.options.region, self.options.profile, self.source_region)

    def cache_key(self, ctx: StepContext) -> str | None:
        # Its task usually holds the aws-login too, both without `id:`: the profile (one
        # per step) keeps their caches apart.
        return ctx.step_id or f"{self.name}:{self.options.profile}"

    def describe(self) -> list[str]:
        source = repr(self.options.source_profile) if self.options.source_profile else "this run's aws-login"
        return [f"assume {self.options.role_arn} with the credentials of {source}", *self.describe_writing()]
