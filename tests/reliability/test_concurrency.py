"""Concurrency: 16 `automations run` processes at once, each writing its own profile into one
credentials file (and one config file), either already holding other profiles and comments or
not there yet, nor ~/.aws (the processes may race to create the directory, the files and their
locks). Every read-modify-write is under the file's lock, so afterwards everything is there.

This is also aws-login's own check (issue 3: 10 concurrent processes writing 10 profiles into
one file, all present, each its own): it was a second test of 10 processes, from nothing, whose
every assertion this one makes, with more processes."""
from __future__ import annotations

import configparser
import subprocess
from pathlib import Path

import pytest
from support.cli import AUTOMATIONS
from support.jwts import make_token
from support.reliability import FAST_RETRY, ROLE

PROCESSES = 16
EXISTING_CREDENTIALS = """\
# written by hand; every byte of this must survive
[default]
aws_access_key_id = AKIAEXISTINGDEFAULT
aws_secret_access_key = existing-default-secret

# the CI profile
[ci]
aws_access_key_id = AKIAEXISTINGCI
aws_secret_access_key = existing-ci-secret
"""
EXISTING_CONFIG = "# regions\n[default]\nregion = eu-west-1\n\n[profile ci]\nregion = eu-north-1\n"


def config_for(profile: str) -> str:
    return f"""\
tasks:
  login:
    steps:
      - uses: aws-login
        retry: {FAST_RETRY}
        with:
          roleArn: {ROLE}
          token: {{file: token}}
          profile: {profile}
          region: us-west-2
"""


@pytest.mark.parametrize(("existing_credentials", "existing_config"),
                         [(EXISTING_CREDENTIALS, EXISTING_CONFIG), ("", "")], ids=["existing files", "nothing yet"])
def test_sixteen_processes_writing_sixteen_profiles_into_one_file_keep_everything(aws_env, tmp_path,
                                                                                  existing_credentials,
                                                                                  existing_config):
    credentials = Path(aws_env["AWS_SHARED_CREDENTIALS_FILE"])
    config = Path(aws_env["AWS_CONFIG_FILE"])
    old = {"default": "eu-west-1", "profile ci": "eu-north-1"} if existing_config else {}
    if existing_credentials:
        credentials.parent.mkdir(mode=0o700)
        credentials.write_text(existing_credentials)
        config.write_text(existing_config)
    else:
        assert not credentials.parent.exists()
    (tmp_path / "token").write_text(make_token())
    profiles = [f"env-{n:02d}" for n in range(PROCESSES)]
    for profile in profiles:
        (tmp_path / f"{profile}.yaml").write_text(config_for(profile))

    processes = [subprocess.Popen([AUTOMATIONS, "-c", str(tmp_path / f"{p}.yaml"), "run", "login"], cwd=tmp_path,
                                  env=aws_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for p in profiles]
    outputs = [p.communicate(timeout=120)[0] for p in processes]

    assert [p.returncode for p in processes] == [0] * PROCESSES, outputs
    assert credentials.parent.stat().st_mode & 0o777 == 0o700
    text = credentials.read_text()
    assert text.startswith(existing_credentials)  # the old sections come first, byte for byte
    written = configparser.RawConfigParser()
    written.read_string(text)
    assert set(written.sections()) == {*({"default", "ci"} if existing_credentials else ()), *profiles}
    assert all(written[p]["aws_session_token"] and written[p]["x_security_token_expires"] for p in profiles)
    assert len({written[p]["aws_access_key_id"] for p in profiles}) == PROCESSES  # each its own answer
    settings = configparser.RawConfigParser()
    settings.read_string(config.read_text())
    assert config.read_text().startswith(existing_config)
    assert {s: settings[s]["region"] for s in settings.sections()} == {
        **old, **{f"profile {p}": "us-west-2" for p in profiles}}
