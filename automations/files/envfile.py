"""Env files, written once: the formats `dotenv`, `shell`, `json` and `docker`, each a small
class that encodes a value for its consumer (or refuses it, naming the key, never the value)
and parses the format back for `mode: merge`.

Every consumer's rules are in this file and nowhere else (those of dotenv's readers, in
automations/files/envreaders/):

- dotenv: the value must read back the same with every reader named in the step's
  `readers:` (python-dotenv, Node's dotenv, bash, godotenv, Ruby's dotenv, direnv; default
  the first three). Each reader's rules are a small module of automations/files/envreaders/,
  ported from its source; the writer takes the first form (single quotes, double quotes with
  or without escapes, no quotes) they all read back, and refuses a value no form carries,
  naming the reader to drop. A merge checks that every named reader reads the merged file
  as we do, and names the line where one would not.
- shell: `export KEY='...'`, `'` written as `'` backslash `''`: any value sh and bash can hold (no NUL).
- json: one object of strings.
- docker: `docker run --env-file`: `KEY=value` taken literally up to the end of the line; no
  quotes, escapes or line breaks (a trailing CR is dropped by docker's line scanner), lines
  of at most 64 KiB.

Files are replaced atomically (temp + fsync + rename, 0600) under a lock, so a merge never
loses a concurrent run's keys and a failure leaves the previous file byte for byte.
"""
from __future__ import annotations

import codecs
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import ClassVar, NamedTuple

from automations.errors import StepFailed
from automations.files.atomicfile import check_writable, is_private, locked, read_bytes_if_exists, write_atomic

# The options of a step writing an env file, and the names they accept (also importable from here).
from automations.files.envfile_options import DEFAULT_READERS as DEFAULT_READERS
from automations.files.envfile_options import FORMATS, MODES, READERS, VARIABLE_NAME
from automations.files.envfile_options import EnvFileOptions as EnvFileOptions
from automations.files.envfile_options import ReaderName as ReaderName
from automations.files.envfile_options import readers_option as readers_option

# (No dataclasses and no json at import time: this is imported when a step writes a file.)

class _LazyRegex:
    """A pattern compiled when first used: compiling them all would cost milliseconds each
    time a config loads (step modules import this file), and `re` caches compiled ones."""

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self.pattern = pattern
        self.flags = flags
        self.compiled: re.Pattern[str] | None = None

    def _compiled(self) -> re.Pattern[str]:
        if self.compiled is None:  # kept: the dotenv writer's reader models match thousands of times a write
            self.compiled = re.compile(self.pattern, self.flags)
        return self.compiled

    def match(self, string: str, pos: int = 0) -> re.Match[str] | None:
        return self._compiled().match(string, pos)

    def fullmatch(self, string: str, pos: int = 0) -> re.Match[str] | None:
        return self._compiled().fullmatch(string, pos)

    def search(self, string: str, pos: int = 0) -> re.Match[str] | None:
        return self._compiled().search(string, pos)

    def sub(self, repl: Callable[[re.Match[str]], str], string: str) -> str:
        return self._compiled().sub(repl, string)



KEY_PATTERN = _LazyRegex(VARIABLE_NAME)

# Names bash will not assign, or whose value it does not give back as assigned: a file
# setting them cannot mean the same thing to bash as to anyone else.
BASH_SPECIAL_NAMES = frozenset({
    "_", "BASHOPTS", "BASH_VERSINFO", "EUID", "PPID", "SHELLOPTS", "UID",  # read-only
    "BASHPID", "BASH_ARGC", "BASH_ARGV", "BASH_COMMAND", "BASH_LINENO", "BASH_REMATCH",
    "BASH_SOURCE", "BASH_SUBSHELL", "DIRSTACK", "EPOCHREALTIME", "EPOCHSECONDS", "FUNCNAME",
    "GROUPS", "HISTCMD", "LINENO", "PIPESTATUS", "RANDOM", "SECONDS", "SRANDOM",
})

# What python-dotenv interpolates, quotes or not (dotenv/variables.py); nothing else about
# `$` means anything to it.
PYTHON_DOTENV_VARIABLE = _LazyRegex(r"\$\{[^}:]*(?::-[^}]*)?\}")

