"""Node's `dotenv` package, current major (18), `parse()` / `config()` with their defaults.

Rules (lib/main.js, `LINE` and `parse`, unchanged from 16 to 18; `fast: true` is another
parser and not the default): CR LF and lone CR become LF; then one regular expression,
applied again and again, takes `[export ]KEY=` and a value: `'...'`, `"..."` or `` `...` ``
(a backslash before the quote char does not end it; may span lines; the closing quote must
end the line but for space and a `# comment`), or else everything up to a `#` or the end of
the line. The value is trimmed, one pair of matching quotes removed, and in double quotes
`\\n` and `\\r` become LF and CR; no other escapes, no variables. A later match may start
anywhere a line starts, so an unclosed quote can swallow the lines after it.

Python's `re` stands in for JavaScript's: `\\s`, `.`, `^` and `$` (multiline) are spelled out
with JavaScript's meaning.
"""
from __future__ import annotations

import re

SOURCE = "motdotla/dotenv: lib/main.js (LINE, parse)"

_JS_SPACE = "\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_S = f"[{_JS_SPACE}]"
_JS_TRIM = _JS_SPACE.replace("\u2000-\u200a", "".join(map(chr, range(0x2000, 0x200B))))  # String.prototype.trim
_DOT = "[^\n\r\u2028\u2029]"
_BOL = "(?:(?<=[\n\r\u2028\u2029])|\\A)"
_EOL = "(?=[\n\r\u2028\u2029]|\\Z)"

# /(?:^|^)\s*(?:export\s+)?([\w.-]+)(?:\s*=\s*?|:\s+?)(\s*'(?:\\'|[^'])*'|\s*"(?:\\"|[^"])*"
#  |\s*`(?:\\`|[^`])*`|[^#\r\n]+)?\s*(?:#.*)?(?:$|$)/mg
_LINE = re.compile(
    f"{_BOL}{_S}*(?:export{_S}+)?([A-Za-z0-9_.-]+)(?:{_S}*={_S}*?|:{_S}+?)"
    f"({_S}*'(?:\\\\'|[^'])*'|{_S}*\"(?:\\\\\"|[^\"])*\"|{_S}*`(?:\\\\`|[^`])*`|[^#\r\n]+)?"
    f"{_S}*(?:#{_DOT}*)?{_EOL}")
# value.replace(/^(['"`])([\s\S]*)\1$/mg, '$2')
_QUOTES = re.compile(f"{_BOL}(['\"`])([\\s\\S]*)\\1{_EOL}")


def read(text: str) -> dict[str, str | None]:
    text = re.sub("\r\n?", "\n", text)
    values: dict[str, str | None] = {}
    for match in _LINE.finditer(text):
        value = (match.group(2) or "").strip(_JS_TRIM)
        quote = value[:1]
        value = _QUOTES.sub(r"\2", value)
        if quote == '"':
            value = value.replace("\\n", "\n").replace("\\r", "\r")
        values[match.group(1)] = value
    return values
