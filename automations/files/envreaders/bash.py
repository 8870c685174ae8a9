"""bash, `set -a; . FILE`: the file is a shell script.

Rules (the POSIX shell grammar as bash implements it): `[export ]KEY=WORD`, WORD made of
`'...'` (literal, no `'` inside), `"..."` (a backslash escapes only `$`, a backtick, `"`, a backslash and a newline;
`$` and backticks expand), `\\x` (x) and plain characters; a space ends the word and a `#`
after it starts a comment. This model reads only lines that assign without expanding or
running anything: a `$` that bash expands or a backtick makes the value unknown (None), and
a line that is not an assignment, a comment or blank makes the file unreadable.
"""
from __future__ import annotations

import re

from automations.files.envreaders import UnreadableFile, line_of

SOURCE = "bash(1), QUOTING and Parameter Expansion; checked against bash itself"

# A word is taken whole (the lookahead and backreference make it atomic): a `#` inside a word
# is part of it, a comment starts only after a blank. Blanks are space and tab; newline ends
# the command; any other character (CR, Unicode spaces) is part of the word.
_LINE = re.compile(r"""
    [ \t]*
    (?:(?:export[ \t]+)?(?P<key>[A-Za-z_][A-Za-z0-9_]*)=
       (?=(?P<word>(?:'[^']*'|"(?:[^"\\]|\\[\s\S])*"|\\[\s\S]|[^ \t\n'"\\;&|<>()])*))(?P=word)
       (?:[ \t]+(?:\#[^\n]*)?)?
     |\#[^\n]*)?
    (?:\n|\Z)
""", re.VERBOSE)
_PART = re.compile(r"""'([^']*)'|"((?:[^"\\]|\\[\s\S])*)"|\\([\s\S])|([^'"\\]+)""")
_DQ_PART = re.compile(r"""\\([$`"\\\n])|(\$)|(`)|(\\|[^\\$`]+)""")


class _Command(Exception):
    """A backtick or `$(`: bash runs a command."""


def _double_quoted(body: str) -> str | None:
    from automations.files.envfile import BASH_DOLLAR_EXPANSION

    out = []
    for part in _DQ_PART.finditer(body):
        escaped, dollar, backtick, other = part.groups()
        if escaped is not None:
            out.append("" if escaped == "\n" else escaped)
        elif dollar is not None:
            if body.startswith("$(", part.start()):
                raise _Command
            if BASH_DOLLAR_EXPANSION.match(body, part.start()):
                return None
            out.append("$")
        elif backtick is not None:
            raise _Command
        else:
            out.append(other)
    return "".join(out)


def word_value(word: str) -> str | None:
    """What bash assigns from WORD (quotes and escapes removed); None where it would expand."""
    out = []
    for part in _PART.finditer(word):
        single, double, escaped, plain = part.groups()
        if single is not None:
            out.append(single)
        elif double is not None:
            decoded = _double_quoted(double)
            if decoded is None:
                return None
            out.append(decoded)
        elif escaped is not None:
            out.append("" if escaped == "\n" else escaped)
        else:
            if "`" in plain or "$(" in plain:
                raise _Command
            if "$" in plain or (part.start() == 0 and plain.startswith("~")) or ":~" in plain:
                return None
            out.append(plain)
    return "".join(out)


def read(text: str) -> dict[str, str | None]:
    values: dict[str, str | None] = {}
    pos = 0
    while pos < len(text):
        match = _LINE.match(text, pos)
        if match is None or match.end() == pos:
            raise UnreadableFile(line_of(text, pos), "would not read it as assignments")
        if match.group("key"):
            try:
                values[match.group("key")] = word_value(match.group("word"))
            except _Command:  # where a command ends is bash's business, not this model's
                raise UnreadableFile(line_of(text, pos), "would run a command") from None
        pos = match.end()
    return values
