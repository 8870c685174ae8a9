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

import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from automations.api import (
    TRANSIENT,
    Delivery,
    OptionError,
    Options,
    RetryPolicy,
    Step,
    StepContext,
    StepFailed,
    StepResult,
    call_with_retry,
    option,
)

# Only what the options declare is imported here: `list` and `validate` import this module
# to check `with:`, and must not pay for the AWS and OIDC code, which run() imports.
from automations.aws.declarations import AWS_RETRY, REGION_PATTERN, ROLE_ARN_PATTERN, SESSION_NAME_PATTERN
from automations.files.envfile_options import ReaderName, readers_option
from automations.oidc.token_option import DEFAULT_AUDIENCE, TokenOption

if TYPE_CHECKING:
    from automations.aws.clients import AwsCredentials
    from automations.aws.login import AwsProfileFile, WebIdentityLogin
    from automations.aws.sts import AssumedRole
    from automations.files.credentials_file import CredentialCache, Profile, SharedAwsFiles
    from automations.files.envfile import EnvFile

ROLE_ARN_VARIABLES = ("AWS_ROLE_ARN", "IDP_AWS_ROLE_ARN")
# Our own keys beside the credentials: which role they are for, so a changed `roleArn` is
# never answered with the old role's credentials, and what a skipped rerun reports.
ROLE_KEY = "x_automations_role_arn"
ASSUMED_KEY = "x_automations_assumed_role_arn"
# IAM is eventually consistent: brand-new credentials can be refused for a few seconds.
VERIFY_POLICY = RetryPolicy(attempts=5, initial_delay=0.5, max_delay=2.0, deadline=15.0)
VERIFY_RETRY_CODES = frozenset({"InvalidClientTokenId", "AccessDenied", "ExpiredToken"})