# A `$` bash expands inside double quotes: one followed by anything but the end of the
# value or a character bash leaves alone after `$` (checked one by one against bash in
# tests/test_envfile.py). Non-ASCII letters count as expanding: whether they start a name
# depends on the reader's locale.
# Non-ASCII after `$` is literal too: bash's names are ASCII letters, digits and `_` (in any
# locale; checked with bash 5.2 under C and C.UTF-8), so `$é` is not an expansion.
BASH_DOLLAR_EXPANSION = _LazyRegex(r"\$(?![\x01-\x20\"%&')+,./:;<=>\\\]^|}~\x7f-\U0010ffff]|\Z)")

# What Go's unicode.IsSpace calls space: docker trims it from the left of each line.
GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"

# docker's env-file reader is a bufio.Scanner with the default 64 KiB token limit.
DOCKER_MAX_LINE_BYTES = 64 * 1024 - 1


class Entry(NamedTuple):
    """One piece of an existing env file: a binding (`key` set) or anything else (comments,
    blank lines), with its exact text so a merge keeps what it does not own byte for byte."""

    key: str | None
    value: str | None
    raw: str


class EnvFileSyntaxError(StepFailed):
    """An existing file a merge cannot read; the message names the line, never a value."""


class EnvFormat(ABC):
    """One env-file format: how values are written and how a file is read back."""

    name: ClassVar[str]
    suggestion: ClassVar[str] = ""

    def check_key(self, key: str) -> None:
        if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
            raise StepFailed(f"invalid variable name {key!r}: it must match ^[A-Za-z_][A-Za-z0-9_]*$")

    def check_value(self, key: str, value: str) -> None:
        if not isinstance(value, str):
            raise StepFailed(f"{key}: the value is a {type(value).__name__}, not a string")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise StepFailed(f"{key}: the value is not valid Unicode text (it holds a lone surrogate)") from None

    def check(self, values: Mapping[str, str]) -> None:
        for key, value in values.items():
            self.check_key(key)
            self.check_value(key, value)

    def refuse(self, key: str, reason: str) -> StepFailed:
        return StepFailed(f"{key}: {reason}; {self.name} cannot write it" +
                          (f" ({self.suggestion})" if self.suggestion else ""))

    def values(self, text: str) -> dict[str, str]:
        """What this module reads from `text` (the last binding of a key wins)."""
        return {e.key: e.value for e in self.parse(text) if e.key is not None and e.value is not None}

    @abstractmethod
    def render(self, values: Mapping[str, str], existing: str | None = None) -> str:
        """The file's new text: `values` alone, or merged into the `existing` text.
        Raises StepFailed naming the key for what cannot be written."""

    @abstractmethod
    def parse(self, text: str) -> list[Entry]:
        """The entries of an existing file. Raises EnvFileSyntaxError naming the line."""


class LineFormat(EnvFormat):
    """A format of one binding after another; a merge edits the file in place."""

    def check_value(self, key: str, value: str) -> None:
        super().check_value(key, value)
        if "\0" in value:  # every line format becomes environment variables, which cannot
            raise self.refuse(key, "the value holds a NUL character, which no environment variable can")

    def render(self, values: Mapping[str, str], existing: str | None = None) -> str:
        self.check(values)
        if existing is None:
            return "".join(self.encode(key, value) for key, value in values.items())
        return self.merge(values, existing)

    def merge(self, values: Mapping[str, str], existing: str) -> str:
        """Our keys replace their first binding in place (later duplicates go, or they would
        win); everything else stays byte for byte; new keys are appended in order."""
        written: set[str] = set()
        parts: list[str] = []
        for entry in self.parse(existing):
            if entry.key is not None and entry.key in values:
                if entry.key not in written:
                    parts.append(self.encode(entry.key, values[entry.key]))
                    written.add(entry.key)
                continue
            parts.append(entry.raw)
        text = "".join(parts)
        if text and not text.endswith("\n"):
            text += "\n"
        return text + "".join(self.encode(k, v) for k, v in values.items() if k not in written)

    @abstractmethod
    def encode(self, key: str, value: str) -> str:
        """One binding, ending in a newline. Raises StepFailed naming the key."""


