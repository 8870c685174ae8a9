"""github.com/joho/godotenv 1.5 (`godotenv.Read`, `Parse`).

Rules (parser.go at v1.5.1): CR LF becomes LF. A statement starts at the next non-space
(Go's unicode.IsSpace); `#` there skips to the end of the line. `[export ]KEY=` (or `:`),
space after it skipped. A quoted value ends at the first quote char not right after a
backslash (so `\\\\"` does not end it, and it may span lines); every leading and trailing
quote char of it is trimmed. Single quotes: nothing else. Double quotes: `\\n`, `\\r` become
LF, CR, then a backslash before any char but `$` is dropped. Unquoted: up to the end of the
line, cut at the last ` #`, trimmed. Outside single quotes, `$NAME`, `${NAME}` (NAME of
A-Z 0-9 _) are replaced by earlier values of the file, and `\\$` becomes `$`. An unclosed
quote or a bad name fails the whole file.
"""
from __future__ import annotations

import re

from automations.files.envreaders import Substituted, UnreadableFile, line_of, unescape_variables

SOURCE = "joho/godotenv: parser.go (v1.5.1)"

_GO_UNICODE_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
_IS_SPACE = "\t\v\f\r \x85\xa0"  # parser.go's isSpace: no line breaks
_ESCAPE = re.compile(r"\\.")
_UNESCAPE = re.compile(r"\\([^$])")
_VARIABLE = re.compile(r"(\\)?(\$)(\()?\{?([A-Z0-9_]+)?\}?")


def _expand_variables(value: str) -> str:
    return unescape_variables(_VARIABLE, value, 4)


def _expand_escapes(value: str) -> str:
    value = _ESCAPE.sub(lambda m: {"n": "\n", "r": "\r"}.get(m.group(0)[1], m.group(0)), value)
    return _UNESCAPE.sub(r"\1", value)


def read(text: str) -> dict[str, str | None]:
    text = text.replace("\r\n", "\n")
    values: dict[str, str | None] = {}
    next_pos: int | None = 0
    while next_pos is not None:
        start = _statement_start(text, next_pos)
        if start is None:
            return values
        key, pos = _key(text, start)
        value: str | None
        try:
            value, next_pos = _value(text, pos)
        except Substituted:
            value, next_pos = None, _value_end(text, pos)
        values[key] = value
    return values


def _statement_start(text: str, pos: int) -> int | None:
    while True:
        while pos < len(text) and text[pos] in _GO_UNICODE_SPACE:
            pos += 1
        if pos >= len(text):
            return None
        if text[pos] != "#":
            return pos
        pos = text.find("\n", pos)
        if pos < 0:
            return None


def _key(text: str, pos: int) -> tuple[str, int]:
    start = pos
    while pos < len(text) and text[pos] in _IS_SPACE:
        pos += 1
    if text.startswith("export", pos) and pos + 6 < len(text) and text[pos + 6] in _IS_SPACE:
        pos += 6
        while pos < len(text) and text[pos] in _IS_SPACE:
            pos += 1
    begin, key, offset = pos, "", pos
    for i in range(pos, len(text)):
        char = text[i]
        if char in _IS_SPACE:
            continue
        if char in "=:":
            key, offset = text[begin:i], i + 1
            break
        if char != "_" and not (char.isalpha() or char.isnumeric() or char == "."):
            raise UnreadableFile(line_of(text, start), f"unexpected character {char!r} in a variable name")
    if begin >= len(text):
        raise UnreadableFile(line_of(text, start), "zero length string")
    key = key.rstrip(_GO_UNICODE_SPACE)
    while offset < len(text) and text[offset] in _IS_SPACE:
        offset += 1
    return key, offset


def _value(text: str, pos: int) -> tuple[str, int | None]:
    quote = text[pos] if pos < len(text) and text[pos] in "'\"" else None
    if quote is None:
        end = _line_end(text, pos)
        line = text[pos:end]
        if not line:
            return "", (end if end < len(text) else None)
        end_of_var = len(line)
        for i in range(len(line) - 1, 0, -1):
            if line[i] == "#" and line[i - 1] in _IS_SPACE:
                end_of_var = i
                break
        return _expand_variables(line[:end_of_var].strip(_IS_SPACE)), end
    i = pos + 1
    while True:
        i = text.find(quote, i)
        if i < 0:
            raise UnreadableFile(line_of(text, pos), "unterminated quoted value")
        if text[i - 1] != "\\":
            break
        i += 1
    value = text[pos:i].rstrip(quote).lstrip(quote)
    if quote == '"':
        value = _expand_variables(_expand_escapes(value))
    return value, i + 1


def _value_end(text: str, pos: int) -> int | None:
    """Where the value at `pos` ends, for a value that was expanded (its text is unknown)."""
    if pos < len(text) and text[pos] in "'\"":
        i = pos + 1
        while True:
            i = text.find(text[pos], i)
            if text[i - 1] != "\\":
                return i + 1
            i += 1
    return _line_end(text, pos)


def _line_end(text: str, pos: int) -> int:
    ends = [i for i in (text.find("\n", pos), text.find("\r", pos)) if i >= 0]
    return min(ends) if ends else len(text)
