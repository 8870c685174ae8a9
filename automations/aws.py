"""AWS clients, written once: the sessions a run has obtained, client settings (timeouts, a
single botocore attempt per call so our retries do not multiply with botocore's), which AWS
errors are worth another attempt (throttled or transient), and the AWS steps' default retries.

boto3 and botocore are imported inside functions only: listing or validating tasks must not
pay for them.
"""
from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any, Mapping, NamedTuple

from automations.retry import THROTTLED, TRANSIENT, RetryPolicies, RetryPolicy

if TYPE_CHECKING:
    from datetime import datetime

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 15.0
# Seconds; for slow links, and for tests of a response slower than the read timeout.
READ_TIMEOUT_VARIABLE = "AUTOMATIONS_AWS_READ_TIMEOUT"

# A shared quota said no: spread out (botocore's list of throttling codes, standard mode).
THROTTLING_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestLimitExceeded",
    "TooManyRequestsException", "RequestThrottled", "RequestThrottledException",
    "ProvisionedThroughputExceededException", "SlowDown", "PriorRequestNotComplete",
    "BandwidthLimitExceeded", "EC2ThrottledException",
})
# The service had a moment: try again soon (with any 5xx and any dropped connection).
TRANSIENT_CODES = frozenset({
    "InternalFailure", "InternalError", "InternalServerError", "InternalServiceError",
    "ServiceUnavailable", "ServiceUnavailableException", "RequestTimeout",
    "RequestTimeoutException", "IDPCommunicationError",
})

# The default retries of the AWS steps (aws-login, secrets-manager, ssm-parameters), chosen by
# measurement (issue 16; bench/fleet.py, BENCHMARKS.md "Fleet and lone environment"). One
# budget for both classes (12 attempts, 300 s), so a 5xx met late in a throttled herd does
# not end the login; the wait is what fits the error:
# - transient: a lone environment whose first attempt meets a hiccup is logged in about a
#   second later (the first wait is uniform in [0, 0.5 s]); twelve attempts reach ~60 s, for
#   a token source that takes a while at environment start;
# - throttled: a fleet booting together spreads over the quota. In the exact-herd model,
#   3 000 environments against 50 requests/s all succeed, 3.6 calls each, p90 1.06x the
#   60 s floor; 10 000 need 5.3 calls each (what keeps them under 4: BENCHMARKS.md).
AWS_RETRY = RetryPolicies(
    transient=RetryPolicy(attempts=12, initial_delay=0.5, max_delay=15.0, deadline=300.0),
    throttled=RetryPolicy(attempts=12, initial_delay=10.0, max_delay=120.0, deadline=300.0),
)


class AwsCredentials(NamedTuple):
    access_key_id: str
    secret_access_key: str
    session_token: str | None
    expiration: datetime | None = None


def client_config(**overrides: Any) -> Any:
    from botocore.config import Config

    settings: dict[str, Any] = {
        "connect_timeout": CONNECT_TIMEOUT,
        "read_timeout": _read_timeout(),
        "retries": {"total_max_attempts": 1, "mode": "standard"},
    }
    settings.update(overrides)
    return Config(**settings)


def _read_timeout() -> float:
    try:
        return max(0.1, float(os.environ.get(READ_TIMEOUT_VARIABLE) or READ_TIMEOUT))
    except ValueError:
        return READ_TIMEOUT


def error_code(error: BaseException) -> str | None:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Code")
    return None


def http_status(error: BaseException) -> int | None:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return None


