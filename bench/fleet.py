"""Fleet simulation (issues 6 and 16): many environments start at once and all log in against
an STS that throttles above a rate, through tests/support/proxy.py's rate limiter; and a lone
environment whose first attempt meets a transient error. Three parts:

1. processes: N real `automations run aws-login` processes (each its own HOME, as on its own
   machine) with the default retry policies (or --retry to try others). A token command
   holds every process at a barrier until all N are up, then all are released at once: the
   herd hits STS in the same instant, as a fleet booting together would.
2. lone: one environment at a time whose first attempt meets a transient error (an
   IDPCommunicationError from STS, or a token command that fails once): how soon after the
   error it is logged in (the process has written its credentials and exited).
3. model: the exact herd (everyone calls at t = 0) against the same sliding-window limit, as
   a discrete-event simulation whose waits and stops are automations/retry.py's own tenacity
   strategies for the `throttled` class: fleets too large to start as processes here (300 to
   10 000), and other policies. Its tables are Markdown, as in BENCHMARKS.md.

Scaling: 300 processes of ~50 MB each (RSS at peak) plus their CPU do not fit a 2-core
machine shared with other work, so the default is 150 processes against 25 requests/s:
the herd's size over the quota (N/R = 6 s of quota) is the same as 300 against 50/s, and
full-jitter backoff against a rate limit depends on that ratio (the model shows both give
the same calls per environment). `--environments 300 --rate 50` runs the full size.
Every process pre-imports botocore and PyJWT (a sitecustomize on PYTHONPATH) so that the
release is not smeared over seconds of import CPU on 2 cores: on a real fleet each
environment has its own CPU.

    .venv/bin/python bench/fleet.py [--environments 150] [--rate 25] [--lone 20] [--retry YAML]
    .venv/bin/python bench/fleet.py --model-only      # the model's tables (BENCHMARKS.md)
    .venv/bin/python bench/fleet.py --lone-only       # the lone environment only
    .venv/bin/python bench/fleet.py --model-only --retry '{throttled: {initialDelay: 4}}'
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from common import ROLE_ARN, ROOT, base_env, make_token, start_moto, tool, workdir

sys.path.insert(0, str(ROOT))

from support.proxy import FaultProxy  # noqa: E402  (tests/ is on sys.path through common)

from automations.errors import ThrottledError  # noqa: E402
from automations.retry import THROTTLED, TRANSIENT, RetryPolicies, RetryPolicy, retrying  # noqa: E402
from tasks.aws_login import AwsLoginStep  # noqa: E402

ASSUME = "AssumeRoleWithWebIdentity"
CONFIG = """\
tasks:
  aws-login:
    steps:
      - uses: aws-login
{retry}        with:
          roleArn: {role}
          region: us-east-1
          token: {token}
