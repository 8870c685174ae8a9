"""Where the environment's OIDC token comes from, and what we check before anyone uses it.

Each way of getting a token is a small `TokenSource` class with one method, `fetch(env)`
(botocore's credential providers are the model). The default is a chain tried in order:
the `gitpod` CLI, the older `gp` CLI, $AWS_WEB_IDENTITY_TOKEN_FILE, GitHub Actions' OIDC
endpoint. A source that is not ready yet (CLI missing or failing at environment start, a
token file not written yet) raises `TokenNotReady`, a transient error: the caller retries it
with a fresh fetch. A token that can only fail (not a JWT, expired, wrong audience) raises
`InvalidToken`: there is no point in sending it to STS.

The token is a secret before it is read (issue 10): a token command's output is never shown,
not even when the command fails (many CLIs print the token to stderr in a debug mode), and
no source reads more than MAX_TOKEN_BYTES: a command printing without end is stopped there,
in bounded memory, before any processing.

PyJWT is imported inside functions: `automations validate` imports this module and must
stay fast.
"""
from __future__ import annotations

import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from automations.engine.options import OptionError, Options, option
from automations.errors import StepFailed, TransientError

DEFAULT_AUDIENCE = "sts.amazonaws.com"
DEFAULT_COMMAND_TIMEOUT = 20.0
# A token whose `nbf`/`iat` is this little in the future is a clock difference, not a problem.
CLOCK_SKEW_SECONDS = 60
# Gitpod's and GitHub's tokens are about 1 KiB; STS accepts up to 20,000 characters.
MAX_TOKEN_BYTES = 64 * 1024
TOO_LARGE = "more than 64 KiB, which is no token"


class TokenNotReady(TransientError):
    """The source could not give a token now; another attempt (a new fetch) may work."""


class TokenUnavailable(StepFailed):
    """No token source applies here; retrying cannot help."""


class InvalidToken(StepFailed):
    """The token can only be refused by STS: not a JWT, expired, not yet valid, wrong audience."""


# -- the `token:` option of an aws-login step ---------------------------------------------

class CommandTokenOption(Options):
    command: str = option(help="a command printing the token on stdout; split like a shell would, run without one",
                          argv=True)
    timeout: float = option(DEFAULT_COMMAND_TIMEOUT, minimum=0.1, help="seconds before the command counts as failed (retried)")

    def validate(self) -> None:
        if not isinstance(self.command, str) or "${" in self.command:
            return
        try:
            import shlex  # json, shlex and datetime are imported where used: validating stays fast

            argv = shlex.split(self.command)
        except ValueError as error:
            raise OptionError("command", f"cannot split the command: {error}") from None
        if not argv:
            raise OptionError("command", "the command is empty")


class FileTokenOption(Options):
    file: str = option(help="a file holding the token (relative paths: from the automations.yaml's directory)")


class EnvTokenOption(Options):
    env: str = option(pattern=r"[A-Za-z_][A-Za-z0-9_]*", help="an environment variable holding the token")


TokenOption = CommandTokenOption | FileTokenOption | EnvTokenOption


# -- sources --------------------------------------------------------------------------------

class TokenSource(ABC):
    """One way of getting the token. `describe` says which, for messages (never the token)."""

    describe: str

    @abstractmethod
    def fetch(self, env: Mapping[str, str], cancelled: threading.Event | None = None) -> str:
        """The token, stripped. Raises TokenNotReady (retry) or StepFailed (do not)."""

    def available(self, env: Mapping[str, str]) -> bool:
        """Whether this source applies here at all (used by the default chain)."""
        return True

    def __str__(self) -> str:
        return self.describe


