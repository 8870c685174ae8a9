"""AWS clients, written once: the sessions a run has obtained, client settings (timeouts, a
single botocore attempt per call so our retries do not multiply with botocore's), which AWS
errors are worth another attempt (throttled or transient; the AWS steps' default retries are
in automations.aws.declarations), and two promises every call of every client made here keeps:

- an answer is checked before botocore parses it: an HTML page, a cut-off body or one that
  is not the protocol's JSON or XML raises `AwsAnswerError`, whose message describes the
  answer and never quotes it (the body may hold a new SecretAccessKey);
- a call is bounded: besides botocore's connect and read timeouts (the read timeout is per
  socket read, so an endpoint sending one byte a second defeats it), an overall deadline,
  and the step's cancellation ends a blocked call at once (`BoundedClient`).

boto3 and botocore are imported inside functions only: listing or validating tasks must not
pay for them.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

# AWS_RETRY lives in automations.aws.declarations (light: step modules import it when a
# configuration loads). Nothing of ours imports it from here; kept on purpose: a plugin's AWS
# step may take the built-ins' retries from where the AWS clients are (`retry_policy = AWS_RETRY`).
from automations.aws.declarations import AWS_RETRY as AWS_RETRY
from automations.errors import Cancelled, StepFailed, TransientError
from automations.retry import THROTTLED, TRANSIENT

if TYPE_CHECKING:
    from datetime import datetime

    from automations.api import StepContext

T = TypeVar("T")

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 15.0
# Seconds; for slow links, and for tests of a response slower than the read timeout.
READ_TIMEOUT_VARIABLE = "AUTOMATIONS_AWS_READ_TIMEOUT"
# Seconds one call may take in all, answer included (default: the connect timeout plus twice
# the read timeout, 35 s); for slow links, and for tests of an endpoint that drips.
CALL_DEADLINE_VARIABLE = "AUTOMATIONS_AWS_CALL_DEADLINE"
# How often a waiting call looks at its step's cancellation: "at once" for a person.
CANCEL_POLL_SECONDS = 0.05

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
    return _seconds_from(READ_TIMEOUT_VARIABLE, READ_TIMEOUT)


def call_deadline() -> float:
    return _seconds_from(CALL_DEADLINE_VARIABLE, CONNECT_TIMEOUT + 2 * _read_timeout())


def _seconds_from(variable: str, default: float) -> float:
    try:
        return max(0.1, float(os.environ.get(variable) or default))
    except ValueError:
        return default


def resolve_region(env: Mapping[str, str], explicit: str | None = None, profile: str | None = None,
                   profile_region: str | None = None) -> str | None:
    """The region of every AWS call we make, in the order the AWS CLI v2 and the AWS SDKs use
    (botocore itself reads only AWS_DEFAULT_REGION; aws-login always read AWS_REGION first):
    the step's `region:`, then $AWS_REGION, then $AWS_DEFAULT_REGION (from the step's
    environment), then the profile's region: the one aws-login obtained in this run
    (`profile_region`), else `region` of the profile (`profile`, else $AWS_PROFILE, else
    `default`) in the AWS config file. None when nothing names one."""
    for value in (explicit, env.get("AWS_REGION"), env.get("AWS_DEFAULT_REGION"), profile_region):
        if value and value.strip():
            return value.strip()
    return _configured_region(env, profile or env.get("AWS_PROFILE") or "default")


def _configured_region(env: Mapping[str, str], profile: str) -> str | None:
    from botocore.configloader import load_config
    from botocore.exceptions import BotoCoreError

    path = os.path.expanduser(env.get("AWS_CONFIG_FILE") or os.path.join("~", ".aws", "config"))
    if not os.path.isfile(path):  # missing, or a FIFO/device that a read would block on
        return None
    try:
        region = load_config(path).get("profiles", {}).get(profile, {}).get("region")
    except (BotoCoreError, OSError, ValueError):  # no file, or one botocore cannot parse: no region from it
        return None
    return region.strip() if isinstance(region, str) and region.strip() else None


def error_code(error: BaseException) -> str | None:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return code if isinstance(code, str) else None
    return None


def http_status(error: BaseException) -> int | None:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return status if isinstance(status, int) else None
    return None


def aws_error_class(error: BaseException) -> str | None:
    """THROTTLED (throttling codes, HTTP 429), TRANSIENT (5xx, dropped connections, timeouts;
    also our own transient errors, such as an answer cut off or too slow: `bounded_call`)
    or None: fatal, another attempt cannot help."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError, ReadTimeoutError

    if isinstance(error, TransientError):
        return error.error_class
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


# -- answers are checked before they are believed ----------------------------------------------

