"""The credential process answering from a valid cache (what every AWS SDK and CLI call pays
while the credentials last), next to the cheapest Python processes: `python -c pass` and
`python -I -c pass`. It runs the exact `credential_process` line the login wrote into the
profile (isolated interpreter, the snapshot alone: no config load, no plugin). Whole
processes, interleaved. Issue 10: the answer must stay fast; BENCHMARKS.md reports it next to
those two.

    .venv/bin/python bench/credential_process.py [--runs 30]
"""
from __future__ import annotations

import argparse
import configparser
import shlex
import sys

from common import ROLE_ARN, base_env, compare, make_token, report, run_quiet, start_moto, tool, workdir
from login import CONFIG as LOGIN_CONFIG

# bench/login.py's configuration, with the credential process.
CONFIG = LOGIN_CONFIG + "          credentials: process\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    server, endpoint = start_moto()
    home = workdir()
    env = base_env(home, endpoint)
    token_file = home / "token"
    token_file.write_text(make_token())
    (home / "automations.yaml").write_text(CONFIG.format(role=ROLE_ARN, token_file=token_file))
    try:
        run_quiet([tool("automations"), "run", "aws-login"], env, home)  # the login primes the cache
    finally:
        server.stop()  # type: ignore[attr-defined]  # from here on, every answer must come from the cache
    profile = configparser.RawConfigParser()
    profile.read(env["AWS_CONFIG_FILE"])
    line = shlex.split(profile["default"]["credential_process"])
    print("credential_process =", shlex.join(line))

    samples = compare({
        "python -c pass": lambda: run_quiet([sys.executable, "-c", "pass"], env, home),
        "python -I -c pass": lambda: run_quiet([sys.executable, "-I", "-c", "pass"], env, home),
        "credential process (cache)": lambda: run_quiet(line, env, home),
    }, args.runs)
    ratios = report(samples, "python -I -c pass")
    extra = {name: (sorted(values)[len(values) // 2] - sorted(samples["python -I -c pass"])[len(values) // 2]) * 1000
             for name, values in samples.items()}
    print(f"the credential process costs {extra['credential process (cache)']:.1f} ms over `python -I -c pass` "
          f"({ratios['credential process (cache)']:.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
