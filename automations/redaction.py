"""One redactor for everything that prints.

Any step registers the secret values it handles (tokens, keys, secret values) with
`REDACTOR.add()` before anything could print them; every line of output, every log record,
every error message and every line a `run` step's child prints passes through
`REDACTOR.redact()`, and every JSON event and history record through
`REDACTOR.redact_value()` before it is serialised (issue 10: redacting the JSON text missed
every secret that JSON escapes, such as one holding `"`, `\\`, a tab or `€`).

What is masked, as `***`:
- each registered value, and the forms GitHub Actions masks too: JSON-escaped (with and
  without `\\uXXXX` for non-ASCII), URL-encoded (`%20` and `+` for spaces), and base64 and
  base64url at the three alignments a value can have inside a larger base64 blob (the
  characters that depend on the value alone: the one or two characters shared with a
  neighbouring byte stay, except at the end of the blob, where they are known);
- each line of a multi-line value on its own, since output is printed line by line;
- anything shaped like a JWT (three base64url segments, the first starting `eyJ`), whatever
  its source: a token is a secret before anyone registers it.

Short values: a value shorter than SHORT_SECRET_LENGTH characters is masked only where it
stands alone, not directly after or before a letter, digit or `_`: masking `5432` or `app`
everywhere would turn `154321` and `application` into noise and hide nothing. Their
derived forms (encodings, lines of a multi-line value) are not registered at all when they
would be that short: they are not secrets on their own.

Speed: time linear in the output whatever the number and length of values (see _Matcher;
bench/redaction.py measures it).
"""
from __future__ import annotations

import _thread  # threading.Lock is _thread.allocate_lock; threading itself waits for a run (start-up)
import re
from collections.abc import Callable
from typing import Any

MASK = "***"
SHORT_SECRET_LENGTH = 8
# The length of the pieces of text looked up in the index of forms (see _Matcher).
BLOCK = 4
JWT_SHAPE = r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"


