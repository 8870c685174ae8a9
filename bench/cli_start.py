"""CLI start-up: `automations list` and `automations validate` against a bare
`python -c "import yaml; yaml.safe_load(open(F))"` on the same file, whole processes,
interleaved so both see the same machine. Goal: at most 1.5x (issue 2).

    .venv/bin/python bench/cli_start.py [--runs 30] [--config automations.yaml]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--config", default=str(ROOT / "automations.yaml"))
    args = parser.parse_args()
    automations = shutil.which("automations", path=str(Path(sys.executable).parent)) or "automations"
    # Bytecode caching on, as on any machine where pip installed the package (this sandbox
    # sets PYTHONDONTWRITEBYTECODE, which would make every run recompile our sources).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["NO_COLOR"] = "1"
    commands = {
        "baseline": [sys.executable, "-c", f"import yaml; yaml.safe_load(open({args.config!r}))"],
        "list": [automations, "-c", args.config, "list"],
        "validate": [automations, "-c", args.config, "validate"],
    }
    for argv in commands.values():  # warm the page cache and the .pyc files
        timed(argv, env)
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, argv in commands.items():
            samples[name].append(timed(argv, env))
    base = statistics.median(samples["baseline"])
    print(f"{'command':<10} {'median ms':>10} {'min ms':>8} {'stdev ms':>9} {'ratio':>6}")
    worst = 0.0
    for name, values in samples.items():
        median = statistics.median(values)
        ratio = median / base
        if name != "baseline":
            worst = max(worst, ratio)
        print(f"{name:<10} {median * 1000:>10.1f} {min(values) * 1000:>8.1f} "
              f"{statistics.stdev(values) * 1000:>9.1f} {ratio:>6.2f}")
    print(f"worst ratio {worst:.2f} (goal <= 1.50): {'met' if worst <= 1.5 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
