"""`automations demo`: from a clone with no AWS account, one command logs in to a local AWS
with a local token and writes the example's secrets, through the real CLI, leaving everything
in one directory and nothing running."""
from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
from pathlib import Path

import pytest
from dotenv import dotenv_values
from support.cli import BIN_DIR, run_process

from automations.cli.commands.demo import SECRETS


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    """One demo run shared by the tests below (it is the expensive part). A real process: the
    demo runs its tasks in a child that writes to the same stdout."""
    root = tmp_path_factory.mktemp("demo")
    home = root / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AUTOMATIONS_", "ACTIONS_ID_TOKEN"))}
    env.update(HOME=str(home), NO_COLOR="1", PATH=f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}",
               XDG_STATE_HOME=str(home / ".state"), XDG_CACHE_HOME=str(home / ".cache"))
    result = run_process("demo", cwd=root, env=env)
    return result, root / ".demo", home


def test_the_demo_succeeds(demo) -> None:
    result, _, _ = demo
    assert result.code == 0, result.output
    assert "aws-login ok" in result.stdout
    assert "secrets ok" in result.stdout
    assert "demo: done" in result.stdout


def test_the_demo_writes_credentials_into_its_own_directory(demo) -> None:
    _, directory, home = demo
    credentials = directory / "aws" / "credentials"

    text = credentials.read_text()
    assert "[default]" in text
    assert re.search(r"^aws_session_token = \S+", text, re.M)
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert "region = us-east-1" in (directory / "aws" / "config").read_text()
    assert not (home / ".aws").exists()


def test_the_env_file_holds_the_seeded_secrets_as_python_dotenv_reads_them(demo) -> None:
    _, directory, _ = demo
    database = json.loads(SECRETS["myapp/database"])

    values = dotenv_values(directory / ".env.secrets")

    assert values == {"DB_USERNAME": database["username"], "DB_PASSWORD": database["password"],
                      "DB_HOST": database["host"], "DB_PORT": str(database["port"]),
                      "API_KEY": SECRETS["myapp/api-key"], "FLAGS_BETA": "true"}


def test_the_env_file_reads_the_same_in_bash(demo) -> None:
    _, directory, _ = demo
    script = f'set -a; . "{directory}/.env.secrets"; printf %s "$DB_PASSWORD"'

    assert subprocess.run(["bash", "-c", script], capture_output=True, text=True).stdout == \
        json.loads(SECRETS["myapp/database"])["password"]


def test_the_demo_says_where_everything_went_without_printing_secret_values(demo) -> None:
    result, _, _ = demo
    assert ".demo/aws/credentials" in result.stdout
    assert ".demo/.env.secrets" in result.stdout
    assert "DB_PASSWORD" in result.stdout
    assert SECRETS["myapp/api-key"] not in result.output
    assert json.loads(SECRETS["myapp/database"])["password"] not in result.output


def test_the_demo_records_its_run_history_in_its_directory(demo) -> None:
    result, directory, home = demo
    assert list((directory / "state" / "automations").rglob("aws-login.jsonl"))
    assert not (home / ".state").exists()
    assert "profile default: valid for" in result.stdout


def test_the_demo_prints_the_commands_that_show_its_history_and_they_do(demo) -> None:
    result, directory, home = demo
    commands = [line.strip() for line in result.stdout.splitlines() if line.strip().startswith("XDG_STATE_HOME=")]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AUTOMATIONS_"))}
    env.update(HOME=str(home), NO_COLOR="1", PATH=f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}")

    assert [c.rsplit(" ", 1)[1] for c in commands] == ["status", "logs"]
    status, logs = (subprocess.run(c, shell=True, cwd=directory.parent, env=env, capture_output=True, text=True,
                                   timeout=60) for c in commands)

    assert status.returncode == 0 and logs.returncode == 0, status.stderr + logs.stderr
    assert re.search(r"^aws-login\s+ok ", status.stdout, re.M) and "never run" not in status.stdout
    assert "aws-login" in logs.stdout


def test_the_local_aws_is_stopped_when_the_demo_ends(demo) -> None:
    result, _, _ = demo
    port = int(re.search(r"local AWS \(moto\) on http://127\.0\.0\.1:(\d+)", result.stdout).group(1))

    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_the_demo_refuses_a_directory_it_did_not_make(tmp_path: Path, base_env: dict[str, str]) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")

    result = run_process("demo", "--dir", "mine", cwd=tmp_path, env=base_env)

    assert result.code == 2
    assert "is not a demo directory" in result.stderr
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["notes.txt"]
