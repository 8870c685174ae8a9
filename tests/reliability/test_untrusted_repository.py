"""An untrusted repository cannot get code run by the credential process.

The user logs in with `credentials: process`, then checks out a branch whose automations.yaml
lists a plugin, and whose tree holds a `yaml.py` and a `tasks.py`; the directory the AWS CLI
runs in holds its own. Every planted module writes a marker file when imported. The real AWS
CLI, run from that directory against the moto endpoint, must work, from a valid cache and
through a refresh, and no marker may ever appear."""
from __future__ import annotations

import configparser
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.cli import run_process
from support.jwts import make_token

ROLE = "arn:aws:iam::111122223333:role/dev-role"
ASSUME = "AssumeRoleWithWebIdentity"
AWS_CLI = str(Path(sys.executable).parent / "aws")

CONFIG = f"""\
tasks:
  login:
    steps:
      - uses: aws-login
        id: aws
        retry: {{attempts: 2, initialDelay: 0.01, maxDelay: 0.05}}
        with:
          roleArn: {ROLE}
          token: {{file: token}}
          profile: dev
          region: eu-west-1
          credentials: process
          minRemaining: 600
"""


def planted(marker: Path) -> str:
    """A module body that leaves `marker` behind when anything imports it."""
    return f"open({str(marker)!r}, 'a').write(__name__ + '\\n')\n"



@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "automations.yaml").write_text(CONFIG)
    (repo / "token").write_text(make_token())
    return repo


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "MARKER"


@pytest.fixture
def elsewhere(tmp_path: Path, marker: Path) -> Path:
    """The directory the AWS CLI runs in, holding modules Python would find first there."""
    directory = tmp_path / "elsewhere"
    directory.mkdir()
    for name in ("yaml.py", "tasks.py", "automations.py", "boto3.py", "json.py"):
        (directory / name).write_text(planted(marker))
    return directory


def turn_hostile(repo: Path, marker: Path) -> None:
    """What checking out an untrusted branch after the login does."""
    (repo / "automations.yaml").write_text("plugins: [evil_plugin:EvilStep]\n" + CONFIG)
    (repo / "evil_plugin.py").write_text(planted(marker))
    (repo / "yaml.py").write_text(planted(marker))
    (repo / "tasks.py").write_text(planted(marker))


def expire_cache(env: dict[str, str]) -> None:
    [cache] = (Path(env["XDG_CACHE_HOME"]) / "automations").glob("aws-credentials-*.json")
    entry = json.loads(cache.read_text())
    soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 60))
    cache.write_text(json.dumps({**entry, "Expiration": soon}))


def aws_identity(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AWS_CLI, "sts", "get-caller-identity", "--profile", "dev", "--output", "json"],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def credential_process_line(env: dict[str, str]) -> list[str]:
    parser = configparser.RawConfigParser()
    parser.read(env["AWS_CONFIG_FILE"])
    return shlex.split(parser["profile dev"]["credential_process"])


def test_the_planted_modules_run_when_python_loads_them_the_ordinary_way(repo, marker, elsewhere, aws_env):
    # The control: the traps work, so their silence below means something.
    turn_hostile(repo, marker)

    subprocess.run([sys.executable, "-c", "import yaml"], cwd=elsewhere, env=aws_env, check=True)
    run_process("-c", str(repo / "automations.yaml"), "validate", env=aws_env)

    assert marker.read_text().splitlines() == ["yaml", "evil_plugin"]


def test_the_aws_cli_works_from_a_valid_cache_and_imports_nothing_planted(repo, marker, elsewhere, sts, aws_env):
    assert run_process("-c", str(repo / "automations.yaml"), "run", "login", env=aws_env).code == 0
    turn_hostile(repo, marker)

    proc = aws_identity(aws_env, elsewhere)

    assert proc.returncode == 0, proc.stderr
    assert "assumed-role/dev-role/" in json.loads(proc.stdout)["Arn"]
    assert sts.count(ASSUME) == 1
    assert not marker.exists()


def test_a_refresh_through_the_aws_cli_imports_nothing_planted(repo, marker, elsewhere, sts, aws_env):
    assert run_process("-c", str(repo / "automations.yaml"), "run", "login", env=aws_env).code == 0
    turn_hostile(repo, marker)
    expire_cache(aws_env)

    proc = aws_identity(aws_env, elsewhere)

    assert proc.returncode == 0, proc.stderr
    assert "assumed-role/dev-role/" in json.loads(proc.stdout)["Arn"]
    assert sts.count(ASSUME) == 2  # the refresh happened, from the snapshot
    assert not marker.exists()


def test_a_login_made_with_python_m_writes_an_isolated_line(repo, marker, elsewhere, sts, aws_env, tmp_path):
    neutral = tmp_path / "neutral"
    neutral.mkdir()
    login = subprocess.run([sys.executable, "-m", "automations", "-c", str(repo / "automations.yaml"), "run", "login"],
                           cwd=neutral, env=aws_env, capture_output=True, text=True, timeout=120)
    assert login.returncode == 0, login.stdout + login.stderr
    turn_hostile(repo, marker)
    expire_cache(aws_env)

    proc = aws_identity(aws_env, elsewhere)

    assert credential_process_line(aws_env)[1] == "-I"
    assert proc.returncode == 0, proc.stderr
    assert sts.count(ASSUME) == 2
    assert not marker.exists()


def test_the_credential_process_command_run_by_hand_in_the_repository_imports_nothing(repo, marker, sts, aws_env):
    assert run_process("-c", str(repo / "automations.yaml"), "run", "login", env=aws_env).code == 0
    turn_hostile(repo, marker)
    expire_cache(aws_env)

    result = run_process("aws", "credential-process", "--task", "login", "--step", "aws", cwd=repo, env=aws_env)

    assert result.code == 0, result.stderr
    assert set(json.loads(result.stdout)) == {"Version", "AccessKeyId", "SecretAccessKey", "SessionToken",
                                              "Expiration"}
    assert not marker.exists()


CHAINED = """\
  deploy:
    dependsOn: [login]
    steps:
      - uses: aws-assume-role
        retry: {attempts: 2, initialDelay: 0.01, maxDelay: 0.05}
        with:
          roleArn: arn:aws:iam::444455556666:role/deploy
          profile: prod
          credentials: process
          minRemaining: 600
"""


def test_a_chained_refresh_through_the_aws_cli_refreshes_the_login_and_imports_nothing_planted(
        repo, marker, elsewhere, sts, aws_env):
    (repo / "automations.yaml").write_text(CONFIG + CHAINED)
    assert run_process("-c", str(repo / "automations.yaml"), "run", "deploy", env=aws_env).code == 0
    turn_hostile(repo, marker)
    for cache in (Path(aws_env["XDG_CACHE_HOME"]) / "automations").glob("aws-credentials-*.json"):
        entry = json.loads(cache.read_text())  # both within minRemaining: the login, then the chained role
        cache.write_text(json.dumps({**entry, "Expiration": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                          time.gmtime(time.time() + 60))}))

    proc = subprocess.run([AWS_CLI, "sts", "get-caller-identity", "--profile", "prod", "--output", "json"],
                          cwd=elsewhere, env=aws_env, capture_output=True, text=True, timeout=120)

    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["Arn"].startswith("arn:aws:sts::444455556666:assumed-role/deploy/")
    assert sts.count(ASSUME) == 2 and sts.count("AssumeRole") == 2
    assert not marker.exists()
