"""Shared fixtures. End-to-end tests run the real `automations` command as a subprocess;
AWS is moto in server mode, a real HTTP endpoint on 127.0.0.1."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

BIN_DIR = Path(sys.executable).parent
AUTOMATIONS = shutil.which("automations", path=str(BIN_DIR)) or shutil.which("automations")


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(*args: str, cwd: Path | str | None = None, env: dict[str, str] | None = None,
            timeout: float = 120) -> Result:
    """Run the installed `automations` command and capture what it printed."""
    assert AUTOMATIONS, "the automations command is not installed (pip install -e '.[test]')"
    proc = subprocess.run([AUTOMATIONS, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    return Result(proc.returncode, proc.stdout, proc.stderr)


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
    """A recording, fault-injecting proxy (tests/proxy.py) in front of moto; `aws_env` points at it."""
    from proxy import FaultProxy

    with FaultProxy(moto_endpoint) as proxy:
        aws_env["AWS_ENDPOINT_URL"] = proxy.url
        yield proxy


@pytest.fixture
def cli(in_process_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch):
    """`main(argv)` in process (fast), in tmp_path, with base_env as the whole environment:
    `cli("validate")` returns a Result like `run_cli`."""
    from automations.cli.main import main

    monkeypatch.chdir(tmp_path)

    def run(*argv: str) -> Result:
        capsys.readouterr()
        code = main(list(argv))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)
    return run
