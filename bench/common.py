"""Shared by the benchmarks: a local AWS (moto server), a token, whole-process timings with
interleaved runs so every contender sees the same machine."""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "tests"))

ROLE_ARN = "arn:aws:iam::123456789012:role/dev-environments"


def tool(name: str) -> str:
    path = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if path is None:
        raise SystemExit(f"{name} is not installed: .venv/bin/pip install -e '.[test]'")
    return path


def start_moto() -> tuple[object, str]:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="automations-bench-"))


def base_env(home: Path, endpoint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "AUTOMATIONS_")) and k != "PYTHONDONTWRITEBYTECODE"}
    env.update(HOME=str(home), NO_COLOR="1", AWS_ENDPOINT_URL=endpoint, AWS_DEFAULT_REGION="us-east-1",
               AWS_EC2_METADATA_DISABLED="true", XDG_CACHE_HOME=str(home / ".cache"),
               XDG_STATE_HOME=str(home / ".state"),
               AWS_SHARED_CREDENTIALS_FILE=str(home / ".aws" / "credentials"),
               AWS_CONFIG_FILE=str(home / ".aws" / "config"),
               PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    return env


def make_token() -> str:
    from support.jwts import make_token as make

    return make(exp=int(time.time()) + 6 * 3600)


def run_quiet(argv: list[str], env: dict[str, str], cwd: Path, shell: bool = False) -> None:
    subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True,
                   shell=shell)


def compare(contenders: dict[str, Callable[[], None]], runs: int) -> dict[str, list[float]]:
    for run in contenders.values():  # warm-up: page cache, .pyc files
        run()
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(runs):
        for name, run in contenders.items():
            start = time.perf_counter()
            run()
            samples[name].append(time.perf_counter() - start)
    return samples


def report(samples: dict[str, list[float]], reference: str) -> dict[str, float]:
    base = statistics.median(samples[reference])
    print(f"{'contender':<28} {'median ms':>10} {'min ms':>8} {'stdev ms':>9} {'ratio':>6}")
    ratios = {}
    for name, values in samples.items():
        median = statistics.median(values)
        ratios[name] = median / base
        spread = statistics.stdev(values) * 1000 if len(values) > 1 else 0.0
        print(f"{name:<28} {median * 1000:>10.1f} {min(values) * 1000:>8.1f} {spread:>9.1f} {median / base:>6.2f}")
    return ratios
