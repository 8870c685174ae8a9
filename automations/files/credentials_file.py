"""The AWS shared credentials and config files, edited the way a careful person would: only
the target section's keys change; every other section, comment, blank line and the order of
everything stay byte for byte. Both files are rewritten atomically (0600), under exclusive
locks, so two runs writing two profiles at once never lose either.

Also the credential-process cache: the last credentials `automations aws credential-process`
obtained, kept (0600, atomically) until they are close to expiring.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automations.errors import StepFailed
from automations.files.atomicfile import (
    is_private_file_of_ours,
    locked,
    read_text_if_exists,
    refuse_shared_dir,
    write_atomic,
)

if TYPE_CHECKING:
    from datetime import datetime

# hashlib and datetime are imported where used: the credential process answers every AWS
# SDK call from this module, and must start fast (bench/credential_process.py).

_HEADER = re.compile(r"^\[\s*([^\]]+?)\s*\]\s*$")
_KEY = re.compile(r"^([^\s=:#;\[][^=:]*?)\s*[=:]")

ACCESS_KEY = "aws_access_key_id"
SECRET_KEY = "aws_secret_access_key"
SESSION_TOKEN = "aws_session_token"
EXPIRES = "x_security_token_expires"     # the key saml2aws, gimme-aws-creds & co. use
STATIC_KEYS = (ACCESS_KEY, SECRET_KEY, SESSION_TOKEN, EXPIRES)


def credentials_path(env: Mapping[str, str]) -> Path:
    return Path(os.path.expanduser(env.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials"))


def config_path(env: Mapping[str, str]) -> Path:
    return Path(os.path.expanduser(env.get("AWS_CONFIG_FILE") or "~/.aws/config"))


def config_section(profile: str) -> str:
    """The config file's section for a profile: `[default]` or `[profile NAME]`."""
    return "default" if profile == "default" else f"profile {profile}"


# -- one INI section, edited in place ------------------------------------------------------

def _section_name(line: str) -> str | None:
    match = _HEADER.match(line.strip()) if not line[:1].isspace() else None
    return " ".join(match.group(1).split()) if match else None


def _key_of(line: str) -> str | None:
    match = _KEY.match(line)
    return match.group(1).strip().lower() if match else None


def _is_continuation(line: str) -> bool:
    # botocore (configparser) reads indented lines as part of the previous key's value,
    # e.g. nested `s3 =` settings: they belong to that key.
    return line[:1].isspace() and bool(line.strip())


def _section_range(lines: list[str], section: str) -> tuple[int, int] | None:
    start = None
    for index, line in enumerate(lines):
        name = _section_name(line)
        if name is None:
            continue
        if start is not None:
            return start, index
        if name == section:
            start = index
    return (start, len(lines)) if start is not None else None


def read_section(text: str | None, section: str) -> dict[str, str]:
    """The keys of `section` (lower-cased) and their values; the first of duplicates wins."""
    lines = (text or "").splitlines()
    found = _section_range(lines, section)
    values: dict[str, str] = {}
    if found is None:
        return values
    for line in lines[found[0] + 1:found[1]]:
        key = _key_of(line)
        if key is not None and key not in values:
            values[key] = re.split(r"[=:]", line, maxsplit=1)[1].strip()
    return values


def update_section(text: str | None, section: str, values: Mapping[str, str | None]) -> str:
    """`text` with `section`'s keys set (a None value removes the key); nothing else moves.
    A missing section is appended at the end."""
    for key, value in values.items():
        if value is not None and ("\n" in value or "\r" in value):
            raise StepFailed(f"refusing to write a multi-line value for {key}")
    text = text or ""
    lines = text.splitlines(keepends=True)
    wanted = {key.lower(): value for key, value in values.items()}
    found = _section_range(lines, section)
    if found is None:
        added = [f"{key} = {value}\n" for key, value in wanted.items() if value is not None]
        if not added:
            return text
        separator = "" if not text else ("\n" if text.endswith("\n") else "\n\n")
        return text + separator + f"[{section}]\n" + "".join(added)
    start, end = found
    body: list[str] = []
    pending = dict(wanted)
    index = start + 1
    while index < end:
        line = lines[index]
        line_key = _key_of(line)
        if line_key is None or line_key not in wanted:
            body.append(line)
            index += 1
            continue
        index += 1
        while index < end and _is_continuation(lines[index]):
            index += 1
        if line_key in pending:
            value = pending.pop(line_key)
            if value is not None:
                body.append(f"{line_key} = {value}\n")
    additions = [f"{key} = {value}\n" for key, value in pending.items() if value is not None]
    if additions:
        # After the section's last key, before the blank lines that separate it from the next.
        position = len(body)
        while position > 0 and not body[position - 1].strip():
            position -= 1
        if position == 0 and not lines[start].endswith("\n"):
            lines[start] += "\n"
        if position > 0 and not body[position - 1].endswith("\n"):
            body[position - 1] += "\n"
        body[position:position] = additions
    return "".join(lines[:start + 1] + body + lines[end:])


# -- the two shared files ------------------------------------------------------------------

class Profile:
    def __init__(self, name: str, credentials: dict[str, str] | None = None,
                 config: dict[str, str] | None = None) -> None:
        self.name = name
        self.credentials = credentials if credentials is not None else {}  # its keys in the credentials file
        self.config = config if config is not None else {}                 # its keys in the config file


