"""Shared fixtures. Tests run the `automations` command in process (`run_cli`, `cli`) or, where a
real process is the point, as one (`run_process`): tests/support/cli.py. AWS is moto in server
mode, a real HTTP endpoint on 127.0.0.1, one per test session (per xdist worker)."""
from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.cli import BIN_DIR, Result, process_state, run_cli
from support.watch import Watch


@pytest.hookimpl(optionalhook=True)  # absent under -p no:xdist (bench/mutation.py)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto` (pyproject.toml): two workers per usable core, at most 8. Most of the suite's
    time is spent waiting (timeouts, child processes, moto), not computing: on 2 quiet cores
    4 workers took 2 min 32 s where 2 took 4 min 14 s, both passing; 6 took 2 min 21 s but
    had a timing failure, so no more than two per core."""
    return min(8, 2 * len(os.sched_getaffinity(0)))


@pytest.fixture(autouse=True)
def fresh_process_state() -> Iterator[None]:
    """Whatever a test changed in this process (the environment, working directory, signal
    handlers, the redactor's secrets, modules a plugin brought in...) is put back after it."""
    with process_state():
        yield


@pytest.fixture
def base_env(tmp_path: Path) -> dict[str, str]:
    """A clean environment: a private HOME, no AWS settings from the machine, no colour."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AUTOMATIONS_", "ACTIONS_ID_TOKEN"))}
    env.update(HOME=str(home), XDG_STATE_HOME=str(home / ".state"), XDG_CACHE_HOME=str(home / ".cache"),
               NO_COLOR="1", PATH=f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}")
    return env


@pytest.fixture
def in_process_env(base_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """`base_env` as this process's environment, for tests calling `main(argv)` in process."""
    for name in list(os.environ):
        if name not in base_env:
            monkeypatch.delenv(name)
    for name, value in base_env.items():
        monkeypatch.setenv(name, value)
    return base_env


@pytest.fixture
def write_config(tmp_path: Path):
    """Write an automations.yaml (dedented) into the test's directory and return its path."""
    def write(text: str, name: str = "automations.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path
    return write


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server on a free port of 127.0.0.1 for the whole test session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(base_env: dict[str, str], moto_endpoint: str, tmp_path: Path) -> dict[str, str]:
    """`base_env` pointed at the moto server, with credential and config files in tmp_path.
    No AWS credentials are set: aws-login must work without any."""
    aws_dir = Path(base_env["HOME"]) / ".aws"
    base_env.update(
        AWS_ENDPOINT_URL=moto_endpoint,
        AWS_SHARED_CREDENTIALS_FILE=str(aws_dir / "credentials"),
        AWS_CONFIG_FILE=str(aws_dir / "config"),
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
    )
    return base_env


@pytest.fixture
def sts(aws_env: dict[str, str], moto_endpoint: str):
    """A recording, fault-injecting proxy (tests/support/proxy.py) in front of moto; `aws_env` points at it."""
    from support.proxy import FaultProxy

    with FaultProxy(moto_endpoint) as proxy:
        aws_env["AWS_ENDPOINT_URL"] = proxy.url
        yield proxy


@pytest.fixture
def cli(in_process_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`main(argv)` in process (fast), in tmp_path, with base_env as the whole environment:
    `cli("validate")` returns a Result like `run_cli`."""
    monkeypatch.chdir(tmp_path)

    def run(*argv: str) -> Result:
        return run_cli(*argv)
    return run


@pytest.fixture
def watches() -> Iterator[Callable[..., Watch]]:
    """Start `automations watch` processes (`watches(config, env, *args)`); killed after the test."""
    started: list[Watch] = []

    def start(config: Path, env: dict[str, str], *args: str) -> Watch:
        started.append(Watch(config, env, *args))
        return started[-1]

    yield start
    for watch in started:
        watch.close()
