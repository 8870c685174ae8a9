"""What the steps that assume a role share (`aws-login`, `aws-assume-role`): their common
options, and what happens to credentials once STS handed them out.

- a rerun makes no STS call while the profile holds credentials the step wrote for the same
  role that outlive `minRemaining` (in `process` mode: while the cached snapshot is this
  login's, so a changed automations.yaml takes effect now, not never);
- the credentials are handed over with `ctx.deliver` (automations.engine.variables): to the
  profile (static keys in the shared credentials file, or a `credential_process` line
  answering from the step's cache, automations.aws.login) and `envFile` when the run keeps
  files, to COMMAND's environment under `automations exec`; and to later steps of the run in
  memory (`aws_sessions(ctx)`);
- the result says when a watcher should make them again (`StepResult.refresh_at`).

The step classes in `tasks/` tell how they obtain credentials; the rest is here, once.
"""
from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

# What the options declare, and nothing heavier, at the top: the step modules import this
# module when a configuration loads (`list`, `validate`); the AWS code is imported where used.
from automations.aws.declarations import PROFILE_PATTERN, REGION_PATTERN, ROLE_ARN_PATTERN, SESSION_NAME_PATTERN
from automations.engine.options import OptionError, Options, option
from automations.engine.step import Step, StepContext, StepResult
from automations.errors import StepFailed
from automations.files.envfile_options import ReaderName, readers_option

if TYPE_CHECKING:
    from automations.aws.clients import AwsCredentials
    from automations.aws.login import AwsProfileFile, RoleLogin
    from automations.aws.sts import AssumedRole
    from automations.engine.variables import Delivery
    from automations.files.credentials_file import CredentialCache, Profile, SharedAwsFiles
    from automations.files.envfile import EnvFile

# Our own keys beside the credentials: which role they are for, so a changed `roleArn` is
# never answered with the old role's credentials, and what a skipped rerun reports.
ROLE_KEY = "x_automations_role_arn"
ASSUMED_KEY = "x_automations_assumed_role_arn"