class DotenvFormat(LineFormat):
    name = "dotenv"
    suggestion = "use format: shell or format: json for it"

    def __init__(self, readers: Iterable[str] = DEFAULT_READERS) -> None:
        self.readers = tuple(dict.fromkeys(readers))
        self._lines_written: dict[tuple[str, str], str] = {}  # check_value's work, reused by encode
        for reader in self.readers:
            if reader not in READERS:
                raise StepFailed(f"unknown dotenv reader {reader!r} (known: {', '.join(READERS)})")

    def check_key(self, key: str) -> None:
        super().check_key(key)
        if "bash" in self.readers:
            _check_bash_name(key)

    def check_value(self, key: str, value: str) -> None:
        super().check_value(key, value)
        self.encode(key, value)

    def encode(self, key: str, value: str) -> str:
        from automations.files import envreaders

        if (key, value) in self._lines_written:
            return self._lines_written[key, value]
        line = envreaders.encode(key, value, self.readers)
        if line is None:
            raise StepFailed(envreaders.refusal(key, value, self.readers))
        self._lines_written[key, value] = line + "\n"
        return line + "\n"

    def merge(self, values: Mapping[str, str], existing: str) -> str:
        """The merge, then every named reader must read the whole result as we do."""
        from automations.files import envreaders

        text = super().merge(values, existing)
        lines = {**self._lines(text), **{k: n for k, n in self._lines(existing).items() if k not in values}}
        try:
            envreaders.check_readback(text, self.values(text), lines, self.readers)
        except envreaders.UnreadableFile as error:
            raise EnvFileSyntaxError(f"{error} (fix that line, or drop the reader from readers)") from None
        return text

    def _lines(self, text: str) -> dict[str, int]:
        """The line of each key's last binding (the one that wins)."""
        lines: dict[str, int] = {}
        position = 0
        for raw, match in _scan(_DOTENV_BINDING, text, self.name):
            key = match.group("qkey") or match.group("key")
            if key:
                lines[key] = text.count("\n", 0, position) + 1
            position += len(raw)
        return lines

    def parse(self, text: str) -> list[Entry]:
        entries = []
        for raw, match in _scan(_DOTENV_BINDING, text, self.name):
            key = match.group("qkey") or match.group("key")
            entries.append(Entry(key, _dotenv_value(match) if key else None, raw))
        return entries


class ShellFormat(LineFormat):
    name = "shell"
    suggestion = "use format: json for it"

    def check_key(self, key: str) -> None:
        super().check_key(key)
        _check_bash_name(key)

    def encode(self, key: str, value: str) -> str:
        return "export " + key + "='" + value.replace("'", "'\\''") + "'\n"

    def parse(self, text: str) -> list[Entry]:
        entries = []
        for raw, match in _scan(_SHELL_BINDING, text, self.name):
            key = match.group("key")
            entries.append(Entry(key, _shell_value(match.group("word")) if key else None, raw))
        return entries


class JsonFormat(EnvFormat):
    name = "json"

    def render(self, values: Mapping[str, str], existing: str | None = None) -> str:
        import json

        self.check(values)
        merged = self._object(existing) if existing is not None else {}
        merged.update(values)
        return json.dumps(merged, indent=2, ensure_ascii=False) + "\n"

    def parse(self, text: str) -> list[Entry]:
        import json

        return [Entry(k, v if isinstance(v, str) else json.dumps(v), "") for k, v in self._object(text).items()]

    def _object(self, text: str) -> dict[str, object]:
        import json

        if not text.strip():
            return {}
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise EnvFileSyntaxError(f"line {error.lineno} column {error.colno}: not valid JSON ({error.msg})") from None
        if not isinstance(data, dict):
            raise EnvFileSyntaxError(f"it holds a JSON {type(data).__name__}, not an object")
        return data