class SharedAwsFiles:
    """~/.aws/credentials and ~/.aws/config (or $AWS_SHARED_CREDENTIALS_FILE, $AWS_CONFIG_FILE).

    Either may be a symbolic link (dotfile managers link them into a repository): the config
    holds no secrets, so its target is read and replaced; the credentials file's target only
    when it is already private and ours, since a link would otherwise let whoever made it
    choose where our keys go."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.credentials_path = credentials_path(env)
        self.config_path = config_path(env)

    def read(self, profile: str) -> Profile:
        return Profile(profile,
                       read_section(read_text_if_exists(self._credentials_target()), profile),
                       read_section(read_text_if_exists(self._config_target()), config_section(profile)))

    def make_credentials_private(self) -> None:
        """Take group and other bits off an existing credentials file (a skipped rerun too)."""
        path = self._credentials_target()
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
            if mode & 0o077:
                os.chmod(path, mode & 0o700)
        except FileNotFoundError:
            pass
        except OSError as error:
            raise StepFailed(f"cannot make {path} private: {error.strerror}") from None

    def _config_target(self) -> Path:
        return Path(os.path.realpath(self.config_path)) if self.config_path.is_symlink() else self.config_path

    def _credentials_target(self) -> Path:
        path = self.credentials_path
        if not path.is_symlink():
            return path
        target = Path(os.path.realpath(path))
        if not is_private_file_of_ours(target):
            raise StepFailed(f"{path} is a symbolic link to {target}, which is not a private file of yours (0600); "
                             "refusing to write secrets through it")
        return target

    def update(self, profile: str, credentials: Mapping[str, str | None], config: Mapping[str, str | None]) -> None:
        """Set (or, with None, remove) keys of `profile` in both files, each read, edited and
        replaced under its lock. Locks are always taken in the same order: no deadlock."""
        same_file = self.credentials_path.absolute() == self.config_path.absolute()
        with locked(self.credentials_path), (contextlib.nullcontext() if same_file else locked(self.config_path)):
            # A crash between the two renames must leave the profile a source of credentials.
            # Static keys (credentials file) win over credential_process (config file), so the
            # file that gives the profile its new source goes first: the config when it gains
            # credential_process (the static keys go after), else the credentials file (the
            # credential_process goes after), or the profile could be left with neither.
            writes = [(self._config_target(), config_section(profile), config, False),
                      (self._credentials_target(), profile, credentials, True)]
            if not config.get("credential_process"):
                writes.reverse()
            for path, section, values, secret in writes:
                self._rewrite(path, section, values, secret=secret)
            self.make_credentials_private()

    @staticmethod
    def _rewrite(path: Path, section: str, values: Mapping[str, str | None], secret: bool = True) -> None:
        if not values:
            return
        before = read_text_if_exists(path)
        after = update_section(before, section, values)
        if after != before:
            # The config file holds no secrets: it keeps its mode, less others' write bits.
            mode = 0o600 if secret or before is None else stat.S_IMODE(os.stat(path).st_mode) & 0o755
            write_atomic(path, after.encode("utf-8"), mode=mode)


# -- the credential-process cache ----------------------------------------------------------

def cache_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "automations"


class CredentialCache:
    """One aws-login step's last credentials, as the credential_process JSON plus the role
    they are for and the snapshot a refresh is made from (automations.aws.login). Keyed by
    config file, task and step, so two steps never share an entry.

    The snapshot says which command fetches a token: the file is trusted only while it is
    a private regular file of ours in a directory nobody else can change."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def for_step(cls, env: Mapping[str, str], config_file: Path, task: str, step_id: str | None) -> CredentialCache:
        import hashlib

        key = hashlib.sha256(f"{config_file}\0{task}\0{step_id or ''}".encode()).hexdigest()[:24]
        return cls(cache_dir(env) / f"aws-credentials-{key}.json")

    def locked(self) -> contextlib.AbstractContextManager[None]:
        self.refuse_shared_dir()
        return locked(self.path)  # one refresh at a time: the SDKs of several processes may ask at once

    def refuse_shared_dir(self) -> None:
        refuse_shared_dir(self.path.parent, "the credential-process cache")

    def read(self, role_arn: str | None = None) -> dict[str, Any] | None:
        """The entry (for `role_arn`, when given); None when missing, damaged or not private."""
        try:
            self.refuse_shared_dir()
            text = read_text_if_exists(self.path)
            if text is None or not is_private_file_of_ours(self.path):
                return None
            entry = json.loads(text)
        except (StepFailed, ValueError):
            return None  # a damaged cache is only a cache: log in again
        if not isinstance(entry, dict) or (role_arn is not None and entry.get("RoleArn") != role_arn):
            return None
        if not all(isinstance(entry.get(k), str) for k in ("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration")):
            return None
        return entry

    def write(self, entry: Mapping[str, Any]) -> None:
        self.refuse_shared_dir()
        write_atomic(self.path, json.dumps(entry, indent=1).encode("utf-8"))


def remaining_seconds(expiration: datetime | None, now: datetime | None = None) -> float:
    from datetime import datetime, timezone

    if expiration is None:
        return 0.0
    return (expiration - (now or datetime.now(timezone.utc))).total_seconds()