def matching(pattern: str, what: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        return None if re.fullmatch(pattern, value) else f"{value!r} is not {what}"
    return check


def account_id(value: Any) -> str:
    return str(value).zfill(12) if isinstance(value, int) and not isinstance(value, bool) else str(value)


SESSION_NAME_CHECK = matching(SESSION_NAME_PATTERN, "a role session name (2 to 64 of A-Z a-z 0-9 _ + = , . @ -)")
ROLE_ARN_CHECK = matching(ROLE_ARN_PATTERN, "a role ARN (arn:aws:iam::<12-digit account>:role/NAME)")


class RoleCredentialsOptions(Options):
    """The options of every step that assumes a role and writes its credentials."""

    role_arn: str | None = option(None, key="roleArn", check=ROLE_ARN_CHECK, help="the role to assume")
    duration_seconds: int = option(3600, key="durationSeconds", minimum=900, maximum=43200,
                                   help="lifetime of the credentials (at most the role's MaxSessionDuration)")
    session_name: str | None = option(None, key="sessionName",
                                      check=SESSION_NAME_CHECK,
                                      help="role session name (default: <environment id>-<unix time>)")
    profile: str = option("default", pattern=PROFILE_PATTERN, help="the profile to write")
    region: str | None = option(None, check=matching(REGION_PATTERN, "an AWS region (e.g. eu-west-1)"),
                                help="region for STS, written to the profile")
    policy: dict[str, Any] | None = option(None, help="inline session policy (a policy document mapping)")
    policy_arns: list[str] = option(default_factory=list, key="policyArns", help="managed session policy ARNs")
    allowed_account_ids: list[str | int] = option(default_factory=list, key="allowedAccountIds",
                                                  help="refuse credentials for any other account")
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
            text = account_id(account)
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


class RoleCredentialsStep(Step[Any]):
    """The base of the steps that assume a role: everything after STS answered. A subclass's
    `run()` calls `open_files`, `rerun_result` and, with what STS gave, `deliver`."""

    options: RoleCredentialsOptions
    outputs = {
        "profile": "the profile holding the credentials (none when `automations exec` gave them to COMMAND alone)",
        "accountId": "the 12-digit account of the assumed role",
        "assumedRoleArn": "the assumed role's session ARN (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION)",
        "expiration": "when the credentials expire (ISO 8601, UTC)",
    }

    def open_files(self, ctx: StepContext) -> SharedAwsFiles:
        """The shared AWS files, and where the credentials will go checked now, not after they
        were obtained (issue 10): `envFile` writable, the credentials file made private (a
        skipped rerun too)."""
        # Imported here: validating a config must stay fast.
        from automations.aws.login import AwsProfileFile
        from automations.files.credentials_file import SharedAwsFiles

        files = SharedAwsFiles(ctx.env)
        env_file = self.env_file(ctx)
        if env_file is not None:
            ctx.variables.check(env_file)
        ctx.variables.check(AwsProfileFile(files, self.options.profile))
        return files

    def rerun_result(self, files: SharedAwsFiles, login: RoleLogin, ctx: StepContext) -> StepResult | None:
        """`skipped` (the credentials handed on as if just obtained) while the profile's
        credentials stay valid; None when they must be obtained again."""
        if ctx.force:
            return None
        still_valid = self.still_valid(files.read(self.options.profile), login, ctx)
        if still_valid is None:
            return None
        from automations.aws.login import AwsProfileFile

        self.provide(still_valid, ctx, AwsProfileFile(files, self.options.profile, kept=True))
        expires = still_valid.outputs["expiration"]
        return self.result("skipped", f"valid until {expires}", still_valid, written=True)

    def deliver(self, files: SharedAwsFiles, assumed: AssumedRole, login: RoleLogin, ctx: StepContext) -> StepResult:
        """Hand over what STS gave (ctx.deliver: the profile and `envFile` when the run keeps
        files, COMMAND's environment in `exec`), and say so."""
        obtained = Login(assumed.credentials, assumed.assumed_role_arn)
        kept = self.provide(obtained, ctx, self.profile_file(files, obtained, login, ctx))
        return self.result("changed", f"{obtained.assumed_role_arn} until {obtained.outputs['expiration']}", obtained,
                           written=kept.file is not None)

    def result(self, status: Literal["changed", "skipped"], message: str, login: Login, *,
               written: bool) -> StepResult:
        from automations.aws.login import refresh_at

        # `profile` only when the profile holds them (not for `exec`'s COMMAND alone): the run
        # history and `status` read it as "credentials written there".
        profile = {"profile": self.options.profile} if written else {}
        result = StepResult(status, {**profile, **login.outputs}, message)
        # File credentials and envFile expire; a credential_process refreshes itself.
        if (self.options.credentials == "file" or self.options.env_file) and login.credentials.expiration:
            result.refresh_at = refresh_at(login.credentials.expiration, self.options.min_remaining)
        return result

    # -- reruns ------------------------------------------------------------------------------

    def still_valid(self, profile: Profile, login: RoleLogin, ctx: StepContext) -> Login | None:
        """The credentials this step wrote for this role, when they outlive `minRemaining`.
        In `process` mode, only while the cached snapshot is this login's: a changed
        automations.yaml takes effect now, not never."""
        from automations.aws.clients import AwsCredentials
        from automations.files.credentials_file import ACCESS_KEY, EXPIRES, SECRET_KEY, SESSION_TOKEN, remaining_seconds
        from automations.timefmt import parse_utc

        if self.options.region and profile.config.get("region") != self.options.region:
            return None
        if self.options.credentials == "process":
            cache = self.cache(ctx)
            if profile.config.get("credential_process") != credential_process_command(cache.path):
                return None
            entry = cache.read(login.role_arn)
            if entry is None or entry.get("Refresh") != login.snapshot():
                return None
            found = Login(AwsCredentials(entry["AccessKeyId"], entry["SecretAccessKey"], entry["SessionToken"],
                                         parse_utc(entry["Expiration"])), entry.get("AssumedRoleArn", ""))
        else:
            keys = profile.credentials
            if keys.get(ROLE_KEY) != login.role_arn or "credential_process" in profile.config:
                return None
            if not all(keys.get(k) for k in (ACCESS_KEY, SECRET_KEY, SESSION_TOKEN, ASSUMED_KEY)):
                return None
            found = Login(AwsCredentials(keys[ACCESS_KEY], keys[SECRET_KEY], keys[SESSION_TOKEN],
                                         parse_utc(keys.get(EXPIRES))), keys[ASSUMED_KEY])
        ctx.secret(found.credentials.secret_access_key)
        ctx.secret(found.credentials.session_token)
        if remaining_seconds(found.credentials.expiration) <= self.options.min_remaining:
            return None
        return found

    # -- writing -------------------------------------------------------------------------------

    def profile_file(self, files: SharedAwsFiles, obtained: Login, login: RoleLogin,
                     ctx: StepContext) -> AwsProfileFile:
        """The profile as it keeps these credentials: static keys, or a credential_process
        whose cache is written first."""
        from automations.aws.login import AwsProfileFile, cache_entry
        from automations.files.credentials_file import ACCESS_KEY, EXPIRES, SECRET_KEY, SESSION_TOKEN, STATIC_KEYS

        creds = obtained.credentials
        config: dict[str, str | None] = {}
        before_write = None
        if self.options.region:
            config["region"] = self.options.region
        if self.options.credentials == "process":
            cache = self.cache(ctx)

            def before_write() -> None:
                # Under the cache's lock, as the credential process refreshes it: one that read
                # the old entry and is refreshing now writes first, and this newer login last.
                # Only the write is inside, so nothing here waits for another lock.
                with cache.locked():
                    cache.write(cache_entry(creds, obtained.assumed_role_arn, login))
            config["credential_process"] = credential_process_command(cache.path)
            # Static keys in the credentials file would win over credential_process: remove them.
            keys: dict[str, str | None] = {k: None for k in (*STATIC_KEYS, ROLE_KEY, ASSUMED_KEY)}
        else:
            config["credential_process"] = None
            keys = {ACCESS_KEY: creds.access_key_id, SECRET_KEY: creds.secret_access_key,
                    SESSION_TOKEN: creds.session_token, EXPIRES: obtained.outputs["expiration"],
                    ROLE_KEY: login.role_arn, ASSUMED_KEY: obtained.assumed_role_arn}
        return AwsProfileFile(files, self.options.profile, keys, config, before_write=before_write)

    def provide(self, obtained: Login, ctx: StepContext, profile: AwsProfileFile) -> Delivery:
        """Make the credentials available to later steps (in memory, with the cache a chained
        credential process refreshes them from) and hand them over (ctx.deliver): to the
        profile and `envFile` when the run keeps files, to COMMAND in `exec`."""
        from automations.aws.clients import aws_sessions
        from automations.aws.login import credential_variables

        region = self.region(ctx.env)
        cache = self.cache(ctx).path if self.options.credentials == "process" else None
        aws_sessions(ctx).remember(self.options.profile, obtained.credentials, region, task=ctx.task,
                                   assumed_role_arn=obtained.assumed_role_arn, cache=cache, chained=self.chained)
        values = credential_variables(obtained.credentials, region)
        delivery = ctx.deliver(values, profile)
        if delivery.changed:
            ctx.log.info(f"wrote profile {self.options.profile!r} to {profile.files.credentials_path} and "
                         f"{profile.files.config_path}")
        env_file = self.env_file(ctx)
        if env_file is not None:
            ctx.deliver(values, env_file)
        return delivery

    chained = False  # whether the credentials come from other credentials (role chaining)

    # -- where things are ------------------------------------------------------------------------

    def login_settings(self, ctx: StepContext, role_arn: str) -> dict[str, Any]:
        """What every kind of login (automations.aws.login) takes from these options, resolved
        against the task's environment: also what the credential process refreshes from,
        without reading automations.yaml again."""
        from automations.aws.sts import sts_endpoint

        return dict(
            config=str(ctx.config_path), task=ctx.task, role_arn=role_arn,
            duration_seconds=self.options.duration_seconds, session_name=self.options.session_name,
            region=self.region(ctx.env), policy=self.options.policy, policy_arns=tuple(self.options.policy_arns),
            allowed_account_ids=tuple(account_id(a) for a in self.options.allowed_account_ids),
            sts_endpoint=sts_endpoint(ctx.env),
            min_remaining=self.options.min_remaining, retry_policy=ctx.retry_policy or type(self).retry_policy)

    def region(self, env: Mapping[str, str]) -> str | None:
        from automations.aws.clients import resolve_region

        return resolve_region(env, self.options.region, self.options.profile)

    def env_file(self, ctx: StepContext) -> EnvFile | None:
        """`envFile`, merged: other steps (secrets) may write the same file; their keys stay."""
        if not self.options.env_file:
            return None
        from automations.files.envfile import EnvFile

        path = Path(os.path.expanduser(self.options.env_file))
        return EnvFile(path if path.is_absolute() else ctx.config_path.parent / path, name=self.options.env_file,
                       mode="merge", readers=self.options.readers)

    def cache(self, ctx: StepContext) -> CredentialCache:
        from automations.files.credentials_file import CredentialCache

        return CredentialCache.for_step(ctx.env, ctx.config_path, ctx.task, self.cache_key(ctx))

    def cache_key(self, ctx: StepContext) -> str | None:
        """What tells this step's cache from the others' of its task: its `id:`."""
        return ctx.step_id

    def describe_writing(self) -> list[str]:
        how = "a credential_process" if self.options.credentials == "process" else "static keys"
        lines = [f"write profile {self.options.profile!r} ({how}), skipped while valid for more than "
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