class DockerFormat(LineFormat):
    name = "docker"
    suggestion = "use format: dotenv, shell or json for it"

    def check_value(self, key: str, value: str) -> None:
        super().check_value(key, value)
        if "\n" in value or "\r" in value:
            raise self.refuse(key, "the value holds a line break, which docker's env-file format cannot hold")
        if len(key.encode()) + 1 + len(value.encode()) > DOCKER_MAX_LINE_BYTES:
            raise self.refuse(key, "the line would be longer than the 64 KiB docker reads")

    def encode(self, key: str, value: str) -> str:
        return f"{key}={value}\n"

    def parse(self, text: str) -> list[Entry]:
        # docker/cli pkg/kvfile: lines split at \n only (a trailing \r dropped), trimmed on
        # the left (Go's unicode.IsSpace); `#` first makes a comment; the name ends at the
        # first `=` and may not hold a space or tab; the value is the rest, as it is; a name
        # alone takes its value from docker's own environment.
        entries = []
        for number, raw in enumerate(re.findall(r"[^\n]*\n|[^\n]+\Z", text), start=1):
            line = raw[:-1] if raw.endswith("\n") else raw
            line = line[:-1] if line.endswith("\r") else line
            if number == 1:
                line = line.removeprefix("\ufeff")
            line = line.lstrip(GO_SPACE)
            if not line or line.startswith("#"):
                entries.append(Entry(None, None, raw))
                continue
            key, equals, value = line.partition("=")
            key = key.lstrip(" \t")
            if not key or " " in key or "\t" in key:
                raise EnvFileSyntaxError(f"line {number}: no variable name, or one with a space or tab")
            entries.append(Entry(key, value if equals else None, raw))
        return entries


FORMAT_CLASSES: dict[str, type[EnvFormat]] = {
    cls.name: cls for cls in (DotenvFormat, ShellFormat, JsonFormat, DockerFormat)
}


def env_format(name: str, readers: Iterable[str] | None = None) -> EnvFormat:
    """The format `name`; `readers` (dotenv only) name the programs its files must suit."""
    if name == "dotenv":
        return DotenvFormat(DEFAULT_READERS if readers is None else readers)
    try:
        return FORMAT_CLASSES[name]()
    except KeyError:
        raise StepFailed(f"unknown env file format {name!r} (known: {', '.join(FORMATS)})") from None


class EnvFileWriter:
    """Writes one env file: all of the values or nothing, atomically, 0600."""

    def __init__(self, path: Path | str, fmt: str = "dotenv", mode: str = "replace",
                 readers: Iterable[str] | None = None) -> None:
        self.path = Path(path)
        self.fmt = fmt
        self.mode = mode
        self.format = env_format(fmt, readers)
        if mode not in MODES:
            raise StepFailed(f"unknown env file mode {self.mode!r} (known: {', '.join(MODES)})")

    def check(self, values: Mapping[str, str]) -> None:
        """Refuse what cannot be written, before anything is written (dry runs, early checks)."""
        self.format.check(values)

    def render(self, values: Mapping[str, str], existing: str | None) -> bytes:
        try:
            return self.format.render(values, existing).encode("utf-8")
        except EnvFileSyntaxError as error:
            raise StepFailed(f"cannot merge into {self.path}: {error} (fix the file or use mode: replace)") from None

    def write(self, values: Mapping[str, str]) -> bool:
        """Write the file; False when it already held exactly these bytes, privately."""
        self.check(values)  # fail before taking the lock or touching anything
        with locked(self.path):
            old = self._read()
            existing = None
            if old is not None and self.mode == "merge":
                try:
                    existing = old.decode("utf-8")
                except UnicodeDecodeError:
                    raise StepFailed(f"cannot merge into {self.path}: it is not UTF-8 text") from None
            data = self.render(values, existing)
            if old == data and is_private(self.path):
                return False
            write_atomic(self.path, data, mode=0o600)
            return True

    def _read(self) -> bytes | None:
        return read_bytes_if_exists(self.path)


class EnvFile:
    """An env file as a step's `VariableFile` (automations.engine.variables): where `run` keeps
    the variables (`ctx.deliver(values, EnvFile(...))`), and what `exec` leaves unwritten."""

    kind = "env-file"
    points_to: Mapping[str, str] = {}

    def __init__(self, path: Path | str, *, name: str | None = None, fmt: str = "dotenv", mode: str = "replace",
                 readers: Iterable[str] | None = None) -> None:
        self.path = Path(path)
        self.name = name or str(path)   # as automations.yaml wrote it, for messages
        self.writer = EnvFileWriter(self.path, fmt, mode, readers)

    def check(self) -> None:
        check_writable(self.path)

    def write(self, values: Mapping[str, str]) -> bool:
        return self.writer.write(values)


