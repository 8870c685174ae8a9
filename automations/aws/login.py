"""Assuming a role, as a service: the web-identity login (a token from its source, checked,
exchanged with STS AssumeRoleWithWebIdentity) and role chaining (AssumeRole signed with the
credentials of another role: `ChainedRoleLogin`), the account checked either way. Used by the
`aws-login` and `aws-assume-role` steps and by `automations aws credential-process`.

A `WebIdentityLogin` holds everything one login needs, already resolved (the role from
`roleArn` or $AWS_ROLE_ARN, `${...}` expanded, relative paths made absolute, the STS endpoint,
the retry policy). At login the step writes it into the credential-process cache
(`snapshot()`); the credential process reads it back (`from_snapshot()`) and refreshes from
that alone: it never loads automations.yaml, imports a plugin or imports `tasks`, so a
repository checked out after the login cannot get code run by the next `aws` call (issue 10).

boto3 and botocore are imported only when STS is called.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from automations.aws.clients import AwsCredentials
from automations.errors import StepFailed, TransientError
from automations.redaction import REDACTOR
from automations.retry import THROTTLED, TRANSIENT, RetryPolicies, RetryPolicy

if TYPE_CHECKING:
    from datetime import datetime

    from automations.aws.sts import AssumedRole, AssumeRoleRequest
    from automations.files.credentials_file import CredentialCache, SharedAwsFiles
    from automations.oidc.sources import TokenSource

SNAPSHOT_VERSION = 1
# Told before each wait of a retried login: the login retrying (a chained login's source is
# refreshed with its own retries), attempt number, error, error class, seconds.
OnRetry = Callable[["RoleLogin", int, BaseException, str, float], None]


class SnapshotError(StepFailed):
    """The cache holds no usable login snapshot (missing, damaged, or from another version)."""


class RoleLogin:
    """What every way of assuming a role shares: the request's settings, resolved, the account
    check, retries, and the snapshot a refresh is made from (`WebIdentityLogin`,
    `ChainedRoleLogin`)."""

    kind: ClassVar[str | None] = None   # in the snapshot; None: the web-identity login (the first kind)

    def __init__(self, *, config: str, task: str, role_arn: str, duration_seconds: int,
                 session_name: str | None = None, region: str | None = None,
                 policy: dict[str, Any] | None = None, policy_arns: tuple[str, ...] = (),
                 allowed_account_ids: tuple[str, ...] = (), sts_endpoint: str | None = None,
                 min_remaining: int = 900, retry_policy: RetryPolicy | RetryPolicies | None = None) -> None:
        self.config = config                    # the automations.yaml and task logged in from: for
        self.task = task                        # messages, and for `credential-process --task`
        self.role_arn = role_arn
        self.duration_seconds = duration_seconds
        self.session_name = session_name        # None: derived at each login (see the subclasses)
        self.region = region
        self.policy = policy
        self.policy_arns = tuple(policy_arns)
        self.allowed_account_ids = tuple(allowed_account_ids)
        self.sts_endpoint = sts_endpoint        # None: botocore's own resolution
        self.min_remaining = min_remaining
        self.retry_policy = RetryPolicies.of(retry_policy or RetryPolicy())

    def request(self, session_name: str, external_id: str | None = None) -> AssumeRoleRequest:
        from automations.aws.sts import AssumeRoleRequest

        return AssumeRoleRequest(role_arn=self.role_arn, session_name=session_name,
                                 duration_seconds=self.duration_seconds, region=self.region, policy=self.policy,
                                 policy_arns=self.policy_arns, external_id=external_id)

    def assume_role_with_retries(self, env: Mapping[str, str],
                                 on_retry: OnRetry | None = None
                                 ) -> AssumedRole:
        """What the credential process does: one login under the snapshot's retry policies,
        each error in its class as the step's would be (Step.error_class)."""
        from automations.retry import call_with_retry

        def told(number: int, error: BaseException, error_class: str, wait: float) -> None:
            if on_retry is not None:
                on_retry(self, number, error, error_class, wait)

        return call_with_retry(self.attempt(env, on_retry), self.retry_policy, _error_class, on_retry=told)

    def attempt(self, env: Mapping[str, str], on_retry: OnRetry | None
                ) -> Callable[[], AssumedRole]:
        """One attempt of the credential process's login, ready to be retried."""
        raise NotImplementedError

    def accepted(self, assumed: AssumedRole, secret: Callable[[str | None], None]) -> AssumedRole:
        """STS's answer, its secrets registered the moment we hold them, its account checked."""
        secret(assumed.credentials.secret_access_key)
        secret(assumed.credentials.session_token)
        self.check_account(assumed.account_id)
        return assumed

    def check_account(self, account_id: str) -> None:
        if self.allowed_account_ids and account_id not in self.allowed_account_ids:
            raise StepFailed(f"the credentials are for account {account_id}, which is not in allowedAccountIds "
                             f"({', '.join(self.allowed_account_ids)}); nothing was written")

    def _sts_env(self, env: Mapping[str, str]) -> Mapping[str, str]:
        if not self.sts_endpoint:
            return env
        return {**env, "AWS_ENDPOINT_URL_STS": self.sts_endpoint}

    # -- the snapshot in the credential-process cache -----------------------------------------

    def snapshot(self) -> dict[str, Any]:
        kind = {"kind": self.kind} if self.kind else {}
        return {
            "version": SNAPSHOT_VERSION, **kind, "config": self.config, "task": self.task, "roleArn": self.role_arn,
            **self.own_snapshot(), "durationSeconds": self.duration_seconds,
            "sessionName": self.session_name, "region": self.region, "policy": self.policy,
            "policyArns": list(self.policy_arns), "allowedAccountIds": list(self.allowed_account_ids),
            "stsEndpoint": self.sts_endpoint, "minRemaining": self.min_remaining,
            "retry": {error_class: {name: getattr(policy, name) for name in RetryPolicy.__slots__}
                      for error_class, policy in self.retry_policy.by_class.items()},
        }

    def own_snapshot(self) -> dict[str, Any]:
        """The snapshot's fields of this kind of login only."""
        return {}

    @staticmethod
    def shared_settings(data: dict[str, Any]) -> dict[str, Any]:
        """The settings every kind has, from a snapshot; TypeError or KeyError if one is wrong."""
        return dict(config=_typed(data["config"], str), task=_typed(data["task"], str),
                    role_arn=_typed(data["roleArn"], str), duration_seconds=_typed(data["durationSeconds"], int),
                    session_name=_typed(data["sessionName"], str, None), region=_typed(data["region"], str, None),
                    policy=_typed(data["policy"], dict, None),
                    policy_arns=tuple(_typed(a, str) for a in _typed(data["policyArns"], list)),
                    allowed_account_ids=tuple(_typed(a, str) for a in _typed(data["allowedAccountIds"], list)),
                    sts_endpoint=_typed(data["stsEndpoint"], str, None),
                    min_remaining=_typed(data["minRemaining"], int),
                    retry_policy=_retry_policies(_typed(data["retry"], dict)))

    @classmethod
    def from_settings(cls, data: dict[str, Any]) -> RoleLogin:
        raise NotImplementedError

    @classmethod
    def from_snapshot(cls, data: Any) -> RoleLogin:
        """The login a snapshot describes, of its kind. Raises SnapshotError for anything but
        a snapshot this version wrote."""
        try:
            if not isinstance(data, dict) or data.get("version") != SNAPSHOT_VERSION:
                raise ValueError("unknown version")
            kinds = {kind.kind: kind for kind in (WebIdentityLogin, ChainedRoleLogin)}
            kind = kinds[data.get("kind")]
            if cls is not RoleLogin and kind is not cls:
                raise ValueError("another kind of login")
            return kind.from_settings(data)
        except (KeyError, TypeError, ValueError, StepFailed):
            raise SnapshotError("the cache holds no usable login snapshot") from None