def aws_error_class(error: BaseException) -> str | None:
    """THROTTLED (throttling codes, HTTP 429), TRANSIENT (5xx, dropped connections, timeouts)
    or None: fatal, another attempt cannot help."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError, ReadTimeoutError

    if isinstance(error, (ConnectionError, HTTPClientError, ReadTimeoutError)):
        return TRANSIENT
    if isinstance(error, ClientError):
        return code_class(error_code(error), http_status(error))
    return None


def code_class(code: str | None, status: int | None = None) -> str | None:
    """The class of an AWS error code (and HTTP status, if known)."""
    if code in THROTTLING_CODES or status == 429:
        return THROTTLED
    if code in TRANSIENT_CODES or (status or 0) >= 500:
        return TRANSIENT
    return None


def is_transient_aws_error(error: BaseException) -> bool:
    """Throttling, 5xx, dropped connections and timeouts: worth another attempt."""
    return aws_error_class(error) is not None


_SHARED_LOADER: Any = None
_SHARED_LOADER_LOCK = threading.Lock()


def new_botocore_session(ignore_profile: str | None = None) -> Any:
    """A fresh botocore session that shares this process's data loader: each session would
    otherwise parse botocore's JSON data again (endpoints, partitions, defaults, service
    models), about 150 ms for the second AWS step of a run. Credentials stay per session."""
    import botocore.session

    global _SHARED_LOADER
    session = botocore.session.get_session()
    if ignore_profile and ignore_profile not in session.available_profiles:
        # Before any component exists: they read the profile setting when first made.
        session.session_var_map["profile"] = (None, None, None, None)
    with _SHARED_LOADER_LOCK:
        if _SHARED_LOADER is None:
            _SHARED_LOADER = session.get_component("data_loader")
        else:
            session.register_component("data_loader", _SHARED_LOADER)
    return session


_PLAIN_SESSIONS: dict[str | None, Any] = {}
_CLIENT_LOCK = threading.Lock()


def plain_botocore_session(env: Mapping[str, str] | None = None) -> Any:
    """The botocore session of this process for clients given their credentials (or none:
    the unsigned STS call), shared so service models and endpoints are loaded once.

    $AWS_PROFILE may name the very profile aws-login is about to create: that must not stop
    us, so when it names no existing profile this session ignores it."""
    profile = (env or {}).get("AWS_PROFILE") or os.environ.get("AWS_PROFILE") or None
    with _CLIENT_LOCK:
        session = _PLAIN_SESSIONS.get(profile)
        if session is None:
            session = new_botocore_session(ignore_profile=profile)
            _PLAIN_SESSIONS[profile] = session
        return session


def create_client(service: str, env: Mapping[str, str] | None = None, **kwargs: Any) -> Any:
    """A client from the plain session. Serialised: creating clients from one botocore
    session in several threads at once is not safe, and tasks run concurrently."""
    session = plain_botocore_session(env)
    with _CLIENT_LOCK:
        return session.create_client(service, **kwargs)


class AwsSessions:
    """The AWS sessions of one run. The aws-login step `remember`s the credentials it got;
    later AWS steps in the same run ask for `session()` and use them from memory, without
    reading the files back."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._credentials: dict[str, tuple[AwsCredentials, str | None]] = {}
        self._last_profile: str | None = None
        self._sessions: dict[tuple[str | None, str | None], Any] = {}

    def remember(self, profile: str, credentials: AwsCredentials, region: str | None) -> None:
        with self._lock:
            self._credentials[profile] = (credentials, region)
            self._last_profile = profile
            self._sessions = {k: v for k, v in self._sessions.items() if k[0] != profile}

    def _remembered(self, profile: str | None) -> tuple[str | None, tuple[AwsCredentials, str | None] | None]:
        """The profile meant (by default the most recent aws-login's) and what this run
        obtained for it, if anything."""
        profile = profile or self._last_profile
        return profile, (self._credentials.get(profile) if profile else None)

    def session(self, profile: str | None = None, region: str | None = None) -> Any:
        """A boto3 session: the credentials this run obtained for `profile` (by default the
        most recent aws-login's), else boto3's own chain for that profile."""
        import boto3

        profile, remembered = self._remembered(profile)
        with self._lock:
            key = (profile, region)
            if key in self._sessions:
                return self._sessions[key]
            if remembered:
                creds, remembered_region = remembered
                session = boto3.Session(
                    botocore_session=new_botocore_session(),
                    aws_access_key_id=creds.access_key_id,
                    aws_secret_access_key=creds.secret_access_key,
                    aws_session_token=creds.session_token,
                    region_name=region or remembered_region,
                )
            else:
                session = boto3.Session(botocore_session=new_botocore_session(), profile_name=profile,
                                        region_name=region)
            self._sessions[key] = session
            return session

    def client(self, service: str, profile: str | None = None, region: str | None = None, **config: Any) -> Any:
        """A client with the credentials this run obtained for `profile` (by default the most
        recent aws-login's), else the profile's own chain. Built on botocore directly: boto3
        would add its import and a session of its own to every run (bench/, issue 4's goal).
        botocore honours AWS_ENDPOINT_URL (and AWS_ENDPOINT_URL_<SERVICE>) on its own."""
        profile, remembered = self._remembered(profile)
        settings = client_config(**config)
        if remembered:
            creds, remembered_region = remembered
            return create_client(service, region_name=region or remembered_region, config=settings,
                                 aws_access_key_id=creds.access_key_id, aws_secret_access_key=creds.secret_access_key,
                                 aws_session_token=creds.session_token)
        if profile is None:
            return create_client(service, region_name=region, config=settings)
        session = new_botocore_session()
        session.set_config_variable("profile", profile)
        return session.create_client(service, region_name=region, config=settings)
