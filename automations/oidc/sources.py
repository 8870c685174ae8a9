"""Where the environment's OIDC token comes from.

Each way of getting a token is a small `TokenSource` class with one method, `fetch(env)`
(botocore's credential providers are the model). The default is a chain tried in order:
the `gitpod` CLI, the older `gp` CLI, $AWS_WEB_IDENTITY_TOKEN_FILE, GitHub Actions' OIDC
endpoint. A source that is not ready yet (CLI missing or failing at environment start, a
token file not written yet) raises `TokenNotReady`, a transient error: the caller retries it
with a fresh fetch. What a token must be before anyone uses it (automations.oidc.claims)
is checked by the caller; a source only refuses what is no token at all (`InvalidToken`:
more than MAX_TOKEN_BYTES).

The token is a secret before it is read (issue 10): a token command's output is never shown,
not even when the command fails (many CLIs print the token to stderr in a debug mode), and
no source reads more than MAX_TOKEN_BYTES: a command printing without end is stopped there,
in bounded memory, before any processing.

PyJWT is imported inside functions. The `token:` option a user writes is declared in
automations.oidc.token_option, which a configuration loads without this module.
"""
from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from automations.errors import StepFailed, TransientError
from automations.oidc.claims import InvalidToken
from automations.oidc.token_option import DEFAULT_COMMAND_TIMEOUT, CommandTokenOption, FileTokenOption, TokenOption

# Gitpod's and GitHub's tokens are about 1 KiB; STS accepts up to 20,000 characters.
MAX_TOKEN_BYTES = 64 * 1024
TOO_LARGE = "more than 64 KiB, which is no token"


class TokenNotReady(TransientError):
    """The source could not give a token now; another attempt (a new fetch) may work."""


class TokenUnavailable(StepFailed):
    """No token source applies here; retrying cannot help."""


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
