"""AssumeRoleWithWebIdentity, written once for the aws-login step and `automations aws
credential-process`: an unsigned STS client (the call needs no AWS credentials, so it works
on a machine that has none), one botocore attempt per call (our retries are the only ones),
and every error classified as throttled (spread out), transient (retry soon, with a fresh
token) or fatal (stop now).

botocore is imported inside functions: importing this module costs nothing.
"""
from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from datetime import datetime

# json and datetime are imported where used: `automations validate` imports this module
# for its patterns and must stay fast.

from automations.aws.clients import AwsAnswerError, AwsCredentials, client_config, code_class, error_code, http_status
from automations.errors import StepFailed, ThrottledError, TransientError
from automations.retry import THROTTLED
from automations.timefmt import parse_utc

# What AWS documents as worth another attempt soon, with a fresh token each time. Throttling
# (automations.aws.clients.THROTTLING_CODES, HTTP 429) is worth one too, after spreading out.
TRANSIENT_CODES = frozenset({
    "IDPCommunicationError",   # the IdP did not answer STS in time
    "InvalidIdentityToken",    # incl. "Couldn't retrieve verification key": the IdP was unreachable
    "ExpiredTokenException",   # a new token fixes it
})
# Named here so the messages can say why retrying would not help; anything else is fatal too.
FATAL_HINTS = {
    "AccessDenied": "the role's trust policy rejected this token",
    "IDPRejectedClaim": "the role's trust policy rejected a claim of this token",
    "ValidationError": "STS refused the request's parameters",
    "MalformedPolicyDocument": "the session policy is not a valid policy document",
    "PackedPolicyTooLarge": "the session policy (with policyArns) is too large",
    "RegionDisabledException": "STS is not activated in this region for the account",
}
# The same codes from AssumeRole (role chaining) have other causes: the source credentials.
CHAINED_FATAL_HINTS = {
    **FATAL_HINTS,
    "AccessDenied": "the source role may not assume this role (the source needs sts:AssumeRole on it, "
                    "and its trust policy must name the source role, with the externalId if one is set; "
                    "`automations aws setup --chain-to` prints both)",
    "ExpiredToken": "the source credentials have expired (log in again)",
    "InvalidClientTokenId": "the source credentials are not valid (log in again)",
    "ValidationError": "STS refused the request's parameters (a chained session lasts at most 3600 s)",
}


class StsTransientError(TransientError):
    """STS or the network failed in a way another attempt may not."""


class StsThrottled(StsTransientError, ThrottledError):
    """STS's quota (shared by every environment of the account) said no."""


class StsRejected(StepFailed):
    """STS said no for a reason that another attempt cannot change."""

    def __init__(self, message: str, code: str | None) -> None:
        super().__init__(message)
        self.code = code


class AssumeRoleRequest(NamedTuple):
    role_arn: str
    session_name: str
    duration_seconds: int = 3600
    region: str | None = None
    policy: Mapping[str, Any] | None = None
    policy_arns: tuple[str, ...] = ()
    external_id: str | None = None      # AssumeRole only: what the target's trust policy may require


class AssumedRole(NamedTuple):
    credentials: AwsCredentials
    assumed_role_arn: str
    account_id: str

    @property
    def expiration(self) -> datetime:
        assert self.credentials.expiration is not None
        return self.credentials.expiration


def assume_role_with_web_identity(token: str, request: AssumeRoleRequest, env: Mapping[str, str],
                                  cancelled: threading.Event | None = None) -> AssumedRole:
    """One call to STS, bounded, ended at once by `cancelled`. Raises StsTransientError,
    StsRejected, an AwsAnswerError (an answer that cannot be believed) or Cancelled, never
    a botocore error."""
    client = sts_client(request.region, env, cancelled)
    # The token in the request body: never on any process's argv.
    return _call(client, "AssumeRoleWithWebIdentity", FATAL_HINTS,
                 {**_request_params(request), "WebIdentityToken": token})


def assume_role(source: AwsCredentials, request: AssumeRoleRequest, env: Mapping[str, str],
                cancelled: threading.Event | None = None) -> AssumedRole:
    """Role chaining: one AssumeRole call signed with `source` (the credentials of another
    assumed role), bounded and classified as `assume_role_with_web_identity` is."""
    client = sts_client(request.region, env, cancelled, signed_by=source)
    params = _request_params(request)
    if request.external_id:
        params["ExternalId"] = request.external_id
    return _call(client, "AssumeRole", CHAINED_FATAL_HINTS, params)


def _request_params(request: AssumeRoleRequest) -> dict[str, Any]:
    params: dict[str, Any] = {
        "RoleArn": request.role_arn,
        "RoleSessionName": request.session_name,
        "DurationSeconds": request.duration_seconds,
    }
    if request.policy:
        import json

        params["Policy"] = json.dumps(request.policy, separators=(",", ":"))
    if request.policy_arns:
        params["PolicyArns"] = [{"arn": arn} for arn in request.policy_arns]
    return params