class WebIdentityLogin(RoleLogin):
    """One role, one token source, one way of asking STS; resolved, so it needs no config."""

    def __init__(self, *, token: dict[str, Any] | None, audience: str, **settings: Any) -> None:
        super().__init__(**settings)
        self.token = token                      # a token spec (see `token_spec`); None: the default chain
        self.audience = audience

    # -- the login ---------------------------------------------------------------------------

    def token_source(self) -> TokenSource:
        from automations.oidc.sources import token_source_from_spec

        return token_source_from_spec(self.token, self.audience)

    def assume_role(self, env: Mapping[str, str], *, cancelled: threading.Event | None = None,
                    log: Callable[[str], None] = lambda message: None,
                    secret: Callable[[str | None], None] = REDACTOR.add) -> AssumedRole:
        """One attempt: a fresh token, checked, exchanged. Every secret is registered with the
        redactor the moment we hold it."""
        from automations.aws.sts import StsRejected, assume_role_with_web_identity, session_name_for
        from automations.oidc.claims import check_token

        source = self.token_source()
        token = source.fetch(env, cancelled)
        secret(token)
        claims = check_token(token, self.audience)
        request = self.request(self.session_name or session_name_for(claims))
        log(f"token from {source.describe} (sub {claims.get('sub')!r}); assuming {self.role_arn} "
            f"as {request.session_name}")
        try:
            assumed = assume_role_with_web_identity(token, request, self._sts_env(env), cancelled)
        except StsRejected as error:
            if error.code in ("AccessDenied", "IDPRejectedClaim"):
                from automations.aws.trust.generate import trust_troubleshooting_hint

                raise StsRejected(f"{error} -- role {self.role_arn}; the token's claims: "
                                  f"{_json(claims)}; compare them with the role's trust policy "
                                  f"(automations token --task {self.task} --decode), or have "
                                  f"`{trust_troubleshooting_hint(self.task, self.role_arn)}` compare them",
                                  error.code) from None
            raise
        return self.accepted(assumed, secret)

    def attempt(self, env: Mapping[str, str], on_retry: OnRetry | None
                ) -> Callable[[], AssumedRole]:
        return lambda: self.assume_role(env)

    def own_snapshot(self) -> dict[str, Any]:
        return {"token": self.token, "audience": self.audience}

    @classmethod
    def from_settings(cls, data: dict[str, Any]) -> WebIdentityLogin:
        token = data["token"]
        if token is not None:
            _check_token_spec(token)
        return cls(token=token, audience=_typed(data["audience"], str), **cls.shared_settings(data))


