"""Fleet simulation (issue 6, reliability part 6): many environments start at once and all
log in against an STS that throttles above a rate, through tests/proxy.py's rate limiter.
All must succeed with at most 2 STS calls per environment on average; the completion times
are reported. Two parts:

1. processes: N real `automations run aws-login` processes (each its own HOME, as on its own
   machine) with the default retry policy (or --initial-delay to try another). A token
   command holds every process at a barrier until all N are up, then all are released at
   once: the herd hits STS in the same instant, as a fleet booting together would.
2. model: the same backoff (full jitter, tenacity's wait_random_exponential, attempts,
   deadline) against the same sliding-window limit, as a discrete-event simulation, for
   fleets too large to start as processes here (300 to 10 000) and for other policies.

Scaling: 300 processes of ~50 MB each (RSS at peak) plus their CPU do not fit a 2-core
machine shared with other work, so the default is 150 processes against 25 requests/s:
the herd's size over the quota (N/R = 6 s of quota) is the same as 300 against 50/s, and
full-jitter backoff against a rate limit depends on that ratio (the model shows both give
the same calls per environment). `--environments 300 --rate 50` runs the full size.
Every process pre-imports botocore and PyJWT (a sitecustomize on PYTHONPATH) so that the
release is not smeared over seconds of import CPU on 2 cores: on a real fleet each
environment has its own CPU.

    .venv/bin/python bench/fleet.py [--environments 150] [--rate 25] [--initial-delay S]
    .venv/bin/python bench/fleet.py --model-only
"""
from __future__ import annotations

import argparse
import heapq
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from common import ROLE_ARN, ROOT, base_env, make_token, start_moto, tool, workdir

sys.path.insert(0, str(ROOT))
from automations.retry import RetryPolicy  # noqa: E402
from tasks.aws_login import AwsLoginStep  # noqa: E402

from proxy import FaultProxy  # noqa: E402  (tests/ is on sys.path through common)

CONFIG = """\
tasks:
  aws-login:
    steps:
      - uses: aws-login
{retry}        with:
          roleArn: {role}
          region: us-east-1
          token: {{command: sh {barrier}}}
"""
# Counts itself ready, waits at the FIFO until the herd is released (afterwards the path is
# a regular file, so retries pass straight through), then prints the token.
BARRIER = 'echo x >> "{ready}"\ncat "{go}" > /dev/null\ncat "{token}"\n'
PRELOAD = "import botocore.session, botocore.client, botocore.config, jwt  # bench/fleet.py: see its docstring\n"


@dataclass
class FleetResult:
    environments: int
    succeeded: int
    sts_calls: int
    throttled: int
    completion: list[float]
    arrivals: list[float] | None = None  # seconds after the release of every STS call


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def run_processes(environments: int, rate: int, initial_delay: float | None) -> FleetResult:
    server, endpoint = start_moto()
    root = workdir()
    token = root / "token"
    token.write_text(make_token())
    go, ready = root / "go", root / "ready"
    os.mkfifo(go)
    (root / "barrier.sh").write_text(BARRIER.format(ready=ready, go=go, token=token))
    (root / "preload").mkdir()
    (root / "preload" / "sitecustomize.py").write_text(PRELOAD)
    policy = AwsLoginStep.retry_policy
    retry = "" if initial_delay is None else (
        f"        retry: {{initialDelay: {initial_delay}, attempts: {policy.attempts}, "
        f"maxDelay: {policy.max_delay}, deadline: {policy.deadline}}}\n")
    (root / "automations.yaml").write_text(CONFIG.format(retry=retry, role=ROLE_ARN, barrier=root / "barrier.sh"))
    automations = tool("automations")
    proxy = FaultProxy(endpoint, rate_limit=rate).start()
    processes, ended = [], [0.0] * environments
    try:
        for n in range(environments):
            home = root / f"env-{n:04d}"
            home.mkdir()
            env = base_env(home, proxy.url)
            env["PYTHONPATH"] = str(root / "preload")
            processes.append(subprocess.Popen([automations, "-c", str(root / "automations.yaml"), "run", "aws-login"],
                                              cwd=root, env=env, stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL))
        while not ready.exists() or len(ready.read_text().splitlines()) < environments:
            time.sleep(0.05)
        time.sleep(0.5)  # the last ones reach `cat go`
        released = release(go)

        def wait(n: int) -> None:
            processes[n].wait()
            ended[n] = time.monotonic() - released

        waiters = [threading.Thread(target=wait, args=(n,)) for n in range(environments)]
        for waiter in waiters:
            waiter.start()
        for waiter in waiters:
            waiter.join()
        calls = proxy.calls("AssumeRoleWithWebIdentity")
        return FleetResult(environments, sum(p.returncode == 0 for p in processes), len(calls),
                           sum(c.faulted for c in calls), ended, [c.at - released for c in calls])
    finally:
        proxy.stop()
        server.stop()  # type: ignore[attr-defined]