"""
# Counts itself ready, waits at the FIFO until the herd is released (afterwards the path is
# a regular file, so retries pass straight through), then prints the token.
BARRIER = 'echo x >> "{ready}"\ncat "{go}" > /dev/null\ncat "{token}"\n'
# Fails the first time (noting when), then prints the token: a token source not ready yet.
FAILS_ONCE = ('if [ ! -e "{marker}" ]; then date +%s.%N > "{marker}"; '
              'echo "not ready yet" >&2; exit 1; fi\ncat "{token}"\n')
PRELOAD = "import botocore.session, botocore.client, botocore.config, jwt  # bench/fleet.py: see its docstring\n"
# The policies before issue 16: one for every error, tuned for the herd.
BEFORE = RetryPolicy(attempts=6, initial_delay=8.0, max_delay=20.0, deadline=120.0)
# What a herd of 10 000 at 50 requests/s takes to stay within 4 calls each (BENCHMARKS.md).
FOR_10000 = {"throttled": {"initialDelay": 40, "deadline": 600}}


@dataclass
class FleetResult:
    environments: int
    succeeded: int
    sts_calls: int
    throttled: int
    completion: list[float]
    arrivals: list[float] | None = None  # seconds after the release of every STS call
    calls_each: list[int] = field(default_factory=list)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def retry_yaml(overrides: dict[str, Any] | None) -> str:
    if not overrides:
        return ""
    return "        retry: " + yaml.safe_dump(overrides, default_flow_style=True, width=1000).strip() + "\n"


# -- 1. processes --------------------------------------------------------------------------

def run_processes(environments: int, rate: int, overrides: dict[str, Any] | None) -> FleetResult:
    server, endpoint = start_moto()
    root = workdir()
    token = root / "token"
    token.write_text(make_token())
    go, ready = root / "go", root / "ready"
    os.mkfifo(go)
    (root / "barrier.sh").write_text(BARRIER.format(ready=ready, go=go, token=token))
    (root / "preload").mkdir()
    (root / "preload" / "sitecustomize.py").write_text(PRELOAD)
    (root / "automations.yaml").write_text(CONFIG.format(retry=retry_yaml(overrides), role=ROLE_ARN,
                                                         token=f"{{command: sh {root / 'barrier.sh'}}}"))
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
        calls = proxy.calls(ASSUME)
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


def print_processes(result: FleetResult, rate: int, policies: RetryPolicies) -> None:
    budget = 2 * result.environments
    print(f"processes: {result.environments} environments released at once, STS admits {rate}/s, "
          f"throttled retries: {policies[THROTTLED].describe()}")
    print(f"  succeeded {result.succeeded}/{result.environments}; STS calls {result.sts_calls} "
          f"({result.sts_calls / result.environments:.2f} per environment, budget {budget}: "
          f"{'met' if result.sts_calls <= budget else 'NOT met'}); throttled {result.throttled}")
    done = result.completion
    print("  completion after release, s: " + ", ".join(
        f"p{int(q * 100)} {percentile(done, q):.1f}" for q in (0.1, 0.5, 0.9, 0.99)) + f", max {max(done):.1f}")
    if result.arrivals:
        print("  STS calls arriving after release, s: " + ", ".join(
            f"p{int(q * 100)} {percentile(result.arrivals, q):.1f}" for q in (0.1, 0.5, 0.9)))


# -- 2. a lone environment -------------------------------------------------------------------

def run_lone(runs: int, overrides: dict[str, Any] | None) -> dict[str, list[float]]:
    """Seconds from the transient error to the end of a successful login, per run: an
    IDPCommunicationError (from STS's answer arriving at the proxy) and a token command that
    fails once (from the moment it failed)."""
    server, endpoint = start_moto()
    root = workdir()
    token = root / "token"
    token.write_text(make_token())
    automations = tool("automations")
    results: dict[str, list[float]] = {"IDPCommunicationError": [], "token command fails once": []}
    proxy = FaultProxy(endpoint).start()
    try:
        for n in range(runs):
            for case in results:
                home = root / f"lone-{n:03d}-{len(case)}"
                home.mkdir()
                marker = home / "failed-at"
                (home / "token.sh").write_text(FAILS_ONCE.format(marker=marker, token=token))
                source = f"{{file: {token}}}" if case == "IDPCommunicationError" else f"{{command: sh {home / 'token.sh'}}}"
                (home / "automations.yaml").write_text(CONFIG.format(retry=retry_yaml(overrides), role=ROLE_ARN,
                                                                     token=source))
                proxy.clear()
                if case == "IDPCommunicationError":
                    proxy.fail(action=ASSUME, times=1, status=400, code="IDPCommunicationError")
                subprocess.run([automations, "-c", str(home / "automations.yaml"), "run", "aws-login"], cwd=home,
                               env=base_env(home, proxy.url), check=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
                ended_wall, ended = time.time(), time.monotonic()
                if case == "IDPCommunicationError":
                    calls = proxy.calls(ASSUME)
                    assert len(calls) == 2 and calls[0].faulted, "expected one failed call, then one that worked"
                    results[case].append(ended - calls[0].at)
                else:
                    results[case].append(ended_wall - float(marker.read_text()))
    finally:
        proxy.stop()
        server.stop()  # type: ignore[attr-defined]
    return results


def print_lone(results: dict[str, list[float]], policies: RetryPolicies) -> None:
    print(f"lone environment, the first attempt meets a transient error; transient retries: "
          f"{policies[TRANSIENT].describe()}")
    print("| transient error | runs | from the error to logged in: median | p90 | max |")
    print("|---|---|---|---|---|")
    for case, seconds in results.items():
        print(f"| {case} | {len(seconds)} | {statistics.median(seconds):.2f} s | {percentile(seconds, 0.9):.2f} s "
              f"| {max(seconds):.2f} s |")


# -- 3. the model ----------------------------------------------------------------------------

class _Outcome:
    """The part of tenacity's Future its strategies read."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def exception(self) -> BaseException:
        return self.error


class _State:
    """The part of tenacity's RetryCallState its stop and wait strategies read."""

    def __init__(self, error: BaseException) -> None:
        self.outcome = _Outcome(error)
        self.attempt_number = 1
        self.seconds_since_start = 0.0
        self.upcoming_sleep = 0.0


def simulate(environments: int, rate: int, policies: RetryPolicies, seed: int, latency: float = 0.05) -> FleetResult:
    """Everyone calls at t = 0; a call is admitted if fewer than `rate` were admitted in the
    last second (the proxy's rule), else it is throttled and the retry mechanics of
    automations/retry.py decide (the `throttled` policy's tenacity wait and stop, as a real
    step's Retrying would): wait and try again, or give up."""
    random.seed(seed)  # tenacity's full jitter draws from the random module
    mechanics = retrying(policies, lambda error: THROTTLED if isinstance(error, ThrottledError) else None)
    throttled_error = ThrottledError("Throttling")
    queue = [(0.0, n, 1) for n in range(environments)]
    heapq.heapify(queue)
    window: deque[float] = deque()
    calls = throttled = 0
    completion = []
    calls_each = [0] * environments
    state = _State(throttled_error)
    while queue:
        now, n, attempt = heapq.heappop(queue)
        calls += 1
        calls_each[n] += 1
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) < rate:
            window.append(now)
            completion.append(now + latency)
            continue
        throttled += 1
        state.attempt_number, state.seconds_since_start = attempt, now + latency
        state.upcoming_sleep = mechanics.wait(state)
        if not mechanics.stop(state):
            heapq.heappush(queue, (now + latency + state.upcoming_sleep, n, attempt + 1))
    return FleetResult(environments, len(completion), calls, throttled, completion, calls_each=calls_each)