class SourceCredentials(NamedTuple):
    """What a chained login starts from: credentials, and the role session they belong to."""
    credentials: AwsCredentials
    assumed_role_arn: str | None = None


class ChainedRoleLogin(RoleLogin):
    """Role chaining: AssumeRole signed with the credentials of another role (an aws-login's,
    or another chained one's). `source` says where the credential process finds them again:
    {"cache": PATH}, the credential-process cache of the step that obtained them (refreshed
    there first, when they are close to expiry), or {"profile": NAME}, whatever botocore
    finds for that profile."""

    kind = "assume-role"

    def __init__(self, *, source: dict[str, str], external_id: str | None = None, **settings: Any) -> None:
        super().__init__(**settings)
        self.source = source
        self.external_id = external_id

    def assume_role(self, env: Mapping[str, str], source: SourceCredentials, *,
                    cancelled: threading.Event | None = None, log: Callable[[str], None] = lambda message: None,
                    secret: Callable[[str | None], None] = REDACTOR.add) -> AssumedRole:
        """One AssumeRole call with `source`'s credentials; the new ones registered as secrets
        at once, their account checked."""
        from automations.aws.sts import assume_role

        secret(source.credentials.secret_access_key)
        secret(source.credentials.session_token)
        request = self.request(self.session_name or chained_session_name(source.assumed_role_arn), self.external_id)
        log(f"assuming {self.role_arn} as {request.session_name}"
            + (f" with the credentials of {source.assumed_role_arn}" if source.assumed_role_arn else ""))
        return self.accepted(assume_role(source.credentials, request, self._sts_env(env), cancelled), secret)

    def attempt(self, env: Mapping[str, str], on_retry: OnRetry | None
                ) -> Callable[[], AssumedRole]:
        source = self.source_credentials(env, on_retry)  # refreshed once, with its own retries
        return lambda: self.assume_role(env, source)

    def source_credentials(self, env: Mapping[str, str],
                           on_retry: OnRetry | None = None
                           ) -> SourceCredentials:
        if "cache" in self.source:
            from automations.files.credentials_file import CredentialCache

            entry = refresh_cached(CredentialCache(Path(self.source["cache"])), env, on_retry)
            return SourceCredentials(AwsCredentials(entry["AccessKeyId"], entry["SecretAccessKey"],
                                                    entry["SessionToken"]), entry.get("AssumedRoleArn") or None)
        return profile_credentials(self.source["profile"])

    def own_snapshot(self) -> dict[str, Any]:
        return {"source": dict(self.source), "externalId": self.external_id}

    @classmethod
    def from_settings(cls, data: dict[str, Any]) -> ChainedRoleLogin:
        source = _typed(data["source"], dict)
        if len(source) != 1 or not isinstance(source.get("cache", source.get("profile")), str):
            raise TypeError("not a credentials source")
        return cls(source=source, external_id=_typed(data["externalId"], str, None), **cls.shared_settings(data))