def release(go: Path) -> float:
    """Open the FIFO for writing (every waiting `cat` gets EOF when it closes), first
    replacing the path with a regular file for anyone who opens it later (retries)."""
    writer = os.open(go, os.O_WRONLY)
    opened = go.with_name("go.file")
    opened.write_text("")
    os.replace(opened, go)
    released = time.monotonic()
    os.close(writer)
    return released


# -- the model ------------------------------------------------------------------------------

def simulate(environments: int, rate: int, policy: RetryPolicy, seed: int, latency: float = 0.05) -> FleetResult:
    """Everyone calls at t=0; a call is admitted if fewer than `rate` were admitted in the
    last second (the proxy's rule), else it waits uniform(0, min(max, initial * 2^(n-1)))
    and tries again, within the attempts and the deadline (tenacity's stop_before_delay)."""
    rng = random.Random(seed)
    queue = [(0.0, n, 1) for n in range(environments)]
    heapq.heapify(queue)
    window: deque[float] = deque()
    calls = throttled = 0
    completion = []
    while queue:
        now, n, attempt = heapq.heappop(queue)
        calls += 1
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) < rate:
            window.append(now)
            completion.append(now + latency)
            continue
        throttled += 1
        wait = rng.uniform(0, min(policy.max_delay, policy.initial_delay * 2 ** (attempt - 1)))
        if attempt < policy.attempts and (policy.deadline is None or now + wait < policy.deadline):
            heapq.heappush(queue, (now + wait, n, attempt + 1))
    return FleetResult(environments, len(completion), calls, throttled, completion)


def model_table(rate: int, policies: dict[str, RetryPolicy], sizes: list[int], seeds: int = 10) -> None:
    print(f"model: everyone at once, {rate} requests/s admitted, {seeds} seeds each")
    print(f"{'policy':<34} {'envs':>6} {'failed':>7} {'calls/env':>9} {'p50 s':>6} {'p90 s':>6} {'max s':>6}")
    for name, policy in policies.items():
        for size in sizes:
            runs = [simulate(size, rate, policy, seed) for seed in range(seeds)]
            failed = statistics.mean(r.environments - r.succeeded for r in runs)
            per_env = statistics.mean(r.sts_calls / r.environments for r in runs)
            p50, p90, top = (statistics.mean(percentile(r.completion, q) for r in runs) for q in (0.5, 0.9, 1.0))
            print(f"{name:<34} {size:>6} {failed:>7.1f} {per_env:>9.2f} {p50:>6.1f} {p90:>6.1f} {top:>6.1f}")


def describe(policy: RetryPolicy) -> str:
    return f"{policy.attempts} x, {policy.initial_delay:g}s..{policy.max_delay:g}s, {policy.deadline:g}s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--environments", type=int, default=150)
    parser.add_argument("--rate", type=int, default=25, help="requests/s STS admits (the proxy throttles the rest)")
    parser.add_argument("--initial-delay", type=float, help="override the default policy's initial delay")
    parser.add_argument("--model-only", action="store_true")
    args = parser.parse_args()
    default = AwsLoginStep.retry_policy
    if not args.model_only:
        result = run_processes(args.environments, args.rate, args.initial_delay)
        policy = default if args.initial_delay is None else default.override({"initialDelay": args.initial_delay})
        budget = 2 * result.environments
        print(f"processes: {result.environments} environments released at once, STS admits {args.rate}/s, "
              f"retry {describe(policy)}")
        print(f"  succeeded {result.succeeded}/{result.environments}; STS calls {result.sts_calls} "
              f"({result.sts_calls / result.environments:.2f} per environment, budget {budget}: "
              f"{'met' if result.sts_calls <= budget else 'NOT met'}); throttled {result.throttled}")
        done = result.completion
        print("  completion after release, s: " + ", ".join(
            f"p{int(q * 100)} {percentile(done, q):.1f}" for q in (0.1, 0.5, 0.9, 0.99)) + f", max {max(done):.1f}")
        if result.arrivals:
            print("  STS calls arriving after release, s: " + ", ".join(
                f"p{int(q * 100)} {percentile(result.arrivals, q):.1f}" for q in (0.1, 0.5, 0.9)))
        print()
    policies = {f"default ({describe(default)})": default}
    for initial in (1.0, 4.0, 8.0):
        if initial != default.initial_delay:
            variant = default.override({"initialDelay": initial})
            policies[f"initialDelay {initial:g} ({describe(variant)})"] = variant
    model_table(50, policies, [300, 1000, 3000])
    print()
    model_table(25, {"default": default}, [150])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
