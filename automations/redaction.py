"""One redactor for everything that prints.

Any step registers the secret values it handles (tokens, keys, secret values) with
`REDACTOR.add()` before anything could print them; every line of output, every log record,
every error message and every line a `run` step's child prints passes through
`REDACTOR.redact()`.
"""
from __future__ import annotations

import re
import threading

MASK = "***"

# A secret shorter than this is not masked: masking "1" or "ab" would make every line
# unreadable and hides nothing an attacker could not guess.
MIN_SECRET_LENGTH = 4


class Redactor:
    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def add(self, secret: str | bytes | None) -> None:
        """Mask this value from now on. Multi-line values are also masked line by line,
        because output is printed (and so matched) a line at a time."""
        if secret is None:
            return
        if isinstance(secret, bytes):
            secret = secret.decode("utf-8", "replace")
        candidates = {secret, secret.strip(), *secret.splitlines()}
        fresh = {c.strip() for c in candidates if len(c.strip()) >= MIN_SECRET_LENGTH}
        with self._lock:
            if fresh <= self._secrets:
                return
            self._secrets |= fresh
            # Compiled when next needed: a step registering a hundred secrets in a row
            # would otherwise compile a hundred ever longer patterns (O(n^2)).
            self._pattern = None

    def redact(self, text: str) -> str:
        if not text:
            return text
        pattern = self._pattern or self._compile()
        if pattern is None:
            return text
        return pattern.sub(MASK, text)

    def _compile(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._pattern is None and self._secrets:
                # Longest first, so a secret that contains another is masked whole.
                ordered = sorted(self._secrets, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(s) for s in ordered))
            return self._pattern

    def clear(self) -> None:
        with self._lock:
            self._secrets.clear()
            self._pattern = None


REDACTOR = Redactor()
