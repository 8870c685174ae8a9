"""What `automations watch` costs while it waits (issue 15: "cheap when idle"): CPU time,
wake-ups and AWS calls over an idle period, against the refreshes that were due.

The watcher keeps an aws-login (credentials renewed every `900 - minRemaining` s) and a
secrets-manager step with `refreshEvery` fresh, through a recording proxy in front of moto.
After its first run, the bench reads the process's CPU time and context switches
(/proc/PID/stat and status) for `--minutes`, counts the AWS calls by operation, and ends it
with SIGTERM, timing the stop (the 2-s promise).

    .venv/bin/python bench/watch_idle.py [--minutes 10] [--refresh-every 60] [--min-remaining 600]
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import time

from common import ROLE_ARN, base_env, make_token, start_moto, tool, workdir
from support.proxy import FaultProxy
from support.reliability import seed_secrets

SECRETS = 5
CONFIG = """\
tasks:
  boot:
    triggeredBy: [postEnvironmentStart]
    steps:
      - uses: aws-login
        with:
          roleArn: {role}
          token: {{file: token}}
          profile: dev
          region: us-east-1
          durationSeconds: 900
          minRemaining: {min_remaining}
      - uses: secrets-manager
        with:
          file: .env
          refreshEvery: {refresh_every}
          secrets:
{entries}"""


def cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def context_switches(pid: int) -> int:
    counts = [int(line.split()[1]) for line in open(f"/proc/{pid}/status")
              if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"))]
    return sum(counts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0, help="the idle period (default 10)")
    parser.add_argument("--refresh-every", type=int, default=60, help="the secrets step's refreshEvery (default 60)")
    parser.add_argument("--min-remaining", type=int, default=600,
                        help="aws-login's minRemaining, of 900 s credentials (default 600: renewed every 5 min)")
    args = parser.parse_args()
    server, endpoint = start_moto()
    proxy = FaultProxy(endpoint).start()
    home = workdir()
    env = base_env(home, proxy.url)
    (home / "token").write_text(make_token())
    seed_secrets(endpoint, {f"idle/{n}": f"value-{n}-0123456789" for n in range(SECRETS)})
    entries = "".join(f"            - {{id: idle/{n}, env: SECRET_{n}}}\n" for n in range(SECRETS))
    (home / "automations.yaml").write_text(CONFIG.format(role=ROLE_ARN, min_remaining=args.min_remaining,
                                                         refresh_every=args.refresh_every, entries=entries))
    log = (home / "watch.log").open("w")
    watcher = subprocess.Popen([tool("automations"), "watch"], cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        while "watching" not in (home / "watch.log").read_text():
            if watcher.poll() is not None:
                raise SystemExit((home / "watch.log").read_text())
            time.sleep(0.1)
        cpu_start, switches_start, calls_start = cpu_seconds(watcher.pid), context_switches(watcher.pid), len(proxy.requests)
        started, window_start = time.monotonic(), time.time()
        time.sleep(args.minutes * 60)
        seconds = time.monotonic() - started
        cpu, switches = cpu_seconds(watcher.pid) - cpu_start, context_switches(watcher.pid) - switches_start
        calls: dict[str, int] = {}
        for request in proxy.requests[calls_start:]:
            calls[str(request.action)] = calls.get(str(request.action), 0) + 1
        stop_started = time.monotonic()
        watcher.send_signal(signal.SIGTERM)
        code = watcher.wait(timeout=30)
        stop = time.monotonic() - stop_started
    finally:
        if watcher.poll() is None:
            watcher.kill()
        proxy.stop()
        server.stop()  # type: ignore[attr-defined]
    # The refreshes, from the history (one record each): how many, and how close together.
    from automations.engine.report.history import RunHistory
    from automations.timefmt import parse_utc

    starts: dict[str, list[float]] = {}
    for record in RunHistory(home / "automations.yaml", env).records("boot"):
        start = parse_utc(record["start"])
        if record["trigger"] == "watch" and start is not None and start.timestamp() >= window_start:
            starts.setdefault(record["steps"][0]["step"], []).append(start.timestamp())
    refreshes = sum(len(times) for times in starts.values())
    print(f"idle period: {seconds / 60:.1f} min; secrets refreshEvery {args.refresh_every}s, "
          f"credentials renewed every {900 - args.min_remaining}s")
    for step, times in sorted(starts.items()):
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        print(f"refreshes of {step}: {len(times)}" + (f", at least {min(gaps):.1f}s apart" if gaps else ""))
    print(f"AWS calls: {dict(sorted(calls.items()))}: {sum(calls.values())} for {refreshes} refreshes "
          f"({sum(calls.values()) - refreshes} not due)")
    print(f"CPU time: {cpu * 1000:.0f} ms in all, {cpu / seconds * 3600:.2f} s per hour, "
          f"{cpu / max(1, refreshes) * 1000:.0f} ms per refresh")
    print(f"context switches: {switches} ({switches / seconds * 60:.1f} per minute, "
          f"{switches / max(1, refreshes):.0f} per refresh)")
    print(f"SIGTERM to exit: {stop * 1000:.0f} ms (exit code {code})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
