"""Reading secret values from AWS, written once for the `secrets-manager` and
`ssm-parameters` steps: batching within AWS's limits, concurrent calls (bounded), a fallback
when a role may not batch, missing ids collected rather than failing at the first, and AWS
errors turned into messages that name the secret and never its value.

Every value is handed to `on_value` (the step's `ctx.secret`) the moment its response is
parsed, in the thread that received it: before anything could print it.

Throttling raises `ThrottledError`, other transient failures (5xx, dropped connections)
`TransientError`; the runner retries the whole step within the policy of that class, so no
call here retries on its own.
"""
from __future__ import annotations

import base64
import contextlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from automations.aws.clients import AwsAnswerError, aws_error_class, aws_sessions, code_class, error_code
from automations.aws.declarations import CURRENT_STAGE
from automations.engine.step import StepContext, StepResult
from automations.errors import Cancelled, StepFailed, ThrottledError, TransientError, retryable
from automations.files.envfile import EnvFile
from automations.files.envfile_options import EnvFileOptions
from automations.retry import THROTTLED, TRANSIENT
from automations.wording import plural

BATCH_GET_SECRET_VALUE_MAX_IDS = 20   # AWS's limit for SecretIdList (moto does not enforce it)
GET_PARAMETERS_MAX_NAMES = 10         # AWS's limit for GetParameters' Names
MAX_CONCURRENT_CALLS = 8              # BatchGetSecretValue allows 100 requests/s per region

NOT_FOUND_CODES = frozenset({"ResourceNotFoundException", "ParameterNotFound"})
ACCESS_DENIED_CODES = frozenset({"AccessDeniedException", "AccessDenied"})

T = TypeVar("T")
R = TypeVar("R")
OnValue = Callable[[Any], None]


class SecretRef(NamedTuple):
    """One secret to read: its id (name, ARN or partial ARN) and version stage.

    (The records here are NamedTuples and plain classes, not dataclasses: importing
    dataclasses costs a run ~5 ms, and `automations run` is measured against a minimal
    script, bench/.)"""

    id: str
    version_stage: str = CURRENT_STAGE


class SecretValue(NamedTuple):
    id: str                   # as it was asked for
    name: str
    string: str | None        # SecretString
    binary: bytes | None      # SecretBinary

    def text(self) -> str:
        """The whole value as text: SecretString, or SecretBinary base64-encoded."""
        if self.string is not None:
            return self.string
        return base64.b64encode(self.binary or b"").decode("ascii")


class SecretsRead:
    def __init__(self) -> None:
        self.values: dict[SecretRef, SecretValue] = {}
        self.missing: list[SecretRef] = []
        self.calls: dict[str, int] = {}   # operation -> number of calls
        self.fell_back = False            # BatchGetSecretValue was denied


def chunks(items: Sequence[T], size: int) -> list[list[T]]:
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


def run_concurrently(work: Callable[[T], R], items: Iterable[T], *, cancelled: threading.Event | None = None,
                     max_workers: int = MAX_CONCURRENT_CALLS) -> list[R]:
    """`work(item)` for every item, at most `max_workers` at a time; results in order. After
    a permanent failure no new call starts; the error is raised once the calls in flight
    have ended."""
    items = list(items)
    if len(items) <= 1:
        return [work(item) for item in items]
    cancelled = cancelled or threading.Event()
    failed = threading.Event()

    def guarded(item: T) -> R:
        if cancelled.is_set() or failed.is_set():
            raise Cancelled("cancelled")
        try:
            return work(item)
        except TransientError:
            raise  # the others' answers are still worth having: the retry skips them
        except BaseException:
            failed.set()
            raise

    with ThreadPoolExecutor(max_workers=min(max_workers, len(items)), thread_name_prefix="aws") as pool:
        futures: list[Future[R]] = [pool.submit(guarded, item) for item in items]
    errors = [error for f in futures if (error := f.exception()) is not None]
    if errors:
        # A permanent error first (retrying cannot fix it), then a throttled one (the next
        # wait must spread out), then a transient one; calls that never started after a
        # failure raised Cancelled and say nothing new.
        errors.sort(key=lambda e: 3 if isinstance(e, Cancelled) else 1 if isinstance(e, ThrottledError)
                    else 2 if isinstance(e, TransientError) else 0)
        raise errors[0]
    return [f.result() for f in futures]


