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
stands alone, not directly after or before a letter or digit: masking `5432` or `app`
everywhere would turn `154321` and `application` into noise and hide nothing. Their
derived forms (encodings, lines of a multi-line value) are not registered at all when they
would be that short: they are not secrets on their own.

Speed: one compiled regular expression, a trie of every value's first MATCH_PREFIX
characters (one path per distinct prefix, so the work per character of output does not
grow with the number of values, unlike an alternation of the values), followed by a
comparison of the rest of the candidates found there. bench/redaction.py measures it.
"""
from __future__ import annotations

import re
import threading
from typing import Any

MASK = "***"
SHORT_SECRET_LENGTH = 8
# How much of each value the regular expression matches; the rest is compared at the few
# places a prefix matched. Long values (a 63 KB certificate) cost no more to compile and
# search than a value of this length.
MATCH_PREFIX = 24
JWT_SHAPE = r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"


def printable_forms(value: str) -> tuple[set[str], set[str]]:
    """(the value and its lines, its encoded forms): every way the value can be printed."""
    import base64
    import json
    import urllib.parse

    whole = value.strip()
    lines = {line.strip() for line in whole.splitlines()} - {whole}
    encoded = {json.dumps(whole)[1:-1], json.dumps(whole, ensure_ascii=False)[1:-1],
               urllib.parse.quote(whole, safe=""), urllib.parse.quote_plus(whole, safe="")}
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
        self._matcher: _Matcher | None = None
        self._lock = threading.Lock()

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
            if fresh <= self._masked:
                return
            self._masked |= fresh
            # Built when next needed: a step registering a hundred secrets in a row would
            # otherwise build a hundred ever larger matchers (O(n^2)).
            self._matcher = None

    def is_short(self, value: str) -> bool:
        """Whether `value` is registered and so short it is masked only where it stands alone."""
        whole = value.strip()
        return whole in self._values and len(whole) < SHORT_SECRET_LENGTH

    def redact(self, text: str) -> str:
        if not text:
            return text
        matcher = self._matcher or self._build()
        return matcher.redact(text)

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

    def _build(self) -> _Matcher:
        with self._lock:
            if self._matcher is None:
                self._matcher = _Matcher(self._masked)
            return self._matcher

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._masked.clear()
            self._matcher = None


REDACTOR = Redactor()


class _Matcher:
    """Finds, left to right, the longest masked form starting at each position (or a JWT)."""

    def __init__(self, forms: set[str]) -> None:
        self._forms = frozenset(forms)
        self._longer: dict[str, list[str]] = {}   # MATCH_PREFIX characters -> forms longer than that
        prefixes = set()
        for form in forms:
            prefix = form[:MATCH_PREFIX]
            prefixes.add(prefix)
            if len(form) > MATCH_PREFIX:
                self._longer.setdefault(prefix, []).append(form)
        for candidates in self._longer.values():
            candidates.sort(key=len, reverse=True)
        alternatives = [f"(?P<jwt>{JWT_SHAPE})"]
        if prefixes:
            alternatives.append(_trie_pattern(prefixes))
        self._pattern = re.compile("|".join(alternatives))

    def redact(self, text: str) -> str:
        search = self._pattern.search
        found = search(text)
        if found is None:
            return text
        parts = []
        done = 0   # text[:done] is in parts
        while found is not None:
            start = found.start()
            end = found.end() if found.group("jwt") else self._end_of_form(text, start, found.group())
            if end is None:
                found = search(text, start + 1)
                continue
            parts.append(text[done:start])
            parts.append(MASK)
            done = end
            found = search(text, end)
        parts.append(text[done:])
        return "".join(parts)

    def _end_of_form(self, text: str, start: int, prefix: str) -> int | None:
        """Where the longest form starting at `start` ends, given the longest prefix there."""
        for form in self._longer.get(prefix, ()):
            if text.startswith(form, start):
                return start + len(form)
        for length in range(len(prefix), 0, -1):
            form = prefix[:length]
            if form in self._forms and (length >= SHORT_SECRET_LENGTH or _stands_alone(text, start, start + length)):
                return start + length
        return None


def _stands_alone(text: str, start: int, end: int) -> bool:
    return not (start > 0 and text[start - 1].isalnum()) and not (end < len(text) and text[end].isalnum())


def _trie_pattern(words: set[str]) -> str:
    """A regular expression matching the longest of `words` at a position: a trie, so that
    each character of the text is compared with the few branches at one node instead of
    with every word (Python's `re` tries an alternation's branches one by one)."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = None   # a word ends here

    def pattern(node: dict[str, Any]) -> str:
        literal = []
        while len(node) == 1 and "" not in node:   # a chain without branches: plain text
            (char, node), = node.items()
            literal.append(re.escape(char))
        branches = [re.escape(char) + pattern(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return "".join(literal)
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        # Greedy: the longer words through this node are tried before the one ending here.
        return "".join(literal) + (f"(?:{body})?" if "" in node else body)

    return pattern(trie)
