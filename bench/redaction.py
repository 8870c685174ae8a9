"""Redaction speed: lines per second through `Redactor.redact` (text output) and
`Redactor.redact_value` (a JSON event per line), with many values and long outputs
(issue 10: with a 63 KB secret, 20,000 lines took ~10 s to redact).

Contenders, on the same values and lines:
- `index`: automations.redaction as it is (aligned pieces of the text looked up in an
  index of the forms' first characters);
- `regex`: the same forms in one compiled regular expression, longest first (the usual
  design, and that of f4ed4d8);
- `regex trie`: the same forms in one regular expression shaped as a trie (one branch per
  distinct next character), the usual fix for a slow alternation;
- `f4ed4d8`: the redactor before issue 10 (read with `git show`; skipped without git). It
  registers fewer forms (no encodings; lines of 4+ characters), so it does less work per value.

    .venv/bin/python bench/redaction.py [--lines 20000] [--runs 3] [--no-before]

`index` is measured --runs times (median); the others once, as they are slow (a minute and
more for 20,000 lines with 1,000 values).
"""
from __future__ import annotations

import argparse
import importlib.util
import random
import statistics
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from automations import redaction  # noqa: E402

BEFORE = "f4ed4d8"


def scenarios(rng: random.Random) -> dict[str, list[str]]:
    def token(length: int) -> str:
        return "".join(rng.choice(string.ascii_letters + string.digits + "+/=-_") for _ in range(length))

    pem = "-----BEGIN CERTIFICATE-----\n" + "\n".join(token(64) for _ in range(1000)) + "\n-----END CERTIFICATE-----"
    return {
        "no values (JWT shape only)": [],
        "20 values": [token(rng.randint(12, 40)) for _ in range(20)],
        "1,000 values": [token(rng.randint(12, 40)) for _ in range(1000)],
        "a 63 KB certificate (1,000 lines)": [pem],
        "1,000 values + the certificate": [token(rng.randint(12, 40)) for _ in range(1000)] + [pem],
    }


def output_lines(rng: random.Random, values: list[str], count: int) -> list[str]:
    """Log-like lines of 60-160 characters; one in fifty holds a value (or a line of one)."""
    words = ["step", "ok", "changed", "GET", "/api/v1/items", "200", "took", "12ms", "user", "application",
             "cache", "hit", "miss", "retrying", "connection", "eu-west-1", "2026-12-01T09:00:00Z"]
    pieces = [line for value in values for line in value.splitlines()] or [""]
    lines = []
    for index in range(count):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(8, 20)))
        if values and index % 50 == 0:
            text += " " + rng.choice(pieces)
        lines.append(text)
    return lines


def load_before() -> ModuleType | None:
    try:
        source = subprocess.run(["git", "show", f"{BEFORE}:automations/redaction.py"], cwd=ROOT, check=True,
                                capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(tempfile.mkdtemp(prefix="bench-redaction-")) / "redaction_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("redaction_before", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class RegexMatcher:
    """Every form in one regular expression: an alternation, or a trie of the forms."""

    def __init__(self, forms: set[str], trie: bool) -> None:
        import re

        words = _trie(forms) if trie else "|".join(re.escape(w) for w in sorted(forms, key=len, reverse=True))
        self._pattern = re.compile(f"{redaction.JWT_SHAPE}|{words}")

    def redact(self, text: str) -> str:
        return self._pattern.sub(redaction.MASK, text)


def _trie(words: set[str]) -> str:
    import re

    root: dict[str, Any] = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = None

    def pattern(node: dict[str, Any]) -> str:
        literal = []
        while len(node) == 1 and "" not in node:
            (char, node), = node.items()
            literal.append(re.escape(char))
        branches = [re.escape(char) + pattern(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return "".join(literal)
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return "".join(literal) + (f"(?:{body})?" if "" in node else body)

    return pattern(root)


def regex_redactor(trie: bool) -> Callable[[], Any]:
    class RegexRedactor(redaction.Redactor):
        """Registers the same forms; compiles them into one expression when next needed."""
        _regex: RegexMatcher | None = None
        _compiled = -1

        def redact(self, text: str) -> str:
            if self._regex is None or self._compiled != len(self._masked):
                self._regex, self._compiled = RegexMatcher(self._masked, trie), len(self._masked)
            return self._regex.redact(text)

    return RegexRedactor


def measure(make: Callable[[], Any], values: list[str], lines: list[str], runs: int) -> tuple[float, float, float]:
    """(seconds to register and build, lines/s as text, lines/s as JSON events): medians."""
    builds, texts, events = [], [], []
    for _ in range(runs):
        redactor = make()
        start = time.perf_counter()
        for value in values:
            redactor.add(value)
        redactor.redact("build the matcher")
        builds.append(time.perf_counter() - start)
        start = time.perf_counter()
        for line in lines:
            redactor.redact(line)
        texts.append(len(lines) / (time.perf_counter() - start))
        if hasattr(redactor, "redact_value"):
            start = time.perf_counter()
            for line in lines:
                redactor.redact_value({"event": "output", "task": "boot", "line": line})
            events.append(len(lines) / (time.perf_counter() - start))
    return statistics.median(builds), statistics.median(texts), statistics.median(events) if events else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-before", action="store_true", help=f"skip the redactor of {BEFORE} (slow)")
    args = parser.parse_args()
    before = None if args.no_before else load_before()
    contenders: dict[str, Callable[[], Any]] = {"index": redaction.Redactor, "regex": regex_redactor(trie=False),
                                                "regex trie": regex_redactor(trie=True)}
    if before is not None:
        contenders[BEFORE] = before.Redactor
    print(f"{args.lines:,} lines of 60-160 characters, one in fifty holding a value; "
          f"index: median of {args.runs} runs, the others: one run")
    print(f"{'values':36} {'contender':12} {'register+build':>15} {'text lines/s':>13} {'JSON lines/s':>13}")
    for name, values in scenarios(random.Random(10)).items():
        lines = output_lines(random.Random(11), values, args.lines)
        for contender, make in contenders.items():
            build, text, events = measure(make, values, lines, args.runs if contender == "index" else 1)
            print(f"{name:36} {contender:12} {build * 1000:12.1f} ms {text:13,.0f} "
                  f"{f'{events:,.0f}' if events else '-':>13}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