@contextlib.contextmanager
def aws_errors(service: str, what: str) -> Iterator[None]:
    """Turn botocore's exceptions into StepFailed / TransientError naming `what` (a secret
    id, a parameter path) and the AWS error code; botocore never puts values in them. An
    answer that cannot be believed (automations.aws.clients) keeps its class, and gains `what`."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

    try:
        yield
    except AwsAnswerError as error:
        raise type(error)(f"{service}: {what}: {error}") from None
    except NoRegionError:
        raise StepFailed(f"{service}: no AWS region: set `region:` on the step, or AWS_REGION") from None
    except NoCredentialsError:
        raise StepFailed(f"{service}: no AWS credentials: run aws-login earlier in the task, set `profile:`, "
                         "or provide credentials the AWS SDK finds") from None
    except ClientError as error:
        code = error_code(error) or "error"
        message = (error.response.get("Error", {}).get("Message") or "").strip()
        text = f"{service}: {what}: {code}" + (f" ({message})" if message else "")
        error_class = aws_error_class(error)
        raise (retryable(error_class, text) if error_class else StepFailed(text)) from None
    except BotoCoreError as error:
        error_class = aws_error_class(error)
        text = f"{service}: {what}: {error}"
        raise (retryable(error_class, text) if error_class else StepFailed(text)) from None


# -- Secrets Manager ------------------------------------------------------------------------

class _ConcurrentReader:
    """What both readers share: the client, where each value goes as it arrives (the
    redactor first), cancellation, and how many calls may be in flight."""

    def __init__(self, client: Any, on_value: OnValue, *, cancelled: threading.Event | None = None,
                 max_workers: int = MAX_CONCURRENT_CALLS) -> None:
        self.client = client
        self.on_value = on_value
        self.cancelled = cancelled or threading.Event()
        self.max_workers = max_workers
        self._lock = threading.Lock()


class SecretsManagerReader(_ConcurrentReader):
    """Reads secrets with as few calls as AWS allows: BatchGetSecretValue, at most 20 ids a
    call, the batches concurrently; GetSecretValue for other version stages, for ids a
    batch answer cannot be matched to, and for everything when the role may not batch.
    One reader serves every attempt of a step, and keeps what it has read."""

    service = "secretsmanager"

    def __init__(self, client: Any, on_value: OnValue, *, cancelled: threading.Event | None = None,
                 max_workers: int = MAX_CONCURRENT_CALLS) -> None:
        super().__init__(client, on_value, cancelled=cancelled, max_workers=max_workers)
        self._read = SecretsRead()

    def read(self, refs: Iterable[SecretRef]) -> SecretsRead:
        """Read `refs`. Called again after a transient failure, it asks only for what the
        earlier attempts did not get: a throttled batch does not cost the others again."""
        done = set(self._read.values) | set(self._read.missing)
        refs = [r for r in dict.fromkeys(refs) if r not in done]
        current = [r for r in refs if r.version_stage == CURRENT_STAGE]
        one_by_one = [r for r in refs if r.version_stage != CURRENT_STAGE]
        batches = chunks(current, BATCH_GET_SECRET_VALUE_MAX_IDS)
        for leftover in self._concurrently(self._read_batch, batches):
            one_by_one.extend(leftover)
        self._concurrently(self._read_one, one_by_one)
        return self._read

    def _concurrently(self, work: Callable[[T], R], items: Iterable[T]) -> list[R]:
        return run_concurrently(work, items, cancelled=self.cancelled, max_workers=self.max_workers)

    def _read_batch(self, batch: list[SecretRef]) -> list[SecretRef]:
        """One BatchGetSecretValue; returns the refs left to read one by one."""
        from botocore.exceptions import ClientError

        if self._read.fell_back:
            return batch
        ids = [r.id for r in batch]
        assert 0 < len(ids) <= BATCH_GET_SECRET_VALUE_MAX_IDS
        values: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        token = None
        try:
            with aws_errors(self.service, _describe_ids(ids)):
                while True:
                    request: dict[str, Any] = {"SecretIdList": ids}
                    if token:
                        request["NextToken"] = token
                    self._count("BatchGetSecretValue")
                    try:
                        response = self.client.batch_get_secret_value(**request)
                    except ClientError as error:
                        if error_code(error) in ACCESS_DENIED_CODES:
                            raise _BatchDenied() from None
                        raise
                    if not isinstance(response.get("SecretValues"), list) and \
                            not isinstance(response.get("Errors"), list):
                        raise AwsAnswerError("BatchGetSecretValue: the answer has neither SecretValues nor Errors")
                    for entry in response.get("SecretValues", []):
                        self._register(_checked_secret(entry, "BatchGetSecretValue"))
                    values.extend(response.get("SecretValues", []))
                    errors.extend(response.get("Errors", []))
                    token = response.get("NextToken")
                    if not token:
                        break
        except _BatchDenied:
            with self._lock:
                self._read.fell_back = True
            return batch
        return self._settle_batch(batch, values, errors)

    def _settle_batch(self, batch: list[SecretRef], values: list[dict[str, Any]],
                      errors: list[dict[str, Any]]) -> list[SecretRef]:
        leftover = []
        failures = []
        by_id = {e.get("SecretId"): e for e in errors}
        for ref in batch:
            entry = next((v for v in values if _same_secret(ref.id, v)), None)
            if entry is not None:
                self._store(ref, entry)
                continue
            error = by_id.get(ref.id)
            if error is None:
                leftover.append(ref)  # an answer we cannot match to the id: ask for it alone
            elif error.get("ErrorCode") in NOT_FOUND_CODES:
                with self._lock:
                    self._read.missing.append(ref)
            else:
                failures.append((ref, error))
        if failures:
            classes = {code_class(e.get("ErrorCode")) for _, e in failures}
            text = f"{self.service}: " + "; ".join(f"{ref.id}: {e.get('ErrorCode') or 'error'}" +
                                                   (f" ({e['Message']})" if e.get("Message") else "")
                                                   for ref, e in failures)
            if None in classes:
                raise StepFailed(text)
            # Any throttled secret: the retry spreads out (the quota is shared).
            raise retryable(THROTTLED if THROTTLED in classes else TRANSIENT, text)
        return leftover

    def _read_one(self, ref: SecretRef) -> None:
        from botocore.exceptions import ClientError

        request = {"SecretId": ref.id}
        if ref.version_stage != CURRENT_STAGE:
            request["VersionStage"] = ref.version_stage
        with aws_errors(self.service, _describe_ref(ref)):
            self._count("GetSecretValue")
            try:
                entry = self.client.get_secret_value(**request)
            except ClientError as error:
                if error_code(error) in NOT_FOUND_CODES:
                    with self._lock:
                        self._read.missing.append(ref)
                    return
                raise
            _checked_secret(entry, "GetSecretValue")
        self._register(entry)
        self._store(ref, entry)

    def _register(self, entry: dict[str, Any]) -> None:
        """The whole value, as received and as written (SecretBinary: base64). The fields of
        a JSON secret are registered by the step that writes them, and only those: a field
        nobody asked for (`"ssl": true`, `"port": 5432`) must not mask text elsewhere."""
        value = SecretValue("", entry.get("Name", ""), entry.get("SecretString"), entry.get("SecretBinary"))
        self.on_value(value.string if value.string is not None else value.binary)
        if value.binary is not None:
            self.on_value(value.text())

    def _store(self, ref: SecretRef, entry: dict[str, Any]) -> None:
        value = SecretValue(ref.id, entry.get("Name", ref.id), entry.get("SecretString"), entry.get("SecretBinary"))
        with self._lock:
            self._read.values[ref] = value

    def _count(self, operation: str) -> None:
        if self.cancelled.is_set():
            raise Cancelled("cancelled")
        with self._lock:
            self._read.calls[operation] = self._read.calls.get(operation, 0) + 1


class _BatchDenied(Exception):
    """BatchGetSecretValue itself is not allowed: read the batch one secret at a time."""


def _checked_secret(entry: Any, operation: str) -> dict[str, Any]:
    """A secret in an answer holds its value: an answer without one is an error, never an
    empty value."""
    if not isinstance(entry, dict):
        raise AwsAnswerError(f"{operation}: the answer holds a secret that is not an object")
    if not isinstance(entry.get("SecretString"), str) and not isinstance(entry.get("SecretBinary"), bytes):
        name = entry.get("Name") or entry.get("ARN") or "a secret"
        raise AwsAnswerError(f"{operation}: the answer for {name} has no SecretString and no SecretBinary")
    return entry


def _same_secret(requested: str, entry: dict[str, Any]) -> bool:
    """Whether a batch answer is the secret asked for by name, by ARN, or by a partial ARN
    (an ARN without the six random characters AWS appends)."""
    arn = entry.get("ARN") or ""
    return requested in (entry.get("Name"), arn) or (requested.startswith("arn:") and arn.startswith(requested + "-")
                                                     and len(arn) == len(requested) + 7)


def _describe_ids(ids: list[str], noun: str = "secrets") -> str:
    return ids[0] if len(ids) == 1 else f"{len(ids)} {noun} ({ids[0]}, ...)"


def _describe_ref(ref: SecretRef) -> str:
    return ref.id if ref.version_stage == CURRENT_STAGE else f"{ref.id} ({ref.version_stage})"


# -- SSM Parameter Store ---------------------------------------------------------------------

class ParametersRead:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}              # parameter name -> value
        self.under_path: dict[str, list[str]] = {}    # path -> names found
        self.missing: list[str] = []
        self.calls: dict[str, int] = {}


class ParameterStoreReader(_ConcurrentReader):
    """Reads SSM parameters decrypted: every one under a path (GetParametersByPath,
    recursive, paged) and named ones (GetParameters, at most 10 a call, concurrently)."""

    service = "ssm"

    def __init__(self, client: Any, on_value: OnValue, *, cancelled: threading.Event | None = None,
                 max_workers: int = MAX_CONCURRENT_CALLS) -> None:
        super().__init__(client, on_value, cancelled=cancelled, max_workers=max_workers)
        self._read = ParametersRead()

    def read(self, paths: Sequence[str] = (), names: Sequence[str] = ()) -> ParametersRead:
        """Read `paths` and `names`; called again after a transient failure, it asks only
        for what the earlier attempts did not get."""
        done = set(self._read.values) | set(self._read.missing)
        work: list[tuple[str, Any]] = [("path", p) for p in dict.fromkeys(paths) if p not in self._read.under_path]
        pending = [n for n in dict.fromkeys(names) if n not in done]
        work += [("names", batch) for batch in chunks(pending, GET_PARAMETERS_MAX_NAMES)]
        run_concurrently(self._do, work, cancelled=self.cancelled, max_workers=self.max_workers)
        return self._read

    def _do(self, item: tuple[str, Any]) -> None:
        kind, what = item
        if kind == "path":
            self._read_path(what)
        else:
            self._read_names(what)

    def _read_path(self, path: str) -> None:
        found = []
        token = None
        with aws_errors(self.service, f"parameters under {path}"):
            while True:
                request: dict[str, Any] = {"Path": path, "Recursive": True, "WithDecryption": True, "MaxResults": 10}
                if token:
                    request["NextToken"] = token
                self._count("GetParametersByPath")
                response = self.client.get_parameters_by_path(**request)
                for parameter in _checked_parameters(response, "GetParametersByPath"):
                    self._keep(parameter)
                    found.append(parameter["Name"])
                token = response.get("NextToken")
                if not token:  # the last page may be empty and still carry no token
                    break
        with self._lock:
            self._read.under_path[path] = found

    def _read_names(self, names: list[str]) -> None:
        assert 0 < len(names) <= GET_PARAMETERS_MAX_NAMES
        with aws_errors(self.service, _describe_ids(names, "parameters")):
            self._count("GetParameters")
            response = self.client.get_parameters(Names=names, WithDecryption=True)
            parameters = _checked_parameters(response, "GetParameters")
        for parameter in parameters:
            self._keep(parameter)
        with self._lock:
            self._read.missing.extend(n for n in response.get("InvalidParameters", []))

    def _keep(self, parameter: dict[str, Any]) -> None:
        value = parameter.get("Value", "")
        self.on_value(value)
        with self._lock:
            self._read.values[parameter["Name"]] = value

    def _count(self, operation: str) -> None:
        if self.cancelled.is_set():
            raise Cancelled("cancelled")
        with self._lock:
            self._read.calls[operation] = self._read.calls.get(operation, 0) + 1


def _checked_parameters(response: dict[str, Any], operation: str) -> list[dict[str, Any]]:
    """The parameters an answer holds, each with its name and value: an answer without
    `Parameters`, or a parameter without a value, is an error, never "0 variables"."""
    parameters = response.get("Parameters")
    if not isinstance(parameters, list):
        raise AwsAnswerError(f"{operation}: the answer has no Parameters")
    for parameter in parameters:
        if not isinstance(parameter, dict) or not isinstance(parameter.get("Name"), str):
            raise AwsAnswerError(f"{operation}: the answer holds a parameter without a Name")
        if not isinstance(parameter.get("Value"), str):
            raise AwsAnswerError(f"{operation}: the answer for {parameter['Name']} has no Value")
    return parameters


# -- from values to variables ----------------------------------------------------------------

_NOT_NAME_CHARS = re.compile(r"[^A-Za-z0-9_]")


def variable_name(text: str, prefix: str = "") -> str:
    """A JSON key or parameter name as a variable: upper-cased, every character outside
    [A-Za-z0-9_] turned into `_`, prefixed."""
    return prefix + _NOT_NAME_CHARS.sub("_", text).upper()


def json_text(value: Any) -> str:
    """A JSON value as an env value: strings as they are, anything else as JSON text."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def json_object(secret_id: str, text: str | None) -> dict[str, Any]:
    """The JSON object a SecretString holds, or an error naming the secret (never the value:
    json's messages hold positions only)."""
    if text is None:
        raise StepFailed(f"secret {secret_id} is binary; `keys` needs a SecretString holding a JSON object")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise StepFailed(f"secret {secret_id} is not JSON (line {error.lineno} column {error.colno}: {error.msg}); "
                         "`keys` needs a JSON object (use `env:` for the whole value)") from None
    if not isinstance(data, dict):
        raise StepFailed(f"secret {secret_id} holds a JSON {_json_kind(data)}, not an object; "
                         "`keys` needs a JSON object (use `env:` for the whole value)")
    return data


