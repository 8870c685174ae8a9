"""What the tool creates is private, whatever the umask; what others could change is refused;
a file that cannot be written is found before anything else is."""
from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
from support.cli import AUTOMATIONS, run_cli
from test_aws_login import login_config

ASSUME = "AssumeRoleWithWebIdentity"



@pytest.fixture
def token(tmp_path: Path) -> None:
    from support.jwts import make_token

    (tmp_path / "token").write_text(make_token())


def mode(path: Path | str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def created_under(root: Path) -> list[Path]:
    return [Path(d) for d, _, _ in os.walk(root)]


def test_under_umask_000_every_directory_and_file_created_is_private(write_config, sts, aws_env, token, tmp_path):
    config = login_config(write_config, options="envFile: secrets/deep/aws.env\ncredentials: process")

    proc = subprocess.run([AUTOMATIONS, "-c", str(config), "run", "login"], env=aws_env, capture_output=True,
                          text=True, timeout=120, umask=0)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    home = Path(aws_env["HOME"])
    directories = created_under(home) + created_under(tmp_path / "secrets")
    assert {str(d): mode(d) for d in directories if d != home} == {str(d): 0o700 for d in directories if d != home}
    files = [Path(d) / f for d, _, names in os.walk(home) for f in names if not f.startswith(".")]
    files.append(tmp_path / "secrets" / "deep" / "aws.env")
    assert {str(f): mode(f) & 0o077 for f in files} == {str(f): 0 for f in files}
    assert len(directories) > 6  # ~/.aws, ~/.cache/automations, ~/.state/automations/projects/..., secrets/deep


def test_a_state_directory_others_can_write_costs_a_warning_not_the_run(write_config, base_env):
    config = write_config("tasks: {a: {command: echo done}}\n")
    state = Path(base_env["XDG_STATE_HOME"]) / "automations"
    state.mkdir(parents=True)
    state.chmod(0o777)

    result = run_cli("-c", str(config), "run", "a", env=base_env)

    assert result.code == 0, result.output
    assert "done" in result.stdout
    assert "can be changed by other users" in result.stderr
    assert not (state / "projects").exists()


def test_an_env_file_that_cannot_be_written_is_found_before_the_credentials_are(write_config, sts, aws_env, token,
                                                                                tmp_path):
    (tmp_path / "blocked").write_text("a file where the env file's directory should be\n")
    config = login_config(write_config, options="envFile: blocked/aws.env")

    result = run_cli("-c", str(config), "run", "login", env=aws_env)

    assert result.code == 1
    assert "blocked" in result.output
    assert not Path(aws_env["AWS_SHARED_CREDENTIALS_FILE"]).exists()
    assert sts.count(ASSUME) == 0


def test_an_env_file_that_is_a_directory_is_found_before_the_credentials_are(write_config, sts, aws_env, token,
                                                                              tmp_path):
    (tmp_path / "aws.env").mkdir()
    config = login_config(write_config, options="envFile: aws.env")

    result = run_cli("-c", str(config), "run", "login", env=aws_env)

    assert result.code == 1
    assert "is not a regular file" in result.output
    assert not Path(aws_env["AWS_SHARED_CREDENTIALS_FILE"]).exists()


def test_a_credentials_file_others_can_read_is_tightened_on_a_skipped_rerun(write_config, sts, aws_env, token):
    config = login_config(write_config)
    assert run_cli("-c", str(config), "run", "login", env=aws_env).code == 0
    credentials = Path(aws_env["AWS_SHARED_CREDENTIALS_FILE"])
    credentials.chmod(0o644)

    result = run_cli("-c", str(config), "run", "login", env=aws_env)

    assert "skipped" in result.stdout, result.output
    assert mode(credentials) == 0o600
