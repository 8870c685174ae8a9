"""The programs that read a `dotenv` file, one small model of each, and the choice of how to
write a value so that every reader named in a step's `readers:` reads it back as it was.

Each module beside this one ports one reader's parser from its source (the module says which
file and version): `read(text)` gives what that reader makes of a whole file, `None` for a
value it would change by substituting a variable or running a command, and raises
`UnreadableFile` where it would refuse the file or lose track of its lines. The models are
checked against the real readers in tests/test_envreaders.py; nothing here runs a reader.

Writing a value means trying a few forms (single quotes, double quotes with and without
escapes, no quotes) and taking the first that every named reader reads back identically,
with a line of ours after it still read as written (so a value cannot swallow the lines that
follow). A value no form can carry is refused, naming the reader to drop.
"""
from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable, Mapping
from types import ModuleType

READER_MODULES: dict[str, str] = {
    "python-dotenv": "python_dotenv",
    "node-dotenv": "node_dotenv",
    "bash": "bash",
    "godotenv": "godotenv",
    "ruby-dotenv": "ruby_dotenv",
    "direnv": "direnv",
}
DEFAULT_READERS: tuple[str, ...] = ("python-dotenv", "node-dotenv", "bash")


class UnreadableFile(Exception):
    """A reader would refuse the file, or read its lines otherwise than they are laid out."""

    def __init__(self, line: int, reason: str = "cannot read it") -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


def line_of(text: str, position: int) -> int:
    return text.count("\n", 0, position) + 1


class Substituted(Exception):
    """A reader would put something else (a variable's value, a command's output) in a value."""


def unescape_variables(pattern: re.Pattern[str], value: str, name_group: int) -> str:
    """The Ruby-dotenv way, which godotenv copied: `pattern` matches an optional backslash
    (group 1), `$`, and a name (group `name_group`); an escaped match loses its backslash, a
    name raises Substituted, anything else stays."""
    def replace(match: re.Match[str]) -> str:
        if match.group(1) == "\\":
            return match.group(0)[1:]
        if match.group(name_group):
            raise Substituted
        return match.group(0)
    return pattern.sub(replace, value)


_MODELS: dict[str, ModuleType] = {}

# The order readers are asked in: the quickest models first (all() stops at the first no).
_COST_ORDER = ("bash", "ruby-dotenv", "direnv", "node-dotenv", "godotenv", "python-dotenv")


def model(name: str) -> ModuleType:
    if name not in _MODELS:
        _MODELS[name] = importlib.import_module(f"{__name__}.{READER_MODULES[name]}")
    return _MODELS[name]


# -- the forms a value can be written in --------------------------------------------------

def _escape(value: str, chars: str) -> str:
    out = value.replace("\\", "\\\\").replace('"', '\\"')
    for char, escaped in (("$", "\\$"), ("`", "\\`"), ("\n", "\\n"), ("\r", "\\r")):
        if char in chars:
            out = out.replace(char, escaped)
    return out


FORMS: tuple[Callable[[str], str], ...] = (
    lambda v: f"'{v}'",
    lambda v: '"' + _escape(v, "") + '"',
    lambda v: f'"{v}"',
    lambda v: v,
    lambda v: '"' + _escape(v, "$`") + '"',
    lambda v: '"' + _escape(v, "\n\r") + '"',
    lambda v: '"' + _escape(v, "$`\n\r") + '"',
    lambda v: '"' + v.replace("\n", "\\n").replace("\r", "\\r") + '"',  # node-dotenv unescapes only these
)

# What may follow a value: comments ending in each quote char (where a quote left open by the
# value would close) and lines of ours. A form must leave them all read as written.
_NEXT = "#'\n#\"\n#`\nAUTOMATIONS_NEXT='next'\n"
_NEXT_VALUES = {"AUTOMATIONS_NEXT": "next"}

# Single quotes around a value without these characters read back the same with every reader.
_PLAIN = re.compile(r"[^'\\$\n\r\0]*")


def reads_back(name: str, line: str, key: str, value: str) -> bool:
    """Whether reader `name` reads `line` (`KEY=<form>`), followed by lines of ours, as `value`."""
    try:
        values: dict[str, str | None] = model(name).read(line + "\n" + _NEXT)
        return values == {key: value, **_NEXT_VALUES}
    except UnreadableFile:
        return False


def forms_read_back(key: str, value: str, readers: Iterable[str]) -> Iterable[str]:
    """The lines (no newline) writing `value` that every reader in `readers` reads back."""
    readers = sorted(readers, key=_COST_ORDER.index)
    tried = set()
    for form in FORMS:
        line = f"{key}={form(value)}"
        if line not in tried and all(reads_back(name, line, key, value) for name in readers):
            yield line
        tried.add(line)


def encode(key: str, value: str, readers: tuple[str, ...]) -> str | None:
    """The first line of FORMS that every reader reads back as `value`, or None."""
    if _PLAIN.fullmatch(value):
        return f"{key}='{value}'"
    return next(iter(forms_read_back(key, value, readers)), None)


def refusal(key: str, value: str, readers: tuple[str, ...]) -> str:
    """Why no form carries `value`, naming the readers (never the value)."""
    alone = [name for name in readers if encode(key, value, tuple(r for r in readers if r != name)) is not None]
    if alone:
        names = " or ".join(alone)
        return (f"{key}: {' and '.join(alone)} would read this value differently in every quoting the other "
                f"readers read back; use format: shell or format: json for it, or drop {names} from readers")
    return (f"{key}: no quoting of this value reads back the same with {', '.join(readers)}; "
            f"use format: shell or format: json for it, or name fewer readers")


def check_readback(text: str, expected: Mapping[str, str], lines: Mapping[str, int],
                   readers: Iterable[str]) -> None:
    """Raise UnreadableFile naming the line where a reader would not read `text` as `expected`."""
    for name in readers:
        try:
            got = model(name).read(text)
        except UnreadableFile as error:
            raise UnreadableFile(error.line, f"{name} {error.reason}") from None
        for key, value in expected.items():
            if got.get(key) != value:
                raise UnreadableFile(lines.get(key, 0), f"{name} would read {key} differently")
        for key in got.keys() - expected.keys():
            match = re.search(rf"^[^\S\n]*(?:export\s+)?{re.escape(key)}\b", text, re.M)
            raise UnreadableFile(line_of(text, match.start()) if match else 0,
                                 f"{name} would read a variable {key} there")