def chained_session_name(source_arn: str | None, now: float | None = None) -> str:
    """The source session's name (`<environment id>-<unix time>` for an aws-login's), so the
    audit trail of the target account leads back to the environment; `automations-<unix
    time>` when the source is not an assumed role we know."""
    import time

    if source_arn and ":assumed-role/" in source_arn:
        return source_arn.rsplit("/", 1)[-1]
    return f"automations-{int(time.time() if now is None else now)}"


def profile_credentials(profile: str) -> SourceCredentials:
    """The credentials botocore finds for `profile` (static keys, a credential_process, ...)."""
    from botocore.exceptions import BotoCoreError

    from automations.aws.clients import new_botocore_session

    session = new_botocore_session()
    session.set_config_variable("profile", profile)
    try:
        found = session.get_credentials()
        frozen = found.get_frozen_credentials() if found is not None else None
    except BotoCoreError as error:
        raise StepFailed(f"cannot read the credentials of profile {profile!r}: {error}") from None
    if frozen is None or not frozen.access_key:
        raise StepFailed(f"profile {profile!r} has no credentials (log in first)")
    REDACTOR.add(frozen.secret_key)
    REDACTOR.add(frozen.token)
    return SourceCredentials(AwsCredentials(frozen.access_key, frozen.secret_key, frozen.token))


def refresh_cached(cache: CredentialCache, env: Mapping[str, str],
                   on_retry: OnRetry | None = None, *,
                   on_login: Callable[[RoleLogin], None] = lambda login: None) -> dict[str, Any]:
    """The credential process's work: the cached entry, made again from its snapshot when
    its credentials are within the login's `minRemaining` of expiry. Under the cache's lock:
    several SDKs may ask at once, and one refresh serves them all. Raises SnapshotError when
    the cache holds no usable login. `on_login` hears which login the snapshot is, first."""
    with cache.locked():
        entry = cache.read()
        if entry is None:
            raise SnapshotError(f"no login in {cache.path}")
        login = RoleLogin.from_snapshot(entry.get("Refresh"))
        on_login(login)
        REDACTOR.add(entry["SecretAccessKey"])
        REDACTOR.add(entry["SessionToken"])
        if expires_within(entry["Expiration"], login.min_remaining):
            assumed = login.assume_role_with_retries(env, on_retry)
            entry = cache_entry(assumed.credentials, assumed.assumed_role_arn, login)
            cache.write(entry)
    return entry


def expires_within(expiration: str, seconds: float) -> bool:
    """Whether `expiration`, as the cache stores it (2030-01-31T12:00:00Z), is at most
    `seconds` away. Fixed-width UTC stamps compare as text; any other form means refresh."""
    import re
    import time

    from automations.timefmt import UTC_STAMP_PATTERN, utc_stamp

    if not re.fullmatch(UTC_STAMP_PATTERN, expiration):
        return True
    return expiration <= utc_stamp(time.time() + seconds)


def refresh_at(expiration: datetime, min_remaining: int) -> float:
    """When a watcher should make credentials that expire at `expiration` again: `min_remaining`
    seconds before (wall-clock epoch seconds), as a rerun would."""
    return expiration.timestamp() - min_remaining


def _error_class(error: BaseException) -> str | None:
    """THROTTLED, TRANSIENT or None (fatal), as the aws-login step classifies its errors."""
    return getattr(error, "error_class", None) if isinstance(error, TransientError) else None