def _call(client: Any, operation: str, hints: Mapping[str, str], params: dict[str, Any]) -> AssumedRole:
    from botocore.exceptions import BotoCoreError, ClientError

    method = client.assume_role if operation == "AssumeRole" else client.assume_role_with_web_identity
    try:
        response = method(**params)
    except (ClientError, BotoCoreError) as error:
        raise classify(error, hints) from None
    except AwsAnswerError as error:
        raise type(error)(f"STS {error}") from None
    return _assumed_role(response, operation)


def sts_endpoint(env: Mapping[str, str]) -> str | None:
    """$AWS_ENDPOINT_URL_STS, else $AWS_ENDPOINT_URL, from `env` (the task's environment, which
    botocore alone would not see); None: botocore's regional endpoint."""
    return env.get("AWS_ENDPOINT_URL_STS") or env.get("AWS_ENDPOINT_URL") or None


def sts_client(region: str | None, env: Mapping[str, str], cancelled: threading.Event | None = None, *,
               signed_by: AwsCredentials | None = None) -> Any:
    """An STS client, bounded and cancellable: unsigned (AssumeRoleWithWebIdentity needs no
    AWS credentials, so it works on a machine that has none), or signed by `signed_by` (role
    chaining, a check of new credentials). Regional endpoint when the region is known
    (botocore's default), or `sts_endpoint(env)`."""
    from automations.aws.clients import create_client

    signing: dict[str, Any]
    if signed_by is None:
        from botocore import UNSIGNED

        signing = {"config": client_config(signature_version=UNSIGNED)}
    else:
        signing = {"config": client_config(), "aws_access_key_id": signed_by.access_key_id,
                   "aws_secret_access_key": signed_by.secret_access_key,
                   "aws_session_token": signed_by.session_token}
    return create_client("sts", env, region_name=region or "us-east-1", endpoint_url=sts_endpoint(env),
                         cancelled=cancelled, **signing)


def classify(error: BaseException, hints: Mapping[str, str] = FATAL_HINTS) -> StepFailed:
    """Turn a botocore error into our transient or fatal error, with a clear message."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError, ReadTimeoutError

    if isinstance(error, ClientError):
        code = error_code(error) or "Unknown"
        status = http_status(error) or 0
        message = error.response.get("Error", {}).get("Message") or ""
        text = f"STS {code}" + (f" (HTTP {status})" if status else "") + (f": {message}" if message else "")
        error_class = code_class(code, status)
        if error_class == THROTTLED:
            return StsThrottled(text)
        if error_class or code in TRANSIENT_CODES:
            return StsTransientError(text)
        hint = hints.get(code)
        return StsRejected(f"{hint}: {text}" if hint else text, code)
    if isinstance(error, (ConnectionError, HTTPClientError, ReadTimeoutError)):
        return StsTransientError(f"cannot reach STS: {error}")
    return StsRejected(f"STS call failed: {type(error).__name__}: {error}", None)


CREDENTIAL_FIELDS = ("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration")


def _assumed_role(response: Mapping[str, Any], operation: str = "AssumeRoleWithWebIdentity") -> AssumedRole:
    """The credentials in STS's answer, checked: an answer without them, or without one of
    their fields, is an error (never empty credentials), named without quoting any value."""
    from datetime import datetime, timezone

    creds = response.get("Credentials")
    creds = creds if isinstance(creds, Mapping) else {}
    missing = [f"Credentials.{name}" for name in CREDENTIAL_FIELDS if not creds.get(name)]
    found_arn = (response.get("AssumedRoleUser") or {}).get("Arn")
    arn = found_arn if isinstance(found_arn, str) else ""
    if not arn:
        missing.append("AssumedRoleUser.Arn")
    if missing:
        raise AwsAnswerError(f"STS {operation}: the answer has no {', '.join(missing)}")
    expiration = creds["Expiration"]
    if isinstance(expiration, str):
        expiration = parse_utc(expiration)
    if not isinstance(expiration, datetime):
        raise AwsAnswerError(f"STS {operation}: the answer's Credentials.Expiration is not a time")
    return AssumedRole(
        credentials=AwsCredentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"],
                                   expiration.astimezone(timezone.utc)),
        assumed_role_arn=arn,
        account_id=account_of(arn),
    )


def account_of(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 else ""


def session_name_for(claims: Mapping[str, Any], now: float | None = None) -> str:
    """`<environment id>-<unix time>`, what `gp idp login aws` uses for auditing, with the
    id from the token: `.../env:<id>` in `sub`, or an `environment_id` / `workspace_id`
    claim. Sanitised to STS's `[\\w+=,.@-]`, 2..64 characters, the time always kept."""
    suffix = f"-{int(time.time() if now is None else now)}"
    environment = _environment_id(claims) or "automations"
    environment = re.sub(r"[^\w+=,.@-]", "-", environment, flags=re.ASCII)
    return environment[: 64 - len(suffix)] + suffix


def _environment_id(claims: Mapping[str, Any]) -> str | None:
    for name in ("environment_id", "workspace_id"):
        value = claims.get(name)
        if isinstance(value, str) and value:
            return value
    sub = claims.get("sub")
    if isinstance(sub, str):
        match = re.search(r"(?:^|/)env:([^/]+)", sub)
        if match:
            return match.group(1)
    return None


