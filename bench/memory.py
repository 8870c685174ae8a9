"""Peak memory (issue 6, goal 4): the maximum resident set size of a full run, `automations
run` logging in and writing 100 secrets into an env file, against the minimal boto3 script
doing the same with the fewest calls (bench/secrets.py's). Each process is measured on its
own through GNU time (`/usr/bin/time -f %M`: a process forked from this one would start
with this process's pages, moto server and all, and report them as its peak), several
runs, the median reported. Goal: at most 1.2x.

    .venv/bin/python bench/memory.py [--runs 5] [--secrets 100]
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile

from common import ROLE_ARN, base_env, make_token, start_moto, tool, workdir
from workloads import MINIMAL_SCRIPT, configure, seed

GOAL = 1.2
GNU_TIME = shutil.which("time", path="/usr/bin:/bin") or "/usr/bin/time"


def peak_rss_mib(argv: list[str], env: dict[str, str], cwd: str) -> float:
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as report:
        subprocess.run([GNU_TIME, "-f", "%M", "-o", report.name, *argv], env=env, cwd=cwd, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return int(report.read().split()[-1]) / 1024  # KiB


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--secrets", type=int, default=100)
    args = parser.parse_args()
    server, endpoint = start_moto()
    home = workdir()
    env = base_env(home, endpoint)
    token = home / "token"
    token.write_text(make_token())
    ids = seed(endpoint, args.secrets)
    config = configure(home, ids, token)
    (home / "minimal.py").write_text(MINIMAL_SCRIPT)
    contenders = {
        "minimal boto3": [sys.executable, str(home / "minimal.py"), ROLE_ARN, str(token), *ids],
        "automations run": [tool("automations"), "-c", str(config), "run", "boot", "--force"],
        "python -c 'import yaml'": [sys.executable, "-c", "import yaml"],
        "automations validate": [tool("automations"), "-c", str(config), "validate"],
    }
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    try:
        for _ in range(args.runs):
            for name, argv in contenders.items():
                samples[name].append(peak_rss_mib(argv, env, str(home)))
    finally:
        server.stop()  # type: ignore[attr-defined]
    base = statistics.median(samples["minimal boto3"])
    print(f"peak RSS, median of {args.runs} runs; login + {args.secrets} secrets")
    print(f"{'process':<26} {'MiB':>7} {'min':>7} {'max':>7} {'ratio':>6}")
    for name, values in samples.items():
        print(f"{name:<26} {statistics.median(values):>7.1f} {min(values):>7.1f} {max(values):>7.1f} "
              f"{statistics.median(values) / base:>6.2f}")
    ratio = statistics.median(samples["automations run"]) / base
    print(f"automations run / minimal boto3: {ratio:.2f} (goal <= {GOAL}): {'met' if ratio <= GOAL else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