def _retry_policies(data: dict[str, Any]) -> RetryPolicies:
    policies = {}
    for error_class in (THROTTLED, TRANSIENT):
        settings = _typed(data[error_class], dict)
        for value in settings.values():
            _typed(value, (int, float), None)
        policies[error_class] = RetryPolicy(**settings)
    return RetryPolicies(transient=policies[TRANSIENT], throttled=policies[THROTTLED])


def _check_token_spec(spec: Any) -> None:
    """TypeError unless `spec` is what automations.oidc.sources.token_spec makes."""
    if not isinstance(spec, dict) or len(spec) != (3 if "command" in spec else 1):
        raise TypeError("not a token spec")
    if "command" in spec:
        command = spec["command"]
        if not (isinstance(command, list) and command and all(isinstance(a, str) for a in command)):
            raise TypeError("not a token command")
        _typed(spec["timeout"], (int, float))
        _typed(spec["cwd"], str, None)
    else:
        _typed(spec.get("file", spec.get("env")), str)


def _typed(value: Any, kind: type | tuple[type, ...], *optional: None) -> Any:
    """`value` when it is a `kind` (None too, when `optional` is given); a TypeError else."""
    if (value is None and optional) or (isinstance(value, kind) and not isinstance(value, bool)):
        return value
    raise TypeError("a snapshot field has the wrong type")


# -- the cache entry ---------------------------------------------------------------------------

def cache_entry(credentials: AwsCredentials, assumed_role_arn: str, login: RoleLogin) -> dict[str, Any]:
    """What the cache holds: the credential_process answer, the role it is for, and the
    snapshot a refresh is made from."""
    from automations.timefmt import utc_stamp

    assert credentials.expiration is not None
    return {"Version": 1, "AccessKeyId": credentials.access_key_id, "SecretAccessKey": credentials.secret_access_key,
            "SessionToken": credentials.session_token, "Expiration": utc_stamp(credentials.expiration),
            "RoleArn": login.role_arn, "AssumedRoleArn": assumed_role_arn,
            "Written": utc_stamp(),
            "Refresh": login.snapshot()}


def _json(value: Any) -> str:
    import json  # imported here: validating a config must stay fast

    return json.dumps(value, sort_keys=True)


# -- where a login's credentials go --------------------------------------------------------------

def credential_variables(credentials: AwsCredentials, region: str | None) -> dict[str, str]:
    """The credentials as the variables every AWS SDK and the CLI read first: what `exec` gives
    COMMAND, and what `envFile` holds."""
    values = {"AWS_ACCESS_KEY_ID": credentials.access_key_id, "AWS_SECRET_ACCESS_KEY": credentials.secret_access_key,
              "AWS_SESSION_TOKEN": credentials.session_token or ""}
    if region:
        values.update(AWS_REGION=region, AWS_DEFAULT_REGION=region)
    return values


class AwsProfileFile:
    """A profile of the shared AWS files as the `VariableFile` (automations.engine.variables)
    that keeps a login's credentials: `run` writes it (static keys in the credentials file, or
    a `credential_process` line in the config after `before_write` filled its cache); `exec`
    gives COMMAND the variables instead, or with `--profile-files` writes it and gives
    COMMAND AWS_PROFILE, so that a process profile refreshes for a long-running COMMAND.

    `kept`: the profile already holds these credentials (a skipped rerun): nothing to write."""

    kind = "aws-profile"

    def __init__(self, files: SharedAwsFiles, profile: str, credentials: Mapping[str, str | None] | None = None,
                 config: Mapping[str, str | None] | None = None, *, before_write: Callable[[], None] | None = None,
                 kept: bool = False) -> None:
        self.files = files
        self.profile = profile
        self.credentials = credentials or {}
        self.config = config or {}
        self.before_write = before_write
        self.kept = kept

    @property
    def name(self) -> str:
        return f"profile {self.profile!r}"

    @property
    def points_to(self) -> Mapping[str, str]:
        return {"AWS_PROFILE": self.profile}

    def check(self) -> None:
        # A credentials file others can read is made private even when nothing is written.
        self.files.make_credentials_private()

    def write(self, values: Mapping[str, str]) -> bool:
        """The profile in its own form (the keys given at construction, which hold `values`)."""
        if self.kept:
            return False
        if self.before_write is not None:
            self.before_write()
        self.files.update(self.profile, self.credentials, self.config)
        return True