_MISSING = object()


def json_lookup(data: dict[str, Any], path: str) -> Any:
    """`path` in `data`: the key itself if the object has it, else a dotted path through
    nested objects (and list indices). Returns `_MISSING` when nothing is there."""
    if path in data:
        return data[path]
    current: Any = data
    for part in path.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


def secret_parts(value: Any) -> Iterator[str]:
    """What to register for a JSON value written into a file: the value as written, and every
    string nested in it (a program reading the file may print one alone). Not booleans, null
    or numbers inside it, nor a boolean or null on its own: they are not secrets, and masking
    `true` or `5432` everywhere would mangle other output."""
    if isinstance(value, bool) or value is None:
        return
    yield json_text(value)
    yield from _nested_strings(value)


def _nested_strings(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            if isinstance(item, str):
                yield item
            else:
                yield from _nested_strings(item)


def is_missing(value: Any) -> bool:
    return value is _MISSING


def _json_kind(value: Any) -> str:
    return {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")


# -- into the env file -------------------------------------------------------------------------

class Variable(NamedTuple):
    name: str
    value: str
    source: str   # where it comes from, for messages and dry runs: "secret db key host"


def assemble(variables: Iterable[Variable]) -> dict[str, str]:
    """The variables as one mapping; two sources for one name is an error naming both."""
    seen: dict[str, Variable] = {}
    for variable in variables:
        first = seen.get(variable.name)
        if first is not None:
            raise StepFailed(f"two entries write {variable.name}: {first.source} and {variable.source}")
        seen[variable.name] = variable
    return {name: v.value for name, v in seen.items()}


def env_file_path(ctx: StepContext, file: str) -> Path:
    """`file` with `~` expanded, relative to the directory of automations.yaml."""
    return ctx.config_path.parent / Path(file).expanduser()


def write_variables(ctx: StepContext, options: EnvFileOptions, variables: list[Variable], what: str) -> StepResult:
    """Hand the variables over (ctx.deliver): `run` writes them to `options.file`, `exec` gives
    them to COMMAND."""
    path = env_file_path(ctx, options.file)
    values = assemble(variables)
    warn_about_short_values(ctx, variables)
    delivery = ctx.deliver(values, EnvFile(path, name=options.file, fmt=options.format, mode=options.mode,
                                           readers=options.readers))
    names = list(values)
    message = f"{plural(len(names), 'variable')} from {what} {delivery.where}"
    file = {"file": str(path)} if delivery.file is not None else {}
    if delivery.unchanged:
        result = StepResult.ok(f"{message} (unchanged)", **file, variables=names)
    elif not delivery.changed:
        result = StepResult.ok(message, **file, variables=names)
    else:
        result = StepResult.changed(message, **file, variables=names)
    if options.refresh_every is not None:
        result.refresh_at = time.time() + options.refresh_every
    return result


def warn_about_short_values(ctx: StepContext, variables: list[Variable]) -> None:
    """One warning naming (never showing) the values so short that output masks them only
    where they stand alone (automations.redaction)."""
    from automations.redaction import REDACTOR, SHORT_SECRET_LENGTH

    short = [v.source for v in variables if REDACTOR.is_short(v.value)]
    if short:
        ctx.log.warning(f"{len(short)} value{'s are' if len(short) != 1 else ' is'} shorter than "
                        f"{SHORT_SECRET_LENGTH} characters, so output masks {'them' if len(short) != 1 else 'it'} "
                        f"only where not next to a letter or digit: {', '.join(short)}")


def aws_client(ctx: StepContext, service: str, options: EnvFileOptions) -> Any:
    with aws_errors(service, "client"):
        return aws_sessions(ctx).client(service, options.profile, options.region, env=ctx.env,
                                        cancelled=ctx.cancelled, max_pool_connections=MAX_CONCURRENT_CALLS)