class AwsAnswerError(StepFailed):
    """An AWS answer that cannot be believed: not the protocol's JSON or XML, cut off, or not
    complete within the call's deadline. The message describes the answer; it never quotes
    it, since the body may hold the very secrets the call was for."""


class TransientAwsAnswerError(AwsAnswerError, TransientError):
    """...worth another attempt: the status was 5xx, or the body an HTML page (a proxy, a
    captive portal) or cut off, or it came too slowly."""


def answer_error(message: str, transient: bool) -> AwsAnswerError:
    return (TransientAwsAnswerError if transient else AwsAnswerError)(message)


def answer_problem(body: bytes, content_type: str, content_length: str | None,
                   protocol: str) -> tuple[str, bool] | None:
    """What is wrong with an answer's body for `protocol` (botocore's name: json, query,
    rest-xml...), and whether it looks cut off or like an HTML page; None if it parses.
    An empty body is left to botocore (an error status) and to the caller's checks."""
    if content_length and content_length.isdigit() and len(body) < int(content_length):
        return f"was cut off ({len(body)} of {content_length} bytes)", True
    text = body.strip()
    if not text:
        return None
    start = text[:15].lower()
    if start.startswith((b"<!doctype html", b"<html")) or ("html" in content_type.lower() and start[:1] == b"<"):
        return "is an HTML page, not AWS's answer (a proxy or a captive portal?)", True
    if protocol in ("json", "rest-json"):
        import json

        try:
            document = json.loads(text)
        except ValueError as error:  # JSONDecodeError, or UnicodeDecodeError (a character cut in two)
            began = text.startswith((b"{", b"["))
            position = getattr(error, "pos", 0)
            at_end = position >= len(getattr(error, "doc", "")) - 1
            cut = began and (not text.endswith((b"}", b"]")) or at_end)
            return ("was cut off (the JSON document does not end)", True) if cut else ("is not JSON", False)
        return None if isinstance(document, dict) else ("is JSON but not an object", False)
    if protocol in ("query", "rest-xml", "ec2"):
        from xml.etree.ElementTree import ParseError, XMLParser
        from xml.parsers.expat import errors

        parser = XMLParser()
        try:
            parser.feed(text)
            parser.close()
        except ParseError as error:
            ends_early = {errors.codes[errors.XML_ERROR_NO_ELEMENTS], errors.codes[errors.XML_ERROR_UNCLOSED_TOKEN],
                          errors.codes[errors.XML_ERROR_PARTIAL_CHAR]}
            cut = text.startswith(b"<") and (not text.endswith(b">") or error.code in ends_early)
            return ("was cut off (the XML document does not end)", True) if cut else ("is not well-formed XML", False)
    return None


def _check_answer(response_dict: dict[str, Any], operation_model: Any, **_: Any) -> None:
    """botocore's `before-parse` hook: refuse an answer botocore would misread as an empty
    one (its JSON parser takes any text as `{"message": text}`) or quote in a parse error."""
    body = response_dict.get("body")
    if operation_model.has_streaming_output or not isinstance(body, bytes):
        return
    headers = response_dict.get("headers") or {}
    service_model = operation_model.service_model
    protocol = getattr(service_model, "resolved_protocol", None) or service_model.protocol
    status = int(response_dict.get("status_code") or 0)
    if 200 <= status < 300 and not body.strip():
        raise TransientAwsAnswerError(f"{operation_model.name}: the answer (HTTP {status}) was empty")
    problem = answer_problem(body, headers.get("content-type") or "", headers.get("content-length"), protocol)
    if problem is not None:
        what, cut_or_html = problem
        raise answer_error(f"{operation_model.name}: the answer (HTTP {status}, {len(body)} bytes) {what}",
                           cut_or_html or status >= 500)


# -- calls are bounded -------------------------------------------------------------------------

_CURRENT_CALL = threading.local()  # .connections: the HTTP connections the call in this thread used


def bounded_call(call: Callable[[], T], what: str, *, cancelled: threading.Event | None = None,
                 deadline: float | None = None) -> T:
    """`call()` in a thread of its own, waited for until it ends, its deadline passes or
    `cancelled` is set. Then it is abandoned: the connections it used are shut down, which
    ends a read blocked in them, and the caller gets `TransientAwsAnswerError` (too slow)
    or `Cancelled` at once. botocore's parse errors quote the body: replaced here."""
    from botocore.parsers import ResponseParserError

    deadline = call_deadline() if deadline is None else deadline
    connections: list[Any] = []
    returned: list[T] = []
    raised: list[BaseException] = []
    done = threading.Event()

    def work() -> None:
        _CURRENT_CALL.connections = connections
        try:
            returned.append(call())
        except BaseException as error:  # handed to the caller, who raises it
            raised.append(error)
        finally:
            done.set()

    threading.Thread(target=work, name=f"aws {what}", daemon=True).start()
    ends = time.monotonic() + deadline
    while not done.wait(max(0.0, min(CANCEL_POLL_SECONDS, ends - time.monotonic()))):
        if cancelled is not None and cancelled.is_set():
            _shut_down(connections)
            raise Cancelled("cancelled")
        if time.monotonic() >= ends:
            _shut_down(connections)
            raise TransientAwsAnswerError(f"{what}: no complete answer within {deadline:g}s")
    if returned:
        return returned[0]
    if isinstance(raised[0], ResponseParserError):
        raise TransientAwsAnswerError(f"{what}: the answer could not be parsed") from None
    raise raised[0]


