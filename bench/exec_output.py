"""`automations exec`: what masking COMMAND's output costs (issue 14). COMMAND is `cat` of a
file of base64 lines (what a build log or a data dump looks like to the redactor), with 0, 1
and 100 secrets registered by a step; against `cat` alone and `exec --no-masking`. Whole
processes, interleaved runs, median and min of wall time, and throughput.

    .venv/bin/python bench/exec_output.py [--megabytes 40] [--runs 5]
"""
from __future__ import annotations

import argparse
import base64
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import tool  # noqa: E402

# A step registering $COUNT secrets and giving one of them to COMMAND.
PLUGIN = '''
from automations.api import EnvFile, Options, Step, StepResult, option

class SecretsOptions(Options):
    count: int = option(help="how many secrets")

class SecretsStep(Step[SecretsOptions]):
    name = "bench-secrets"
    Options = SecretsOptions

    def run(self, ctx):
        values = {f"SECRET_{i}": f"bench-secret-value-{i:04d}-{'x' * 20}" for i in range(self.options.count)}
        for value in values.values():
            ctx.secret(value)
        ctx.deliver(values, EnvFile(ctx.config_path.parent / ".env"))
        return StepResult.ok()
'''


def project(directory: Path, count: int) -> Path:
    (directory / "bench_secrets.py").write_text(PLUGIN)
    config = directory / f"secrets-{count}.yaml"
    config.write_text('plugins: ["bench_secrets:SecretsStep"]\n'
                      f"tasks:\n  secrets:\n    steps:\n      - uses: bench-secrets\n        with: {{count: {count}}}\n")
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=int, default=40)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    automations = tool("automations")
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        data = directory / "output.txt"
        rng = random.Random(6)
        data.write_bytes(base64.encodebytes(rng.randbytes(args.megabytes * 1024 * 1024 * 3 // 4)))
        size = data.stat().st_size
        contenders = {"cat alone": ["cat", str(data)]}
        for count in (0, 1, 100):
            config = project(directory, count)
            contenders[f"exec, masked, {count} secrets"] = [automations, "-c", str(config), "exec", "--", "cat", str(data)]
        contenders["exec --no-masking, 100 secrets"] = [automations, "-c", str(project(directory, 100)), "exec",
                                                       "--no-masking", "--", "cat", str(data)]
        times: dict[str, list[float]] = {name: [] for name in contenders}
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        for _ in range(args.runs):
            for name, command in contenders.items():  # interleaved: every contender sees the same machine
                started = time.perf_counter()
                subprocess.run(command, cwd=directory, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               check=True)
                times[name].append(time.perf_counter() - started)
    print(f"COMMAND: cat of {size / 1e6:.1f} MB of base64 lines (76 characters); {args.runs} runs")
    print(f"{'contender':34} {'median s':>9} {'min s':>7} {'MB/s':>7}")
    for name, seconds in times.items():
        median = statistics.median(seconds)
        print(f"{name:34} {median:9.2f} {min(seconds):7.2f} {size / 1e6 / median:7.1f}")


if __name__ == "__main__":
    main()
