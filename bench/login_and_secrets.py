"""Login plus N secrets into an env file (issue 6, goals 2 and 3), whole processes against a
local moto server, interleaved so every contender sees the same machine:

- automations: `automations run boot --force` (aws-login, then secrets-manager: batches of
  20 ids issued concurrently, the file written atomically, 0600);
- shell loop: what people write by hand: `aws sts assume-role-with-web-identity` and jq for
  the keys, then one `aws secretsmanager get-secret-value` and jq per secret;
- minimal boto3: a hand-written script making the fewest calls (1 STS call, ceil(N/20)
  BatchGetSecretValue calls one after the other), no config, no checks, plain `open().write`.

Goal 2: at N = 20, automations at least 25x faster than the shell loop; at N = 20 and 100,
within 1.3x of the minimal script. Goal 3: with 100 ms added to every request by a proxy
(tests/support/proxy.py), at N = 100, at most 0.65x the minimal script's time.

    .venv/bin/python bench/login_and_secrets.py [--runs 10] [--shell-runs 3]
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from common import ROLE_ARN, base_env, compare, make_token, report, run_quiet, start_moto, tool, workdir
from support.proxy import FaultProxy
from workloads import MINIMAL_SCRIPT, SHELL_LOOP, configure, seed

DELAY = 0.1  # goal 3: 100 ms on every request

def scenario(title: str, endpoint: str, home: Path, token: Path, ids: list[str], runs: int,
             shell_runs: int | None) -> dict[str, float]:
    env = base_env(home, endpoint)
    config = configure(home, ids, token)
    automations = tool("automations")
    script = home / "minimal.py"
    script.write_text(MINIMAL_SCRIPT)
    python = sys.executable
    contenders = {
        "automations": lambda: run_quiet([automations, "-c", str(config), "run", "boot", "--force"], env, home),
        "minimal boto3": lambda: run_quiet([python, str(script), ROLE_ARN, str(token), *ids], env, home),
    }
    print(f"\n## {title}: login + {len(ids)} secrets, {runs} runs")
    samples = compare(contenders, runs)
    ratios = report(samples, "minimal boto3")
    if shell_runs:
        shell_env = {**env, "ROLE": ROLE_ARN, "TOKEN_FILE": str(token), "SECRET_IDS": " ".join(ids)}
        (home / "loop.sh").write_text(SHELL_LOOP)
        shell = {"shell loop (aws CLI + jq)": lambda: run_quiet(["bash", str(home / "loop.sh")], shell_env, home),
                 "automations": contenders["automations"]}
        print(f"\n## {title}: login + {len(ids)} secrets, vs the shell loop, {shell_runs} runs")
        shell_ratios = report(compare(shell, shell_runs), "automations")
        ratios["shell loop / automations"] = shell_ratios["shell loop (aws CLI + jq)"]
    return ratios


def verdict(label: str, value: float, goal: float, lower_is_better: bool = True) -> None:
    met = value <= goal if lower_is_better else value >= goal
    sign = "<=" if lower_is_better else ">="
    print(f"{label}: {value:.2f} (goal {sign} {goal:g}): {'met' if met else 'NOT met'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--shell-runs", type=int, default=3)
    args = parser.parse_args()
    if not shutil.which("jq"):
        raise SystemExit("the shell loop needs jq")
    server, endpoint = start_moto()
    home = workdir()
    token = home / "token"
    token.write_text(make_token())
    all_ids = seed(endpoint, 100)
    results = {}
    try:
        results["20"] = scenario("goal 2", endpoint, home, token, all_ids[:20], args.runs, args.shell_runs)
        results["100"] = scenario("goal 2", endpoint, home, token, all_ids, args.runs, None)
        with FaultProxy(endpoint, delay=DELAY) as slow:
            results["100 slow"] = scenario(f"goal 3 ({DELAY * 1000:g} ms per request)", slow.url, home, token,
                                           all_ids, args.runs, None)
    finally:
        server.stop()  # type: ignore[attr-defined]
    print()
    verdict("N=20: shell loop / automations", results["20"]["shell loop / automations"], 25, lower_is_better=False)
    verdict("N=20: automations / minimal boto3", results["20"]["automations"], 1.3)
    verdict("N=100: automations / minimal boto3", results["100"]["automations"], 1.3)
    verdict("N=100, +100 ms per request: automations / minimal boto3", results["100 slow"]["automations"], 0.65)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