def _shut_down(connections: list[Any]) -> None:
    import socket  # here, not at the top: `list` and `validate` import this module and need no sockets

    for connection in list(connections):
        sock = getattr(connection, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed


_POOL_CLASSES: dict[str, type[Any]] | None = None


def _tracking_pool_classes() -> dict[str, type[Any]]:
    """botocore's connection pools, with connections that tell the call in their thread
    that they carry its request (so an abandoned call's connection can be shut down)."""
    global _POOL_CLASSES
    if _POOL_CLASSES is None:
        from botocore.awsrequest import (
            AWSHTTPConnection,
            AWSHTTPConnectionPool,
            AWSHTTPSConnection,
            AWSHTTPSConnectionPool,
        )

        def tracking(connection_class: type[Any]) -> type[Any]:
            def request(self: Any, *args: Any, **kwargs: Any) -> Any:
                connections = getattr(_CURRENT_CALL, "connections", None)
                if connections is not None:
                    connections.append(self)
                return connection_class.request(self, *args, **kwargs)
            return type(f"Tracked{connection_class.__name__}", (connection_class,), {"request": request})

        _POOL_CLASSES = {
            "http": type("TrackedHTTPConnectionPool", (AWSHTTPConnectionPool,),
                         {"ConnectionCls": tracking(AWSHTTPConnection)}),
            "https": type("TrackedHTTPSConnectionPool", (AWSHTTPSConnectionPool,),
                          {"ConnectionCls": tracking(AWSHTTPSConnection)}),
        }
    return _POOL_CLASSES


class BoundedClient:
    """A botocore client whose every operation is a `bounded_call` (deadline, cancellation)
    and whose every answer is checked before it is parsed. Anything else (`meta`,
    `exceptions`, ...) is the client's own."""

    def __init__(self, client: Any, cancelled: threading.Event | None = None) -> None:
        client.meta.events.register("before-parse", _check_answer, unique_id="automations-check-answer")
        pools = getattr(getattr(getattr(client, "_endpoint", None), "http_session", None),
                        "_pool_classes_by_scheme", None)
        if isinstance(pools, dict):  # botocore's own dict, shared with its pool managers
            pools.update(_tracking_pool_classes())
        self._client = client
        self._cancelled = cancelled
        self._operations = client.meta.method_to_api_mapping

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name not in self._operations:
            return attribute
        what = self._operations[name]

        def operation(*args: Any, **kwargs: Any) -> Any:
            return bounded_call(lambda: attribute(*args, **kwargs), what, cancelled=self._cancelled)
        return operation


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


def create_client(service: str, env: Mapping[str, str] | None = None, *, cancelled: threading.Event | None = None,
                  **kwargs: Any) -> BoundedClient:
    """A client from the plain session, its calls bounded and ended by `cancelled`.
    Serialised: creating clients from one botocore session in several threads at once is
    not safe, and tasks run concurrently."""
    session = plain_botocore_session(env)
    with _CLIENT_LOCK:
        return BoundedClient(session.create_client(service, **kwargs), cancelled)


def aws_sessions(ctx: StepContext) -> AwsSessions:
    """The AWS sessions of the step's run: what its aws-login steps obtained, in memory."""
    return ctx.shared(AwsSessions)


class RememberedCredentials(NamedTuple):
    """Credentials a step of this run obtained for a profile, and what came with them."""
    profile: str
    credentials: AwsCredentials
    region: str | None
    task: str | None = None                 # the task of the step that obtained them
    assumed_role_arn: str | None = None
    cache: Path | None = None               # its credential-process cache (`credentials: process`)
    chained: bool = False                   # obtained by role chaining (aws-assume-role)


class AwsSessions:
    """The AWS sessions of one run. The aws-login step `remember`s the credentials it got;
    later AWS steps in the same run ask for `session()` and use them from memory, without
    reading the files back."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._credentials: dict[str, RememberedCredentials] = {}
        self._last_profile: str | None = None
        self._sessions: dict[tuple[str | None, str | None], Any] = {}

    def remember(self, profile: str, credentials: AwsCredentials, region: str | None, *, task: str | None = None,
                 assumed_role_arn: str | None = None, cache: Path | None = None, chained: bool = False) -> None:
        with self._lock:
            # The default of later steps: the profile a login (not a chained role) wrote last.
            # Renewing a profile (`automations watch`) does not make it the default again, nor
            # move it in the order `source_for` reads.
            if profile not in self._credentials and not chained:
                self._last_profile = profile
            self._credentials[profile] = RememberedCredentials(profile, credentials, region, task, assumed_role_arn,
                                                               cache, chained)
            self._sessions = {k: v for k, v in self._sessions.items() if k[0] != profile}

    def remembered(self, profile: str) -> RememberedCredentials | None:
        with self._lock:
            return self._credentials.get(profile)

    def source_for(self, task: str) -> RememberedCredentials:
        """What a chained step of `task` starts from when it names no source: the credentials
        of this run's aws-login (the one of `task` itself, if it has one), else those of the
        last aws-assume-role before it in `task`. Several logins in other tasks: ambiguous."""
        with self._lock:
            found = list(self._credentials.values())
        own_login = [r for r in found if r.task == task and not r.chained]
        if own_login:
            return own_login[-1]
        logins = [r for r in found if not r.chained]
        if len({r.profile for r in logins}) > 1:
            names = ", ".join(sorted(repr(r.profile) for r in logins))
            raise StepFailed(f"several aws-login steps of this run wrote profiles ({names}): "
                             "name the one to start from with `sourceProfile`")
        own_chained = [r for r in found if r.task == task]
        for candidates in (logins, own_chained):
            if candidates:
                return candidates[-1]
        raise StepFailed("no credentials to start from: no aws-login (or aws-assume-role) step ran before this one "
                         "in this run; make this task depend on the login task (`dependsOn`) or set `sourceProfile`")

    def _remembered(self, profile: str | None) -> tuple[str | None, tuple[AwsCredentials, str | None] | None]:
        """The profile meant (by default the most recent aws-login's) and what this run
        obtained for it, if anything."""
        profile = profile or self._last_profile
        found = self._credentials.get(profile) if profile else None
        return profile, ((found.credentials, found.region) if found else None)

    def session(self, profile: str | None = None, region: str | None = None, *,
                env: Mapping[str, str] | None = None) -> Any:
        """A boto3 session: the credentials this run obtained for `profile` (by default the
        most recent aws-login's), else boto3's own chain for that profile. The region as
        `resolve_region` finds it, from `env` (default: the process environment)."""
        import boto3

        profile, remembered = self._remembered(profile)
        region = resolve_region(os.environ if env is None else env, region, profile,
                                remembered[1] if remembered else None)
        with self._lock:
            key = (profile, region)
            if key in self._sessions:
                return self._sessions[key]
            if remembered:
                creds = remembered[0]
                session = boto3.Session(
                    botocore_session=new_botocore_session(),
                    aws_access_key_id=creds.access_key_id,
                    aws_secret_access_key=creds.secret_access_key,
                    aws_session_token=creds.session_token,
                    region_name=region,
                )
            else:
                session = boto3.Session(botocore_session=new_botocore_session(), profile_name=profile,
                                        region_name=region)
            self._sessions[key] = session
            return session

    def client(self, service: str, profile: str | None = None, region: str | None = None, *,
               env: Mapping[str, str] | None = None, cancelled: threading.Event | None = None,
               **config: Any) -> BoundedClient:
        """A client with the credentials this run obtained for `profile` (by default the most
        recent aws-login's), else the profile's own chain; in the region `resolve_region`
        finds from `env` (default: the process environment). Built on botocore directly: boto3
        would add its import and a session of its own to every run (bench/, issue 4's goal).
        botocore honours AWS_ENDPOINT_URL (and AWS_ENDPOINT_URL_<SERVICE>) on its own.
        Its calls are bounded, and `cancelled` (the step's) ends them at once."""
        profile, remembered = self._remembered(profile)
        region = resolve_region(os.environ if env is None else env, region, profile,
                                remembered[1] if remembered else None)
        settings = client_config(**config)
        if remembered:
            creds = remembered[0]
            return create_client(service, region_name=region, config=settings,
                                 aws_access_key_id=creds.access_key_id, aws_secret_access_key=creds.secret_access_key,
                                 aws_session_token=creds.session_token, cancelled=cancelled)
        if profile is None:
            return create_client(service, region_name=region, config=settings, cancelled=cancelled)
        session = new_botocore_session()
        session.set_config_variable("profile", profile)
        return BoundedClient(session.create_client(service, region_name=region, config=settings), cancelled)
