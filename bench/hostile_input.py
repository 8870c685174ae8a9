"""Hostile input costs bounded time and memory (issue 10): `automations validate` on a YAML
alias bomb (a 433-byte one took 7 GB and over a minute before the loader's budget), on the
largest file the budget still admits (aliases expanded to ~90,000 values, 58 levels deep),
and `automations token --decode` on a token nested 20,000 levels, next to an ordinary
automations.yaml. Whole processes; peak RSS through GNU time, wall time, medians.

    .venv/bin/python bench/hostile_input.py [--runs 5]
"""
from __future__ import annotations

import argparse
import base64
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from common import tool

GNU_TIME = shutil.which("time", path="/usr/bin:/bin") or "/usr/bin/time"
TASKS = "tasks:\n  boot:\n    command: 'true'\n"


def alias_bomb(levels: int, fan_out: int = 9) -> str:
    lines = ['l0: &l0 [' + ", ".join(['"lol"'] * fan_out) + ']']
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * fan_out) + "]")
    return "\n".join(lines) + "\n" + TASKS


def largest_admitted() -> str:
    """Aliases expanding to ~90,000 values, each 58 levels down: the most position-tracking
    the budget allows (paths are long, values many)."""
    lines = ['l0: &l0 [' + ", ".join(['"lol"'] * 9) + ']']
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in (1, 2)]
    lines.append("x: " + "{k: " * 58 + "[" + ", ".join(["*l2"] * 110) + "]" + "}" * 58)
    return "\n".join(lines) + "\n" + TASKS


def nested_token(depth: int) -> str:
    def part(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()

    payload = '{"aud":"sts.amazonaws.com","x":' + "[" * depth + "]" * depth + "}"
    header = '{"alg":"RS256"}'
    return f"{part(header)}.{part(payload)}.c2ln"


def measure(argv: list[str], cwd: Path) -> tuple[float, float, int]:
    """(seconds, peak MiB, exit code) of one process."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as report:
        started = time.perf_counter()
        code = subprocess.run([GNU_TIME, "-f", "%M", "-o", report.name, *argv], cwd=cwd, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=600).returncode
        elapsed = time.perf_counter() - started
        return elapsed, int(report.read().split()[-1]) / 1024, code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="hostile-input-"))
    files = {"ordinary automations.yaml": TASKS, "alias bomb, 9 levels (539 bytes)": alias_bomb(9),
             "alias bomb, 12 levels": alias_bomb(12), "largest file the budget admits": largest_admitted()}
    cases: dict[str, list[str]] = {}
    for name, text in files.items():
        path = home / (name.split(",")[0].replace(" ", "-") + f"-{len(cases)}.yaml")
        path.write_text(text)
        cases[name] = [tool("automations"), "-c", str(path), "validate"]
    (home / "token").write_text(nested_token(20_000))
    cases["token --decode, payload nested 20,000 deep"] = [tool("automations"), "token", "--decode",
                                                           "--token-file", str(home / "token")]
    samples: dict[str, list[tuple[float, float, int]]] = {name: [] for name in cases}
    for _ in range(args.runs):
        for name, argv in cases.items():
            samples[name].append(measure(argv, home))
    print(f"median of {args.runs} runs")
    print(f"{'input':46} {'exit':>4} {'time':>8} {'peak RSS':>10}")
    for name, runs in samples.items():
        seconds = statistics.median(r[0] for r in runs)
        peak = statistics.median(r[1] for r in runs)
        print(f"{name:46} {runs[0][2]:>4} {seconds * 1000:>6.0f}ms {peak:>7.1f}MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