class CommandTokenSource(TokenSource):
    """The token is a command's stdout. The command is an argv list run without a shell, so
    nothing on its command line is the token and nothing is interpreted twice."""

    def __init__(self, argv: list[str], *, timeout: float = DEFAULT_COMMAND_TIMEOUT,
                 cwd: Path | None = None, describe: str | None = None) -> None:
        self.argv = argv
        self.timeout = timeout
        self.cwd = cwd
        import shlex

        self.describe = describe or f"command `{shlex.join(argv)}`"

    def available(self, env: Mapping[str, str]) -> bool:
        return self._executable(env) is not None

    def _executable(self, env: Mapping[str, str]) -> str | None:
        program = self.argv[0]
        if os.sep in program:
            return program if os.access(program, os.X_OK) else None
        import shutil  # here and below: validating a config must not pay for these imports

        return shutil.which(program, path=env.get("PATH", os.defpath))

    def fetch(self, env: Mapping[str, str], cancelled: threading.Event | None = None) -> str:
        from automations.childprocess import ChildProcess, CommandTimedOut

        executable = self._executable(env)
        if executable is None:
            raise TokenNotReady(f"{self.describe}: {self.argv[0]} not found on PATH")
        try:
            process = ChildProcess([executable, *self.argv[1:]], cwd=self.cwd, env=env)
        except OSError as error:
            raise TokenNotReady(f"{self.describe}: cannot start: {error.strerror or error}") from None
        stdout = bytearray()

        def take(chunk: bytes) -> None:
            stdout.extend(chunk)
            if len(stdout) > MAX_TOKEN_BYTES:  # the command's group is ended on the way out
                raise InvalidToken(f"{self.describe} printed {TOO_LARGE}; stopped it")

        try:
            # Over when the command exits, even if a child it left holds the pipes (#11). Its
            # stderr is read only to be dropped: it may hold the token.
            returncode = process.communicate(take, cancelled=cancelled, timeout=self.timeout)
        except CommandTimedOut:
            raise TokenNotReady(f"{self.describe} timed out after {self.timeout:g}s") from None
        finally:
            process.end()  # a token command is a question: nothing it started outlives the answer
        if returncode != 0:
            reason = f"killed by signal {-returncode}" if returncode < 0 else f"exit code {returncode}"
            raise TokenNotReady(f"{self.describe} failed ({reason}); its output is not shown, since it may hold "
                                "the token (run the command yourself to see it)")
        token = stdout.decode("utf-8", "replace").strip()
        if not token:
            raise TokenNotReady(f"{self.describe} printed no token")
        return token


class FileTokenSource(TokenSource):
    def __init__(self, path: Path, describe: str | None = None) -> None:
        self.path = path
        self.describe = describe or f"file {path}"

    def available(self, env: Mapping[str, str]) -> bool:
        return True

    def fetch(self, env: Mapping[str, str], cancelled: threading.Event | None = None) -> str:
        from automations.files.atomicfile import refuse_special

        try:
            # O_NONBLOCK and a check of what was opened: a FIFO at the path (a hostile or broken
            # set-up) is refused at once instead of blocking the login until its timeout. Links
            # are followed: Kubernetes' projected token files are symlinks.
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
            with os.fdopen(fd, "rb") as file:
                refuse_special(self.path, os.fstat(file.fileno()))
                data = file.read(MAX_TOKEN_BYTES + 1)
            if len(data) > MAX_TOKEN_BYTES:
                raise InvalidToken(f"{self.describe} holds {TOO_LARGE}")
            token = data.decode("utf-8").strip()
        except FileNotFoundError:
            raise TokenNotReady(f"{self.describe} does not exist (yet)") from None
        except (OSError, UnicodeDecodeError) as error:
            raise TokenNotReady(f"cannot read {self.describe}: {getattr(error, 'strerror', None) or error}") from None
        if not token:
            raise TokenNotReady(f"{self.describe} is empty")
        return token


class EnvTokenSource(TokenSource):
    def __init__(self, variable: str) -> None:
        self.variable = variable
        self.describe = f"${variable}"

    def available(self, env: Mapping[str, str]) -> bool:
        return bool(env.get(self.variable, "").strip())

    def fetch(self, env: Mapping[str, str], cancelled: threading.Event | None = None) -> str:
        token = env.get(self.variable, "").strip()
        if not token:
            # The environment of a running process does not change: retrying cannot help.
            raise StepFailed(f"${self.variable} is not set or empty")
        if len(token) > MAX_TOKEN_BYTES:
            raise InvalidToken(f"${self.variable} holds {TOO_LARGE}")
        return token


class WebIdentityTokenFileSource(TokenSource):
    """$AWS_WEB_IDENTITY_TOKEN_FILE: what EKS, and anything mimicking it, provides."""

    describe = "$AWS_WEB_IDENTITY_TOKEN_FILE"

    def available(self, env: Mapping[str, str]) -> bool:
        return bool(env.get("AWS_WEB_IDENTITY_TOKEN_FILE"))

    def fetch(self, env: Mapping[str, str], cancelled: threading.Event | None = None) -> str:
        path = Path(env.get("AWS_WEB_IDENTITY_TOKEN_FILE", ""))
        return FileTokenSource(path, f"$AWS_WEB_IDENTITY_TOKEN_FILE ({path})").fetch(env, cancelled)


