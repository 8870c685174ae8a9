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
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal, Mapping

from automations.aws import AWS_RETRY, AwsCredentials
from automations.errors import StepFailed
from automations.options import OptionError, Options, option
from automations.redaction import REDACTOR
from automations.retry import TRANSIENT, RetryPolicy, call_with_retry
from automations.step import Step, StepContext, StepResult
from automations.sts import (ROLE_ARN_PATTERN, SESSION_NAME_PATTERN, AssumedRole, AssumeRoleRequest, StsRejected,
                             account_of, assume_role_with_web_identity, format_expiration, parse_expiration,
                             session_name_for)
from automations.tokens import DEFAULT_AUDIENCE, TokenOption, TokenSource, check_token, token_source

if TYPE_CHECKING:
    from automations.credentials_file import CredentialCache, Profile, SharedAwsFiles

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
    region: str | None = option(None, check=_matching(r"[a-z]{2}(-[a-z]+)+-\d+", "an AWS region (e.g. eu-west-1)"), help="region for STS, written to the profile")
    policy: dict[str, Any] | None = option(None, help="inline session policy (a policy document mapping)")
    policy_arns: list[str] = option(default_factory=list, key="policyArns", help="managed session policy ARNs")
    allowed_account_ids: list[str | int] = option(default_factory=list, key="allowedAccountIds",
                                                  help="refuse credentials for any other account")
    verify: bool = option(False, help="check the new credentials with GetCallerIdentity")
    credentials: Literal["file", "process"] = option(
        "file", help="file: static keys in the credentials file; process: a credential_process that refreshes")
    env_file: str | None = option(None, key="envFile", help="also write AWS_* variables to this dotenv file")
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
        assert self.credentials.expiration is not None
        return {"accountId": account_of(self.assumed_role_arn), "assumedRoleArn": self.assumed_role_arn,
                "expiration": format_expiration(self.credentials.expiration)}


