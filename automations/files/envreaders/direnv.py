"""direnv 2.32, `dotenv` in an `.envrc` (`direnv dotenv json FILE` shows what it loads).

Rules (pkg/dotenv/parse.go, ported from Ruby's dotenv): the file is split at every run of CR
and LF; every line must be blank, a comment, or `[export ]KEY=` then `'...'`, `"..."` (each
to the last such quote on the line) or a bare value without space or `#`, then space and a
comment; any other line fails the whole file. A value of one character is taken as it is.
Single quotes: the text inside. Double quotes: `\\n`, `\\r` become LF, CR, then a backslash
before any char but `$` is dropped. Outside single quotes `$NAME`, `${...}`, `$1`, `$$` ...
are expanded (Go's os.Expand), with no way to escape the `$`.

Go's `\\s` is `[\\t\\n\\f\\r ]` and `\\w` is ASCII.
"""
from __future__ import annotations

import re

from automations.files.envreaders import UnreadableFile, line_of

SOURCE = "direnv/direnv: pkg/dotenv/parse.go (v2.32.1)"

_LINE = re.compile(r"""\A[\t\n\f\r ]*(?:|\#[^\n]*|(?:export[\t\n\f\r ]+)?([A-Za-z0-9_.]+)(?:[\t\n\f\r ]*=[\t\n\f\r ]*|:[\t\n\f\r ]+?)
    ('(?:'|[^'])*'|"(?:"|[^"])*"|[^\t\n\f\r \#\n]+)?[\t\n\f\r ]*(?:\#[^\n]*)?)\Z""", re.VERBOSE)
_SHELL_SPECIAL = set("*#$@!?-0123456789")


def _expands(value: str) -> bool:
    """Whether Go's os.Expand changes `value` (a `$` followed by `{`, a name or a special)."""
    for match in re.finditer(r"\$(?=.)", value, re.S):
        after = value[match.end()]
        if after == "{" or after in _SHELL_SPECIAL or after == "_" or (after.isascii() and after.isalnum()):
            return True
    return False


def _value(value: str) -> str | None:
    if len(value.encode()) <= 1:
        return value
    if value[0] == "'" and value[-1] == "'":
        return value[1:-1]
    if value[0] == '"' and value[-1] == '"':
        value = value[1:-1].replace("\\n", "\n").replace("\\r", "\r")
        value = re.sub(r"\\([^$])", r"\1", value, flags=re.S)
    return None if _expands(value) else value


def read(text: str) -> dict[str, str | None]:
    values: dict[str, str | None] = {}
    for piece in re.finditer(r"[^\r\n]*", text):
        match = _LINE.match(piece.group(0))
        if match is None:
            raise UnreadableFile(line_of(text, piece.start()), "refuses the file (an invalid line)")
        if match.group(1):
            values[match.group(1)] = _value(match.group(2) or "")
    return values