def _matching(pattern: str, what: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        return None if re.fullmatch(pattern, value) else f"{value!r} is not {what}"
    return check


def _account_id(value: Any) -> str:
    return str(value).zfill(12) if isinstance(value, int) and not isinstance(value, bool) else str(value)


class AwsLoginOptions(Options):
    role_arn: str | None = option(None, key="roleArn",
                                  check=_matching(ROLE_ARN_PATTERN, "a role ARN (arn:aws:iam::<12-digit account>:role/NAME)"),
                                  help="the role to assume (default: $AWS_ROLE_ARN, else $IDP_AWS_ROLE_ARN)")
    token: TokenOption | None = option(None, help="{command: ...}, {file: ...} or {env: ...} (default: gitpod CLI, "
                                                  "gp CLI, $AWS_WEB_IDENTITY_TOKEN_FILE, GitHub Actions OIDC)")
    audience: str = option(DEFAULT_AUDIENCE, help="the audience to request and to expect in the token")
    duration_seconds: int = option(3600, key="durationSeconds", minimum=900, maximum=43200,
                                   help="lifetime of the credentials (at most the role's MaxSessionDuration)")
    session_name: str | None = option(None, key="sessionName",
                                      check=_matching(SESSION_NAME_PATTERN, "a role session name (2 to 64 of A-Z a-z 0-9 _ + = , . @ -)"),
                                      help="role session name (default: <environment id>-<unix time>)")
    profile: str = option("default", pattern=r"[^\s\[\]]{1,128}", help="the profile to write")
    region: str | None = option(None, check=_matching(REGION_PATTERN, "an AWS region (e.g. eu-west-1)"), help="region for STS, written to the profile")
    policy: dict[str, Any] | None = option(None, help="inline session policy (a policy document mapping)")
    policy_arns: list[str] = option(default_factory=list, key="policyArns", help="managed session policy ARNs")
    allowed_account_ids: list[str | int] = option(default_factory=list, key="allowedAccountIds",
                                                  help="refuse credentials for any other account")
    verify: bool = option(False, help="check the new credentials with GetCallerIdentity")
    credentials: Literal["file", "process"] = option(
        "file", help="file: static keys in the credentials file; process: a credential_process that refreshes")
    env_file: str | None = option(None, key="envFile", help="also write AWS_* variables to this dotenv file")
    readers: list[ReaderName] = readers_option("the programs that must read envFile back exactly "
                                               "(python-dotenv, node-dotenv, bash, godotenv, ruby-dotenv, direnv)")
    min_remaining: int = option(900, key="minRemaining", minimum=0, maximum=43200,
                                help="seconds of validity below which a rerun (or the credential process) refreshes")

    def validate(self) -> None:
        for index, arn in enumerate(self.policy_arns or []):
            if isinstance(arn, str) and "${" not in arn and not arn.startswith("arn:"):
                raise OptionError(("policyArns", index), f"{arn!r} is not a policy ARN")
        for index, account in enumerate(self.allowed_account_ids or []):
            text = _account_id(account)
            if "${" not in text and not (len(text) == 12 and text.isdigit()):
                raise OptionError(("allowedAccountIds", index), f"{text!r} is not a 12-digit AWS account id")
        if isinstance(self.duration_seconds, int) and isinstance(self.min_remaining, int) \
                and self.min_remaining >= self.duration_seconds:
            raise OptionError("minRemaining", f"must be less than durationSeconds ({self.duration_seconds}), "
                                              "or every run would assume the role again")


class Login:
    """What a login produced (or what a skipped rerun read back)."""

    def __init__(self, credentials: AwsCredentials, assumed_role_arn: str) -> None:
        self.credentials = credentials
        self.assumed_role_arn = assumed_role_arn

    @property
    def outputs(self) -> dict[str, str]:
        from automations.aws.sts import account_of
        from automations.timefmt import utc_stamp

        assert self.credentials.expiration is not None
        return {"accountId": account_of(self.assumed_role_arn), "assumedRoleArn": self.assumed_role_arn,
                "expiration": utc_stamp(self.credentials.expiration)}


class AwsLoginStep(Step[AwsLoginOptions]):
    name = "aws-login"
    Options = AwsLoginOptions
    summary = "Exchange the environment's OIDC token for AWS credentials (STS AssumeRoleWithWebIdentity)"
    # Throttled: a fleet booting together spreads over the STS quota; transient (token not
    # ready, IDPCommunicationError, 5xx): a lone environment tries again within a second
    # (bench/fleet.py, BENCHMARKS.md "Fleet and lone environment").
    retry_policy = AWS_RETRY
    outputs = {
        "profile": "the profile holding the credentials (none when `automations exec` gave them to COMMAND alone)",
        "accountId": "the 12-digit account of the assumed role",
        "assumedRoleArn": "the assumed role's session ARN (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION)",
        "expiration": "when the credentials expire (ISO 8601, UTC)",
    }

    def run(self, ctx: StepContext) -> StepResult:
        # The credentials-file code is imported here: validating a config must stay fast.
        from automations.aws.login import AwsProfileFile
        from automations.files.credentials_file import SharedAwsFiles

        web_identity = self.web_identity(ctx)
        files = SharedAwsFiles(ctx.env)
        env_file = self.env_file(ctx)
        if env_file is not None:
            ctx.variables.check(env_file)  # found now, not after the credentials were written (issue 10)
        ctx.variables.check(AwsProfileFile(files, self.options.profile))
        if not ctx.force:
            still_valid = self.still_valid(files.read(self.options.profile), web_identity, ctx)
            if still_valid is not None:
                self.provide(still_valid, ctx, AwsProfileFile(files, self.options.profile, kept=True))
                expires = still_valid.outputs["expiration"]
                result = StepResult.skipped(f"valid until {expires}", profile=self.options.profile,
                                            **still_valid.outputs)
                result.refresh_at = self.refresh_at(still_valid)
                return result
        assumed = web_identity.assume_role(ctx.env, cancelled=ctx.cancelled, log=ctx.log.info, secret=ctx.secret)
        if self.options.verify:
            self.verify(assumed, ctx)
        login = Login(assumed.credentials, assumed.assumed_role_arn)
        kept = self.provide(login, ctx, self.profile_file(files, login, web_identity, ctx))
        # `profile` only when the profile holds them (not for `exec`'s COMMAND alone): the run
        # history and `status` read it as "credentials written there".
        written = {"profile": self.options.profile} if kept.file is not None else {}
        result = StepResult.changed(f"{login.assumed_role_arn} until {login.outputs['expiration']}",
                                    **written, **login.outputs)
        result.refresh_at = self.refresh_at(login)
        return result

    def refresh_at(self, login: Login) -> float | None:
        """When `automations watch` logs in again: `minRemaining` before the expiry, for keys
        written as they are (the credentials file, `envFile`). A `credential_process` profile
        without `envFile` renews itself whenever an SDK asks: nothing to refresh."""
        if self.options.credentials == "process" and not self.options.env_file:
            return None
        assert login.credentials.expiration is not None
        return login.credentials.expiration.timestamp() - self.options.min_remaining

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

    def region(self, env: Mapping[str, str]) -> str | None:
        from automations.aws.clients import resolve_region

        return resolve_region(env, self.options.region, self.options.profile)

    def web_identity(self, ctx: StepContext) -> WebIdentityLogin:
        """This step's login, resolved against the task's environment: also what the
        credential process refreshes from, without reading automations.yaml again."""
        from automations.aws.login import WebIdentityLogin
        from automations.oidc.sources import token_spec

        return WebIdentityLogin(
            config=str(ctx.config_path), task=ctx.task, role_arn=self.role_arn(ctx.env),
            token=token_spec(self.options.token, ctx.config_path.parent),
            audience=self.options.audience, duration_seconds=self.options.duration_seconds,
            session_name=self.options.session_name, region=self.region(ctx.env), policy=self.options.policy,
            policy_arns=tuple(self.options.policy_arns),
            allowed_account_ids=tuple(_account_id(a) for a in self.options.allowed_account_ids),
            sts_endpoint=ctx.env.get("AWS_ENDPOINT_URL_STS") or ctx.env.get("AWS_ENDPOINT_URL") or None,
            min_remaining=self.options.min_remaining,
            retry_policy=ctx.retry_policy or type(self).retry_policy)

    def verify(self, assumed: AssumedRole, ctx: StepContext) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        from automations.aws.clients import aws_error_class, client_config, create_client, error_code

        creds = assumed.credentials
        client = create_client(
            "sts", ctx.env, region_name=self.region(ctx.env) or "us-east-1", config=client_config(),
            endpoint_url=ctx.env.get("AWS_ENDPOINT_URL_STS") or ctx.env.get("AWS_ENDPOINT_URL") or None,
            aws_access_key_id=creds.access_key_id, aws_secret_access_key=creds.secret_access_key,
            aws_session_token=creds.session_token, cancelled=ctx.cancelled)

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

    # -- reruns ------------------------------------------------------------------------------

    def still_valid(self, profile: Profile, web_identity: WebIdentityLogin, ctx: StepContext) -> Login | None:
        """The credentials this step wrote for this role, when they outlive `minRemaining`.
        In `process` mode, only while the cached snapshot is this login's: a changed
        automations.yaml takes effect now, not never."""
        from automations.aws.clients import AwsCredentials
        from automations.files.credentials_file import ACCESS_KEY, EXPIRES, SECRET_KEY, SESSION_TOKEN, remaining_seconds
        from automations.timefmt import parse_utc

        role_arn = web_identity.role_arn
        if self.options.region and profile.config.get("region") != self.options.region:
            return None
        if self.options.credentials == "process":
            cache = self.cache(ctx.env, ctx.config_path, ctx.task, ctx.step_id)
            if profile.config.get("credential_process") != credential_process_command(cache.path):
                return None
            entry = cache.read(role_arn)
            if entry is None or entry.get("Refresh") != web_identity.snapshot():
                return None
            login = Login(AwsCredentials(entry["AccessKeyId"], entry["SecretAccessKey"], entry["SessionToken"],
                                         parse_utc(entry["Expiration"])), entry.get("AssumedRoleArn", ""))
        else:
            keys = profile.credentials
            if keys.get(ROLE_KEY) != role_arn or "credential_process" in profile.config:
                return None
            if not all(keys.get(k) for k in (ACCESS_KEY, SECRET_KEY, SESSION_TOKEN, ASSUMED_KEY)):
                return None
            login = Login(AwsCredentials(keys[ACCESS_KEY], keys[SECRET_KEY], keys[SESSION_TOKEN],
                                         parse_utc(keys.get(EXPIRES))), keys[ASSUMED_KEY])
        ctx.secret(login.credentials.secret_access_key)
        ctx.secret(login.credentials.session_token)
        if remaining_seconds(login.credentials.expiration) <= self.options.min_remaining:
            return None
        return login

    # -- writing -------------------------------------------------------------------------------

    def profile_file(self, files: SharedAwsFiles, login: Login, web_identity: WebIdentityLogin,
                     ctx: StepContext) -> AwsProfileFile:
        """The profile as it keeps these credentials: static keys, or a credential_process
        whose cache is written first."""
        from automations.aws.login import AwsProfileFile, cache_entry
        from automations.files.credentials_file import ACCESS_KEY, EXPIRES, SECRET_KEY, SESSION_TOKEN, STATIC_KEYS

        creds = login.credentials
        role_arn = web_identity.role_arn
        config: dict[str, str | None] = {}
        before_write = None
        if self.options.region:
            config["region"] = self.options.region
        if self.options.credentials == "process":
            cache = self.cache(ctx.env, ctx.config_path, ctx.task, ctx.step_id)
            def before_write() -> None:
                cache.write(cache_entry(creds, login.assumed_role_arn, web_identity))
            config["credential_process"] = credential_process_command(cache.path)
            # Static keys in the credentials file would win over credential_process: remove them.
            keys: dict[str, str | None] = {k: None for k in (*STATIC_KEYS, ROLE_KEY, ASSUMED_KEY)}
        else:
            config["credential_process"] = None
            keys = {ACCESS_KEY: creds.access_key_id, SECRET_KEY: creds.secret_access_key,
                    SESSION_TOKEN: creds.session_token, EXPIRES: login.outputs["expiration"],
                    ROLE_KEY: role_arn, ASSUMED_KEY: login.assumed_role_arn}
        return AwsProfileFile(files, self.options.profile, keys, config, before_write=before_write)

    def provide(self, login: Login, ctx: StepContext, profile: AwsProfileFile) -> Delivery:
        """Make the credentials available to later steps (in memory) and hand them over
        (ctx.deliver): to the profile and `envFile` when the run keeps files, to COMMAND in `exec`."""
        from automations.aws.clients import aws_sessions
        from automations.aws.login import credential_variables

        region = self.region(ctx.env)
        aws_sessions(ctx).remember(self.options.profile, login.credentials, region)
        values = credential_variables(login.credentials, region)
        delivery = ctx.deliver(values, profile)
        if delivery.changed:
            ctx.log.info(f"wrote profile {self.options.profile!r} to {profile.files.credentials_path} and "
                         f"{profile.files.config_path}")
        env_file = self.env_file(ctx)
        if env_file is not None:
            ctx.deliver(values, env_file)
        return delivery

    def env_file(self, ctx: StepContext) -> EnvFile | None:
        """`envFile`, merged: other steps (secrets) may write the same file; their keys stay."""
        if not self.options.env_file:
            return None
        from automations.files.envfile import EnvFile

        path = Path(os.path.expanduser(self.options.env_file))
        return EnvFile(path if path.is_absolute() else ctx.config_path.parent / path, name=self.options.env_file,
                       mode="merge", readers=self.options.readers)

    @staticmethod
    def cache(env: Mapping[str, str], config_path: Path, task: str, step_id: str | None) -> CredentialCache:
        from automations.files.credentials_file import CredentialCache

        return CredentialCache.for_step(env, config_path, task, step_id)

    def describe(self) -> list[str]:
        from automations.oidc.sources import token_source

        role = self.options.role_arn or "$AWS_ROLE_ARN"
        how = "a credential_process" if self.options.credentials == "process" else "static keys"
        lines = [f"assume {role} with the token from {token_source(self.options.token, self.options.audience).describe}",
                 f"write profile {self.options.profile!r} ({how}), skipped while valid for more than "
                 f"{self.options.min_remaining}s"]
        if self.options.env_file:
            lines.append(f"write AWS_* variables to {self.options.env_file}")
        return lines


def credential_process_command(cache_path: Path) -> str:
    """The `credential_process` line: this interpreter, isolated (-I: neither the working
    directory nor $PYTHONPATH on sys.path, so a `yaml.py` wherever `aws` runs is never
    imported), answering from the snapshot in `cache_path` alone."""
    import shlex

    if not sys.executable:
        raise StepFailed("cannot tell which Python runs automations (sys.executable is empty); "
                         "use `credentials: file`")
    return shlex.join([os.path.abspath(sys.executable), "-I", "-m", "automations", "aws", "credential-process",
                       "--cache", str(cache_path)])