class AwsLoginStep(Step[AwsLoginOptions]):
    name = "aws-login"
    Options = AwsLoginOptions
    summary = "Exchange the environment's OIDC token for AWS credentials (STS AssumeRoleWithWebIdentity)"
    # Throttled: a fleet booting together spreads over the STS quota; transient (token not
    # ready, IDPCommunicationError, 5xx): a lone environment tries again within a second
    # (bench/fleet.py, BENCHMARKS.md "Fleet and lone environment").
    retry_policy = AWS_RETRY

    def run(self, ctx: StepContext) -> StepResult:
        # The credentials-file code is imported here: validating a config must stay fast.
        from automations.credentials_file import SharedAwsFiles

        role_arn = self.role_arn(ctx.env)
        files = SharedAwsFiles(ctx.env)
        if not ctx.force:
            still_valid = self.still_valid(files.read(self.options.profile), role_arn, ctx)
            if still_valid is not None:
                self.provide(still_valid, ctx)
                expires = still_valid.outputs["expiration"]
                return StepResult.skipped(f"valid until {expires}", profile=self.options.profile, **still_valid.outputs)
        assumed = self.assume_role(ctx.env, role_arn, task=ctx.task, base_dir=ctx.config_path.parent,
                                   cancelled=ctx.cancelled, log=ctx.log.info, secret=ctx.secret)
        if self.options.verify:
            self.verify(assumed, ctx)
        login = Login(assumed.credentials, assumed.assumed_role_arn)
        self.write_profile(files, login, role_arn, ctx)
        self.provide(login, ctx)
        return StepResult.changed(f"{login.assumed_role_arn} until {login.outputs['expiration']}",
                                  profile=self.options.profile, **login.outputs)

    # -- the login itself, shared with `automations aws credential-process` ----------------

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

    def token_source(self, base_dir: Path | None) -> TokenSource:
        return token_source(self.options.token, self.options.audience, base_dir)

    def region(self, env: Mapping[str, str]) -> str | None:
        return self.options.region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None

    def assume_role(self, env: Mapping[str, str], role_arn: str, *, task: str, base_dir: Path | None,
                    cancelled: threading.Event | None = None,
                    log: Callable[[str], None] = lambda message: None,
                    secret: Callable[[str | None], None] = REDACTOR.add) -> AssumedRole:
        """One attempt: a fresh token, checked, exchanged. Every secret is registered with the
        redactor the moment we hold it."""
        source = self.token_source(base_dir)
        token = source.fetch(env, cancelled)
        secret(token)
        claims = check_token(token, self.options.audience)
        request = AssumeRoleRequest(
            role_arn=role_arn,
            session_name=self.options.session_name or session_name_for(claims),
            duration_seconds=self.options.duration_seconds,
            region=self.region(env),
            policy=self.options.policy,
            policy_arns=tuple(self.options.policy_arns),
        )
        log(f"token from {source.describe} (sub {claims.get('sub')!r}); assuming {role_arn} "
            f"as {request.session_name}")
        try:
            assumed = assume_role_with_web_identity(token, request, env)
        except StsRejected as error:
            if error.code in ("AccessDenied", "IDPRejectedClaim"):
                from automations.trust import trust_troubleshooting_hint

                raise StsRejected(f"{error} -- role {role_arn}; the token's claims: "
                                  f"{_json(claims)}; compare them with the role's trust policy "
                                  f"(automations token --task {task} --decode), or have "
                                  f"`{trust_troubleshooting_hint(task, role_arn)}` compare them", error.code) from None
            raise
        secret(assumed.credentials.secret_access_key)
        secret(assumed.credentials.session_token)
        self.check_account(assumed.account_id)
        return assumed

    def check_account(self, account_id: str) -> None:
        allowed = [_account_id(a) for a in self.options.allowed_account_ids]
        if allowed and account_id not in allowed:
            raise StepFailed(f"the credentials are for account {account_id}, which is not in allowedAccountIds "
                             f"({', '.join(allowed)}); nothing was written")

    def verify(self, assumed: AssumedRole, ctx: StepContext) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        from automations.aws import aws_error_class, client_config, create_client, error_code

        creds = assumed.credentials
        client = create_client(
            "sts", ctx.env, region_name=self.region(ctx.env) or "us-east-1", config=client_config(),
            endpoint_url=ctx.env.get("AWS_ENDPOINT_URL_STS") or ctx.env.get("AWS_ENDPOINT_URL") or None,
            aws_access_key_id=creds.access_key_id, aws_secret_access_key=creds.secret_access_key,
            aws_session_token=creds.session_token)

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

    def still_valid(self, profile: Profile, role_arn: str, ctx: StepContext) -> Login | None:
        """The credentials this step wrote for this role, when they outlive `minRemaining`."""
        from automations.credentials_file import ACCESS_KEY, EXPIRES, SECRET_KEY, SESSION_TOKEN, remaining_seconds

        if self.options.region and profile.config.get("region") != self.options.region:
            return None
        if self.options.credentials == "process":
            if profile.config.get("credential_process") != self.credential_process_command(ctx):
                return None
            entry = self.cache(ctx.env, ctx.config_path, ctx.task, ctx.step_id).read(role_arn)
            if entry is None:
                return None
            login = Login(AwsCredentials(entry["AccessKeyId"], entry["SecretAccessKey"], entry["SessionToken"],
                                         parse_expiration(entry["Expiration"])), entry.get("AssumedRoleArn", ""))
        else:
            keys = profile.credentials
            if keys.get(ROLE_KEY) != role_arn or "credential_process" in profile.config:
                return None
            if not all(keys.get(k) for k in (ACCESS_KEY, SECRET_KEY, SESSION_TOKEN, ASSUMED_KEY)):
                return None
            login = Login(AwsCredentials(keys[ACCESS_KEY], keys[SECRET_KEY], keys[SESSION_TOKEN],
                                         parse_expiration(keys.get(EXPIRES))), keys[ASSUMED_KEY])
        ctx.secret(login.credentials.secret_access_key)
        ctx.secret(login.credentials.session_token)
        if remaining_seconds(login.credentials.expiration) <= self.options.min_remaining:
            return None
        return login

    # -- writing -------------------------------------------------------------------------------

    def write_profile(self, files: SharedAwsFiles, login: Login, role_arn: str, ctx: StepContext) -> None:
        from automations.credentials_file import ACCESS_KEY, EXPIRES, SECRET_KEY, SESSION_TOKEN, STATIC_KEYS

        creds = login.credentials
        config: dict[str, str | None] = {}
        if self.options.region:
            config["region"] = self.options.region
        if self.options.credentials == "process":
            self.cache(ctx.env, ctx.config_path, ctx.task, ctx.step_id).write(cache_entry(login, role_arn))
            config["credential_process"] = self.credential_process_command(ctx)
            # Static keys in the credentials file would win over credential_process: remove them.
            keys: dict[str, str | None] = {k: None for k in (*STATIC_KEYS, ROLE_KEY, ASSUMED_KEY)}
        else:
            config["credential_process"] = None
            keys = {ACCESS_KEY: creds.access_key_id, SECRET_KEY: creds.secret_access_key,
                    SESSION_TOKEN: creds.session_token, EXPIRES: login.outputs["expiration"],
                    ROLE_KEY: role_arn, ASSUMED_KEY: login.assumed_role_arn}
        files.update(self.options.profile, keys, config)
        ctx.log.info(f"wrote profile {self.options.profile!r} to {files.credentials_path} and {files.config_path}")

    def provide(self, login: Login, ctx: StepContext) -> None:
        """Make the credentials available to later steps: in memory, and in `envFile`."""
        region = self.region(ctx.env)
        ctx.aws.remember(self.options.profile, login.credentials, region)
        if self.options.env_file:
            from automations.envfile import write_env_file

            creds = login.credentials
            values = {"AWS_ACCESS_KEY_ID": creds.access_key_id, "AWS_SECRET_ACCESS_KEY": creds.secret_access_key,
                      "AWS_SESSION_TOKEN": creds.session_token or ""}
            if region:
                values.update(AWS_REGION=region, AWS_DEFAULT_REGION=region)
            path = Path(os.path.expanduser(self.options.env_file))
            # merge: other steps (secrets) may write the same file; their keys stay.
            write_env_file(path if path.is_absolute() else ctx.config_path.parent / path, values, mode="merge")

    def credential_process_command(self, ctx: StepContext) -> str:
        program = Path(sys.argv[0])
        if program.name == "automations" and program.is_file():
            argv = [str(program.absolute())]
        else:
            argv = [sys.executable, "-m", "automations"]
        argv += ["-c", str(ctx.config_path), "aws", "credential-process", "--task", ctx.task]
        if ctx.step_id:
            argv += ["--step", ctx.step_id]
        import shlex

        return shlex.join(argv)

    @staticmethod
    def cache(env: Mapping[str, str], config_path: Path, task: str, step_id: str | None) -> CredentialCache:
        from automations.credentials_file import CredentialCache

        return CredentialCache.for_step(env, config_path, task, step_id)

    def describe(self) -> list[str]:
        role = self.options.role_arn or "$AWS_ROLE_ARN"
        how = "a credential_process" if self.options.credentials == "process" else "static keys"
        lines = [f"assume {role} with the token from {self.token_source(None).describe}",
                 f"write profile {self.options.profile!r} ({how}), skipped while valid for more than "
                 f"{self.options.min_remaining}s"]
        if self.options.env_file:
            lines.append(f"write AWS_* variables to {self.options.env_file}")
        return lines


def cache_entry(login: Login, role_arn: str) -> dict[str, Any]:
    from datetime import datetime, timezone

    creds = login.credentials
    assert creds.expiration is not None
    return {"Version": 1, "AccessKeyId": creds.access_key_id, "SecretAccessKey": creds.secret_access_key,
            "SessionToken": creds.session_token, "Expiration": format_expiration(creds.expiration),
            "RoleArn": role_arn, "AssumedRoleArn": login.assumed_role_arn,
            "Written": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}


def _json(value: Any) -> str:
    import json  # imported here: validating a config must stay fast

    return json.dumps(value, sort_keys=True)