def printable_forms(value: str) -> tuple[set[str], set[str]]:
    """(the value and its lines, its encoded forms): every way the value can be printed."""
    import base64
    import json
    import urllib.parse

    whole = value.strip()
    lines = {line.strip() for line in whole.splitlines()} - {whole}
    # A lone surrogate (JSON's "\udcff", undecodable bytes in os.environ) is encoded as
    # Python would print it, not refused: registering a secret must never fail.
    encoded = {json.dumps(whole)[1:-1], json.dumps(whole, ensure_ascii=False)[1:-1],
               urllib.parse.quote(whole, safe="", errors="surrogatepass"),
               urllib.parse.quote_plus(whole, safe="", errors="surrogatepass")}
    data = whole.encode("utf-8", "surrogatepass")
    for shift in range(3):
        # Only the characters whose six bits all come from the value: a base64 character
        # straddling a neighbouring byte differs with that byte.
        text = base64.b64encode(b"\0" * shift + data).decode("ascii")
        start = -(-shift * 8 // 6)
        core = text[start:(shift + len(data)) * 8 // 6]
        ending = text[start:].rstrip("=")   # the value ends the blob: its last character is known
        encoded |= {core, ending, *(form.replace("+", "-").replace("/", "_") for form in (core, ending))}
    return {whole, *lines}, encoded - {whole}


class Redactor:
    def __init__(self) -> None:
        self._values: set[str] = set()      # registered values (stripped): what is_short() knows
        self._masked: set[str] = set()      # every form masked
        self._matcher = _Matcher()
        self._lock = _thread.allocate_lock()
        self._by_first: dict[str, list[str]] = {}   # first character -> forms: what unsafe_tail looks through

    def add(self, secret: str | bytes | None) -> None:
        """Mask this value, and every form it can be printed in, from now on."""
        if secret is None:
            return
        if isinstance(secret, bytes):
            secret = secret.decode("utf-8", "replace")
        whole = secret.strip()
        if not whole or whole in self._values:
            return
        plain, encoded = printable_forms(whole)
        # The whole value is masked whatever its length; a piece of it (a line, an encoding)
        # only when it is long enough to be a secret on its own.
        fresh = {whole} | {form for form in plain | encoded if len(form) >= SHORT_SECRET_LENGTH}
        with self._lock:
            self._values.add(whole)
            # Added to the matcher in place: registering n values costs O(n), not O(n^2).
            self._matcher.add(fresh - self._masked)
            for form in fresh - self._masked:
                self._by_first.setdefault(form[0], []).append(form)
            self._masked |= fresh

    def is_short(self, value: str) -> bool:
        """Whether `value` is registered and so short it is masked only where it stands alone."""
        whole = value.strip()
        return whole in self._values and len(whole) < SHORT_SECRET_LENGTH

    def redact(self, text: str) -> str:
        return self._matcher.redact(text) if text else text

    def safe_end(self, text: str) -> int:
        """Where a stream may cut `text` to hand on the start now (a `read()` may end anywhere):
        before an end that may be the start of a masked form or a JWT that more text would
        complete, and never inside a form found (`text[:cut]` masked alone masks it whole)."""
        cut = len(text) - self._unsafe_tail(text)
        for start, end in self._matcher.spans(text):
            if start < cut < end:
                return start
        return cut

    def _unsafe_tail(self, text: str) -> int:
        """How many characters at the end of `text` may begin a masked form (or a JWT)."""
        jwt = _JWT_START.search(text)
        longest = len(text) - jwt.start() if jwt else 0
        by_first = self._by_first
        for start in range(max(0, len(text) - self._longest() + 1), len(text) - longest):
            tail = text[start:]
            if any(len(form) > len(tail) and form.startswith(tail) for form in by_first.get(text[start], ())):
                return len(tail)
        return longest

    def _longest(self) -> int:
        with self._lock:
            return max((len(form) for form in self._masked), default=0)

    def redact_value(self, value: Any) -> Any:
        """A JSON-able structure with every string in it (keys too) redacted: what is
        serialised afterwards cannot hold a secret in an escaped form the text would hide."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {self.redact_value(k) if isinstance(k, str) else k: self.redact_value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.redact_value(item) for item in value]
        if value is None or isinstance(value, (bool, int, float)):
            return value
        return self.redact(str(value))

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._masked.clear()
            self._by_first.clear()
            self._matcher = _Matcher()


class _Matcher:
    """Finds every masked form (and every JWT) in a text and masks the union of them.

    Python's `re` tries the branches of an alternation one by one, so one pattern of all the
    forms costs time per character that grows with their number (bench/redaction.py: 1,000
    values made 20,000 lines take a minute). Instead, every form of BLOCK*2-1 characters or
    more is indexed by each BLOCK-character piece of its start: any place it occurs in a
    text, one of the text's BLOCK-aligned pieces is one of those. Looking up those pieces
    (a quarter of the text's length, dict lookups) costs the same for ten values as for ten
    thousand; only a hit compares the form itself. The few shorter values (which must stand
    alone) and the JWT shape are regular expressions.
    """

    def __init__(self) -> None:
        self._index: dict[str, list[tuple[str, int]]] = {}   # BLOCK characters -> (form, where in it)
        self._tiny_words: list[str] = []
        self._tiny: re.Pattern[str] | None = None

    def add(self, forms: set[str]) -> None:
        """More forms to mask (called under the Redactor's lock; a concurrent `redact` sees
        each form either not yet or whole)."""
        tiny = [form for form in forms if len(form) < 2 * BLOCK - 1]
        for form in forms:
            if len(form) >= 2 * BLOCK - 1:
                for offset in range(BLOCK):
                    self._index.setdefault(form[offset:offset + BLOCK], []).append((form, offset))
        if tiny:
            self._tiny_words += tiny
            # Longest first, so that of two values starting at one place the longer is masked.
            words = "|".join(re.escape(word) for word in sorted(self._tiny_words, key=len, reverse=True))
            self._tiny = re.compile(rf"(?<!\w)(?:{words})(?!\w)")

    def redact(self, text: str) -> str:
        spans = self.spans(text)
        if not spans:
            return text
        parts = []
        done = 0   # text[:done] is in parts
        for start, end in spans:
            parts.append(text[done:start])
            parts.append(MASK)
            done = end
        parts.append(text[done:])
        return "".join(parts)

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where `text` holds a masked form or a JWT: the union of what was found (of two
        overlapping values, neither shows a piece), in order, disjoint."""
        found = [match.span() for match in _JWT.finditer(text)] if "eyJ" in text else []
        tiny = self._tiny
        if tiny is not None:
            found.extend(match.span() for match in tiny.finditer(text))
        index = self._index
        if index:
            for block in range(0, len(text) - BLOCK + 1, BLOCK):
                candidates = index.get(text[block:block + BLOCK])
                if candidates is not None:
                    found.extend(self._occurrences(text, block, candidates))
        found.sort()
        merged: list[tuple[int, int]] = []
        for start, end in found:
            if merged and start < merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return merged

    @staticmethod
    def _occurrences(text: str, block: int, candidates: list[tuple[str, int]]) -> list[tuple[int, int]]:
        spans = []
        for form, offset in candidates:
            start = block - offset
            end = start + len(form)
            if start >= 0 and text.startswith(form, start) and (
                    len(form) >= SHORT_SECRET_LENGTH or _stands_alone(text, start, end)):
                spans.append((start, end))
        return spans


_JWT = re.compile(JWT_SHAPE)
# The end of a text that may be (the start of) a JWT: "e", "ey", or "eyJ" and what may follow.
_JWT_START = re.compile(r"(?:eyJ[A-Za-z0-9_.-]*|ey|e)\Z")


def _stands_alone(text: str, start: int, end: int) -> bool:
    return not (start > 0 and _is_word(text[start - 1])) and not (end < len(text) and _is_word(text[end]))


def _is_word(character: str) -> bool:
    # `_` joins words in names: a short value `K` must not mangle the variable name `K_B`.
    return character.isalnum() or character == "_"


REDACTOR = Redactor()


class MaskedStream:
    """Bytes as a program writes them, handed on masked (`emit`): each complete line as soon as
    it is read; the start of a line that has no end yet (a prompt) when the writer pauses
    (`flush_partial`), less any end of it that may be the start of a secret the next read
    completes; the rest at `close`.

    Bytes that are not UTF-8 pass through unchanged (binary output survives, decoded with
    surrogateescape), and so does a character split between two reads (held back whole)."""

    MAX_PENDING = 64 * 1024  # a line this long without a newline is handed on in pieces

    def __init__(self, emit: Callable[[bytes], None], redactor: Redactor | None = None) -> None:
        self._emit = emit
        self._redactor = redactor or REDACTOR
        self._pending = b""

    def feed(self, data: bytes) -> None:
        self._pending += data
        end = self._pending.rfind(b"\n") + 1
        if end:
            self._emit(self._masked(self._pending[:end]))
            self._pending = self._pending[end:]
        if len(self._pending) > self.MAX_PENDING:
            self.flush_partial()

    def flush_partial(self) -> None:
        if not self._pending:
            return
        whole, split = _split_character(self._pending)
        text = whole.decode("utf-8", "surrogateescape")
        cut = self._redactor.safe_end(text)
        if cut:
            self._emit(self._masked_text(text[:cut]))
        self._pending = text[cut:].encode("utf-8", "surrogateescape") + split

    def close(self) -> None:
        if self._pending:
            self._emit(self._masked(self._pending))
            self._pending = b""

    def _masked(self, data: bytes) -> bytes:
        return self._masked_text(data.decode("utf-8", "surrogateescape"))

    def _masked_text(self, text: str) -> bytes:
        return self._redactor.redact(text).encode("utf-8", "surrogateescape")


def _split_character(data: bytes) -> tuple[bytes, bytes]:
    """`data` less the start of a UTF-8 character its last bytes may begin, and those bytes."""
    for back in range(1, min(3, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 != 0x80:  # not a continuation byte: the character starts here
            needed = 2 if byte & 0xE0 == 0xC0 else 3 if byte & 0xF0 == 0xE0 else 4 if byte & 0xF8 == 0xF0 else 1
            return (data[:-back], data[-back:]) if needed > back else (data, b"")
    return data, b""