class GitHubActionsTokenSource(TokenSource):
    """GitHub Actions' OIDC endpoint ($ACTIONS_ID_TOKEN_REQUEST_URL with the bearer
    $ACTIONS_ID_TOKEN_REQUEST_TOKEN), as aws-actions/configure-aws-credentials uses it."""

    describe = "GitHub Actions OIDC ($ACTIONS_ID_TOKEN_REQUEST_URL)"

    def __init__(self, audience: str, timeout: float = 10.0) -> None:
        self.audience = audience
        self.timeout = timeout

    def available(self, env: Mapping[str, str]) -> bool:
        return bool(env.get("ACTIONS_ID_TOKEN_REQUEST_URL") and env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN"))

    def fetch(self, env: Mapping[str, str], cancelled: threading.Event | None = None) -> str:
        import urllib.error
        import urllib.parse
        import urllib.request

        if not self.available(env):
            raise StepFailed("$ACTIONS_ID_TOKEN_REQUEST_URL and $ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set "
                             "(does the workflow have `permissions: id-token: write`?)")
        url = env["ACTIONS_ID_TOKEN_REQUEST_URL"]
        url += ("&" if "?" in url else "?") + urllib.parse.urlencode({"audience": self.audience})
        request = urllib.request.Request(url, headers={
            "Authorization": f"bearer {env['ACTIONS_ID_TOKEN_REQUEST_TOKEN']}", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                import json

                raw = response.read(MAX_TOKEN_BYTES + 1)
                if len(raw) > MAX_TOKEN_BYTES:
                    raise InvalidToken(f"{self.describe} answered {TOO_LARGE}")
                body = json.loads(raw.decode("utf-8"))
        except urllib.error.HTTPError as error:
            if 400 <= error.code < 500 and error.code not in (408, 429):
                raise StepFailed(f"{self.describe} refused the request: HTTP {error.code}") from None
            raise TokenNotReady(f"{self.describe}: HTTP {error.code}") from None
        except (OSError, ValueError) as error:
            raise TokenNotReady(f"{self.describe}: {getattr(error, 'reason', None) or error}") from None
        token = body.get("value") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token.strip():
            raise TokenNotReady(f"{self.describe} answered without a token")
        return token.strip()


class DefaultTokenChain(TokenSource):
    """The first source that applies here, in order, like botocore's credential chain."""

    def __init__(self, audience: str) -> None:
        self.sources: list[TokenSource] = [
            CommandTokenSource(["gitpod", "idp", "token", "--audience", audience]),
            CommandTokenSource(["gp", "idp", "token", "--audience", audience]),
            WebIdentityTokenFileSource(),
            GitHubActionsTokenSource(audience),
        ]
        self.describe = "the default token chain (" + ", ".join(s.describe for s in self.sources) + ")"

    def resolve(self, env: Mapping[str, str]) -> TokenSource:
        for source in self.sources:
            if source.available(env):
                return source
        tried = "; ".join(s.describe for s in self.sources)
        raise TokenUnavailable(f"no OIDC token source found here; tried: {tried}. "
                               "Set the step's `token:` to {command: ...}, {file: ...} or {env: ...}")

    def fetch(self, env: Mapping[str, str], cancelled: threading.Event | None = None) -> str:
        return self.resolve(env).fetch(env, cancelled)


def token_source(token: TokenOption | None, audience: str, base_dir: Path | None = None) -> TokenSource:
    """The source a step's `token:` option names (the default chain when it names none)."""
    return token_source_from_spec(token_spec(token, base_dir), audience)


def token_spec(token: TokenOption | None, base_dir: Path | None) -> dict[str, Any] | None:
    """The `token:` option as plain data, paths absolute, commands split: what the
    credential-process cache stores (automations.aws.login) and what
    `token_source_from_spec` turns into a source. None: the default chain."""
    if token is None:
        return None
    if isinstance(token, CommandTokenOption):
        import shlex

        return {"command": shlex.split(token.command), "timeout": token.timeout,
                "cwd": str(base_dir) if base_dir is not None else None}
    if isinstance(token, FileTokenOption):
        path = Path(os.path.expanduser(token.file))
        return {"file": str(path if path.is_absolute() or base_dir is None else base_dir / path)}
    return {"env": token.env}


def token_source_from_spec(spec: Mapping[str, Any] | None, audience: str) -> TokenSource:
    if spec is None:
        return DefaultTokenChain(audience)
    if "command" in spec:
        cwd = spec.get("cwd")
        return CommandTokenSource(list(spec["command"]), timeout=float(spec["timeout"]), cwd=Path(cwd) if cwd else None)
    if "file" in spec:
        return FileTokenSource(Path(spec["file"]))
    return EnvTokenSource(spec["env"])


# -- decoding and pre-flight checks ---------------------------------------------------------

# How deeply a token's JSON may nest. Real tokens nest 3 or 4 levels (a session-tags claim);
# this bound keeps every later walk of the claims (display, trust evaluation) far from
# Python's recursion limit (issue 10).
MAX_JSON_DEPTH = 32
# NumericDate claims a datetime can show: year 1 to year 9999.
_TIME_RANGE = (-62_135_596_800, 253_402_300_799)


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) of a JWT, without verifying its signature, once its JSON and its
    registered claims have the types RFC 7519 gives them. Raises InvalidToken, whose
    message never contains the token.

    Plain base64url and JSON, not PyJWT: importing PyJWT loads cryptography, ~60 ms of every
    `automations run` for a read that needs neither (BENCHMARKS.md, profile)."""
    if token.count(".") != 2:
        raise InvalidToken(f"the token is not a JWT (expected three dot-separated parts, got {token.count('.') + 1})")
    header_part, claims_part, _ = token.split(".")
    header = _json_segment(header_part, "header")
    claims = _json_segment(claims_part, "payload")
    if not isinstance(header, dict):
        raise InvalidToken("the token is not a JWT (its header is not a JSON object)")
    if not isinstance(claims, dict):
        raise InvalidToken("the token is not a JWT (its payload is not a JSON object)")
    for name in ("alg", "kid", "typ"):
        if name in header and not isinstance(header[name], str):
            raise InvalidToken(f"the token's header {name!r} is not a string")
    _check_registered_claims(claims)
    return header, claims


def _json_segment(segment: str, what: str) -> Any:
    import base64
    import binascii

    try:
        raw = base64.b64decode(segment + "=" * (-len(segment) % 4), altchars=b"-_", validate=True)
        import json

        value = json.loads(raw, parse_constant=_refuse_constant)
    except _NotJson:
        raise InvalidToken(f"the token is not a JWT (its {what} holds NaN or Infinity, which JSON does not allow)") from None
    except RecursionError:
        raise InvalidToken(f"the token's {what} is nested more than {MAX_JSON_DEPTH} levels deep") from None
    except (binascii.Error, ValueError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise InvalidToken(f"the token is not a JWT (its {what} is not base64url-encoded JSON)") from None
    if _depth_exceeds(value, MAX_JSON_DEPTH):
        raise InvalidToken(f"the token's {what} is nested more than {MAX_JSON_DEPTH} levels deep")
    return value


class _NotJson(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NotJson(name)


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether JSON `value` nests deeper than `limit` (without recursing: it may be deep)."""
    level: list[Any] = [value]
    for _ in range(limit):
        level = [child for item in level if isinstance(item, (dict, list))
                 for child in (item.values() if isinstance(item, dict) else item)]
        if not level:
            return False
    return any(isinstance(item, (dict, list)) for item in level)


def _check_registered_claims(claims: Mapping[str, Any]) -> None:
    """The claims RFC 7519 defines, with its types: a wrong type is a broken token, and
    refusing it here keeps every later check (and STS) from guessing."""
    for name in ("exp", "nbf", "iat"):
        _number_claim(claims, name)
    for name in ("iss", "sub"):
        if name in claims and not isinstance(claims[name], str):
            raise InvalidToken(f"the token's {name!r} claim is not a string")
    audiences = claims.get("aud", "")
    if not isinstance(audiences, str) and not (isinstance(audiences, list)
                                               and all(isinstance(a, str) for a in audiences)):
        raise InvalidToken("the token's 'aud' claim is not a string or a list of strings")


def check_token(token: str, audience: str, now: float | None = None) -> dict[str, Any]:
    """The token's claims, if STS could accept it; else InvalidToken saying why."""
    _, claims = decode_unverified(token)
    now = time.time() if now is None else now
    exp = _number_claim(claims, "exp")
    if exp is not None and exp <= now:
        raise InvalidToken(f"the token expired at {format_time(exp)} ({_ago(now - exp)} ago); fetch a new one")
    nbf = _number_claim(claims, "nbf")
    if nbf is not None and nbf > now + CLOCK_SKEW_SECONDS:
        raise InvalidToken(f"the token is not valid before {format_time(nbf)} (in {_ago(nbf - now)}); "
                           "is this machine's clock right?")
    audiences = claims.get("aud")
    audiences = [audiences] if isinstance(audiences, str) else audiences if isinstance(audiences, list) else []
    if not audiences:
        raise InvalidToken(f"the token has no audience (aud); STS needs {audience!r} "
                           f"(request the token with --audience {audience})")
    if audience not in audiences:
        raise InvalidToken(f"the token's audience {_show_list(audiences)} does not contain {audience!r} "
                           f"(request the token with --audience {audience})")
    return claims


def _show_list(items: list[str], most: int = 3, width: int = 100) -> str:
    """A list for a message, kept to one readable line however long the token's list is."""
    shown = [item if len(item) <= width else item[:width - 3] + "..." for item in items[:most]]
    return repr(shown) if len(items) <= most else repr(shown)[:-1] + f", ... ({len(items)} in all)]"


def format_time(timestamp: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _number_claim(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidToken(f"the token's {name!r} claim is not a number")
    if not _TIME_RANGE[0] <= value <= _TIME_RANGE[1]:  # also false for NaN; 1e400 parses as infinity
        raise InvalidToken(f"the token's {name!r} claim is not a time between the years 1 and 9999")
    return float(value)


def _ago(seconds: float) -> str:
    seconds = int(abs(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


