"""How long the dotenv writer takes to choose a form for 1,000 values (issue 12: within a few
milliseconds), with the default readers and with all six, for realistic secrets (tokens,
URLs, passwords with punctuation) and for values that need the slow path (quotes,
backslashes, `$`, line breaks). Rendering only (no disk), then a whole write_env_file.

Usage: .venv/bin/python bench/envfile_write.py [--runs 30]
"""
from __future__ import annotations

import argparse
import random
import statistics
import string
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from automations.files import envreaders  # noqa: E402
from automations.files.envfile import DEFAULT_READERS, READERS, write_env_file  # noqa: E402


def realistic(rng: random.Random, n: int) -> dict[str, str]:
    """API tokens, URLs, base64 keys, passwords with punctuation (no quotes or backslashes)."""
    alphabet = string.ascii_letters + string.digits
    makers = [
        lambda: "".join(rng.choices(alphabet, k=40)),
        lambda: f"postgres://app:{''.join(rng.choices(alphabet, k=16))}@db.internal:5432/app?sslmode=require",
        lambda: "".join(rng.choices(alphabet + "+/", k=88)) + "==",
        lambda: "".join(rng.choices(alphabet + "!@#%^&*()-_=+[]{};:,.<>?~ ", k=24)),
    ]
    return {f"VAR_{i}": makers[i % len(makers)]() for i in range(n)}


def tricky(rng: random.Random, n: int) -> dict[str, str]:
    """Values holding quotes, backslashes, `$` and line breaks: every one takes the slow path."""
    pieces = ["it's", '"q"', "\\", "$x", "a b", "\n", "#", "é", "{}", "=", "\\n"]
    return {f"VAR_{i}": "p" + "".join(rng.choices(pieces, k=5)) for i in range(n)}


def time_render(values: dict[str, str], readers: tuple[str, ...], runs: int) -> tuple[float, float, int]:
    samples, written = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        accepted = {}
        for key, value in values.items():  # the choice of form; a refusal's message is not timed
            if envreaders.encode(key, value, readers) is not None:
                accepted[key] = value
        samples.append(time.perf_counter() - start)
        written = len(accepted)
    return statistics.median(samples) * 1000, min(samples) * 1000, written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    rng = random.Random(12)
    print(f"{'values':<32} {'readers':<14} {'median ms':>9} {'min ms':>8} {'written':>8}")
    for label, values in (("1000 realistic secrets", realistic(rng, 1000)), ("1000 tricky values", tricky(rng, 1000))):
        for name, readers in (("default (3)", DEFAULT_READERS), ("all six", READERS)):
            median, low, written = time_render(values, readers, args.runs)
            print(f"{label:<32} {name:<14} {median:9.2f} {low:8.2f} {written:8d}")
    values = realistic(rng, 1000)
    with tempfile.TemporaryDirectory() as folder:
        samples = []
        for _ in range(args.runs):
            start = time.perf_counter()
            write_env_file(Path(folder) / ".env", values)
            samples.append(time.perf_counter() - start)
    print(f"{'write_env_file, 1000 realistic':<32} {'default (3)':<14} {statistics.median(samples) * 1000:9.2f} "
          f"{min(samples) * 1000:8.2f} {len(values):8d}")


if __name__ == "__main__":
    main()