def model_table(rate: int, policies: dict[str, RetryPolicies], sizes: list[int], seeds: int = 10) -> None:
    print(f"Model: the exact herd (everyone at t = 0), {rate} requests/s admitted, mean of {seeds} seeds "
          "(max calls: the most any one environment made in any seed).\n")
    print("| throttled policy | envs | floor N/R | failed | calls/env | max calls | p50 | p90 | p90/floor | last |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, policy in policies.items():
        for size in sizes:
            runs = [simulate(size, rate, policy, seed) for seed in range(seeds)]
            floor = size / rate
            failed = statistics.mean(r.environments - r.succeeded for r in runs)
            per_env = statistics.mean(r.sts_calls / r.environments for r in runs)
            most = max(max(r.calls_each) for r in runs)
            p50, p90, top = (statistics.mean(percentile(r.completion, q) for r in runs) for q in (0.5, 0.9, 1.0))
            print(f"| {name} | {size} | {floor:g} s | {failed:g} | {per_env:.2f} | {most} | {p50:.1f} s "
                  f"| {p90:.1f} s | {p90 / floor:.2f} | {top:.1f} s |")
    print()


def describe(policies: RetryPolicies) -> str:
    policy = policies[THROTTLED]
    return f"{policy.attempts} x, {policy.initial_delay:g}..{policy.max_delay:g} s, {policy.deadline:g} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--environments", type=int, default=150)
    parser.add_argument("--rate", type=int, default=25, help="requests/s STS admits (the proxy throttles the rest)")
    parser.add_argument("--lone", type=int, default=20, metavar="RUNS", help="runs of each lone-environment case")
    parser.add_argument("--retry", type=yaml.safe_load, metavar="YAML",
                        help="a step's `retry:` mapping over aws-login's defaults, e.g. '{throttled: {maxDelay: 60}}'")
    parser.add_argument("--seeds", type=int, default=10, help="model runs per row")
    parts = parser.add_mutually_exclusive_group()
    parts.add_argument("--model-only", action="store_true")
    parts.add_argument("--lone-only", action="store_true")
    args = parser.parse_args()
    default = RetryPolicies.of(AwsLoginStep.retry_policy)
    policies = default.override(args.retry)
    if not args.model_only and not args.lone_only:
        print_processes(run_processes(args.environments, args.rate, args.retry), args.rate, policies)
        print()
    if not args.model_only:
        print_lone(run_lone(args.lone, args.retry), policies)
        print()
    if args.lone_only:
        return 0
    label = "--retry" if args.retry else "default"
    rows = {f"{label} ({describe(policies)})": policies}
    if not args.retry:
        rows[f"before issue 16 ({describe(RetryPolicies.of(BEFORE))})"] = RetryPolicies.of(BEFORE)
        rows[f"`retry: {yaml.safe_dump(FOR_10000, default_flow_style=True).strip()}`"] = default.override(FOR_10000)
    model_table(50, rows, [300, 1000, 3000, 10000], args.seeds)
    model_table(25, {label: policies}, [150], args.seeds)
    model_table(6, {label: policies}, [24], args.seeds * 10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