def write_env_file(path: Path | str, values: Mapping[str, str], *, fmt: str = "dotenv",
                   mode: str = "replace", readers: Iterable[str] | None = None) -> None:
    """Write `values` to `path` in format `fmt` (dotenv, shell, json, docker), replacing the
    file or merging into it; all or nothing, atomically, 0600. Raises StepFailed naming the
    key (never the value) for a bad name or a value the format cannot hold."""
    EnvFileWriter(Path(path), fmt, mode, readers).write(values)


def read_env_file(path: Path | str, fmt: str = "dotenv") -> dict[str, str]:
    """The values an env file we wrote holds, read by this module's own parser."""
    return env_format(fmt).values(Path(path).read_bytes().decode("utf-8"))  # no newline translation


# -- parsing helpers ----------------------------------------------------------------------

# python-dotenv's grammar (dotenv/parser.py), one binding or comment at a time.
_DOTENV_BINDING = _LazyRegex(r"""
    [^\S\r\n]*
    (?:export[^\S\r\n]+)?
    (?:
        (?:'(?P<qkey>[^']+)'|(?P<key>(?!')[^=\#\s]+))
        [^\S\r\n]*
        (?P<eq>(?=(?P<eqspace>=[^\S\r\n]*))(?P=eqspace))?  # all the space, as python-dotenv takes it (atomic)
        (?(eq)
            (?:'(?P<sq>(?:\\.|[^'\\])*)'
              |"(?P<dq>(?:\\.|[^"\\])*)"
              |(?P<uq>(?!['"])[^\r\n]*))
        )
    )?
    [^\S\r\n]*(?:\#[^\r\n]*)?
    [^\S\r\n]*(?:\r\n|\n|\r|\Z)
""", re.VERBOSE | re.DOTALL)

# The assignments a shell file of ours holds: `[export ]NAME=WORD`, WORD made of quoted and
# plain parts but nothing the shell would expand ($, backticks, ~) or treat as syntax.
_SHELL_BINDING = _LazyRegex(r"""
    [^\S\n]*
    (?:
        (?:export[^\S\n]+)?
        (?P<key>[A-Za-z_][A-Za-z0-9_]*)=
        (?P<word>(?:'[^']*'|\\[\s\S]|"(?:[^"\\$`]|\\[\s\S])*"|[^\s'"\\;&|<>()$`~])*)
    )?
    [^\S\n]*(?:\#[^\n]*)?(?:\n|\Z)
""", re.VERBOSE)

_DOTENV_SQ_ESCAPE = _LazyRegex(r"\\[\\']")
_DOTENV_DQ_ESCAPE = _LazyRegex(r"\\[\\'\"abfnrtv]")


def _scan(pattern: _LazyRegex, text: str, fmt: str) -> list[tuple[str, re.Match[str]]]:
    out = []
    pos = 0
    while pos < len(text):
        match = pattern.match(text, pos)
        if match is None or match.end() == pos:
            start = len(text) - len(text[pos:].lstrip())
            line = text.count("\n", 0, start) + 1
            raise EnvFileSyntaxError(f"line {line}: cannot be read as {fmt}")
        out.append((match.group(0), match))
        pos = match.end()
    return out


def _dotenv_value(match: re.Match[str]) -> str | None:
    if match.group("eq") is None:
        return None
    if match.group("sq") is not None:
        return _DOTENV_SQ_ESCAPE.sub(lambda m: m.group(0)[1], match.group("sq"))
    if match.group("dq") is not None:
        return _DOTENV_DQ_ESCAPE.sub(lambda m: codecs.decode(m.group(0), "unicode-escape"), match.group("dq"))
    unquoted = match.group("uq") or ""
    if len(match.group("eq")) > 1 and unquoted.startswith("#"):
        return ""  # `KEY= # comment`: an empty value and a comment
    return re.sub(r"\s+#.*", "", unquoted).rstrip()


def _shell_value(word: str) -> str:
    from automations.files.envreaders.bash import word_value

    value = word_value(word)  # what bash assigns (_SHELL_BINDING admits no `$` or backtick outside '...')
    if value is None:
        raise EnvFileSyntaxError("a value there would be expanded by the shell")
    return value


def _check_bash_name(key: str) -> None:
    if key in BASH_SPECIAL_NAMES:
        raise StepFailed(f"invalid variable name {key!r}: bash does not let a file set it (choose another name)")
