"""Ruby's dotenv gem 2.x as Debian 12 packages it (ruby-dotenv 2.4.0), `Dotenv.parse`.

Rules (lib/dotenv/parser.rb, lib/dotenv/substitutions/*.rb): the file is split at every run
of CR and LF (so no value spans lines, and blank lines vanish); a line is `[export ]KEY=`
then `'...'`, `"..."` (each taking everything to the last such quote on the line) or a bare
value up to `#`, then space and a comment. The value is stripped and one pair of quotes
removed. Double quotes: `\\n`, `\\r` become LF, CR, then a backslash before any char but `$`
is dropped. Outside single quotes, `$NAME`, `${NAME}` (any case) are replaced from the
environment and `$(...)` runs a command; a backslash before the `$` prevents both (and is
dropped). A line that does not match is ignored.

Ruby's `\\s` and `\\w` are ASCII; `.` is anything but LF.
"""
from __future__ import annotations

import re

from automations.files.envreaders import Substituted, unescape_variables

SOURCE = "bkeepers/dotenv: lib/dotenv/parser.rb (2.4.0)"

_LINE = re.compile(r"""\A[ \t\n\v\f\r]*(?:export[ \t\n\v\f\r]+)?([A-Za-z0-9_.]+)(?:[ \t\n\v\f\r]*=[ \t\n\v\f\r]*|:[ \t\n\v\f\r]+?)
    ('(?:'|[^'])*'|"(?:"|[^"])*"|[^\#\n]+)?[ \t\n\v\f\r]*(?:\#[^\n]*)?\Z""", re.VERBOSE)
_QUOTED = re.compile(r"""\A(['"])([^\n]*)\1\Z""")
_VARIABLE = re.compile(r"(\\)?(\$)(?!\()\{?([A-Z0-9_]+)?\}?", re.IGNORECASE)
_RUBY_STRIP = "\0\t\n\v\f\r "


def _substitute(value: str) -> str:
    value = unescape_variables(_VARIABLE, value, 3)
    if "$(" in value:
        raise Substituted  # a command, run (or, escaped, kept with its backslash dropped)
    return value


def _value(value: str) -> str | None:
    value = value.strip(_RUBY_STRIP)
    quoted = _QUOTED.match(value)
    quote = quoted.group(1) if quoted else None
    if quoted:
        value = quoted.group(2)
    if quote == '"':
        value = re.sub(r"\\([^$])", r"\1", value.replace("\\n", "\n").replace("\\r", "\r"))
    if quote != "'":
        try:
            value = _substitute(value)
        except Substituted:
            return None
    return value


def read(text: str) -> dict[str, str | None]:
    values: dict[str, str | None] = {}
    for line in re.split(r"[\n\r]+", text):
        match = _LINE.match(line)
        if match:
            values[match.group(1)] = _value(match.group(2) or "")
    return values
