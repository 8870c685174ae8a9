"""Every AWS call is bounded (issue 11): an endpoint that hangs, or that sends its headers and
then one byte a second, cannot hold a step past its `timeout:`, and SIGTERM ends a run
blocked in such a call at once, with exit code 130 and the files as they were.

The read timeout is set long, as for a slow link (60 s; it is per socket read, so the drip
would defeat any value), which puts the call's deadline at 125 s: only the step's timeout or
the signal can end the call in time.

The bounds are generous for a loaded machine; the comments give what a quiet one shows.
"""
from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from support.cli import AUTOMATIONS, run_cli
from support.hostile_endpoint import HostileEndpoint
from support.jwts import make_token
from support.reliability import AWS_STEPS, snapshot

# The step's timeout: short, so the cases cost little, yet far from the call's own deadline
# (125 s): the test also checks that the call was in flight when the timeout came.
STEP_TIMEOUT = 2
STEP_BOUND = 17.0    # seconds; a quiet machine: 2 s (the timeout) plus about 0.5 s of start-up
SIGNAL_BOUND = 6.0   # seconds; a quiet machine: well under 1 s


def project(tmp_path: Path, aws_env: dict[str, str], step: str, endpoint: HostileEndpoint,
            timeout: int = 5) -> Path:
    (tmp_path / "token").write_text(make_token())
    (tmp_path / ".env").write_text("API_TOKEN='previous-value'\n")
    (tmp_path / "automations.yaml").write_text(AWS_STEPS[step].config(f"timeout: {timeout}"))
    credentials = tmp_path / "credentials"  # aws-assume-role's sourceProfile
    credentials.write_text("[dev]\naws_access_key_id = AKIASOURCE0000000001\naws_secret_access_key = source/key/01\n")
    credentials.chmod(0o600)
    aws_env.update({AWS_STEPS[step].endpoint_variable: endpoint.url, "AWS_ACCESS_KEY_ID": "AKIAENVIRONMENT00001",
                    "AWS_SECRET_ACCESS_KEY": "environment/secret/key/00001", "AUTOMATIONS_AWS_READ_TIMEOUT": "60",
                    "AWS_SHARED_CREDENTIALS_FILE": str(credentials)})
    return tmp_path / "automations.yaml"


def wait_for(condition: Any, seconds: float) -> bool:
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("mode", ["hang", "drip"])
@pytest.mark.parametrize("step", list(AWS_STEPS))
def test_a_step_blocked_in_an_aws_call_ends_at_its_timeout(step, mode, tmp_path, aws_env):
    with HostileEndpoint(mode) as endpoint:
        config = project(tmp_path, aws_env, step, endpoint, timeout=STEP_TIMEOUT)
        started = time.monotonic()
        result = run_cli("-c", str(config), "run", "boot", cwd=tmp_path, env=aws_env, timeout=120)
        elapsed = time.monotonic() - started
        calls = endpoint.count(AWS_STEPS[step].action)

    assert result.code == 1, result.output
    assert calls >= 1, "the step timed out before its call reached the endpoint"
    assert elapsed < STEP_BOUND
    failure = [line for line in result.stdout.splitlines() if f"{step}: failed" in line]
    assert len(failure) == 1 and f"timed out after {STEP_TIMEOUT}s" in failure[0], result.output
    assert (tmp_path / ".env").read_text() == "API_TOKEN='previous-value'\n"


@pytest.mark.parametrize("mode", ["hang", "drip"])
@pytest.mark.parametrize("step", list(AWS_STEPS))
def test_sigterm_ends_a_run_blocked_in_an_aws_call_at_once(step, mode, tmp_path, aws_env):
    action = AWS_STEPS[step].action
    with HostileEndpoint(mode) as endpoint:
        config = project(tmp_path, aws_env, step, endpoint)
        before = snapshot(tmp_path, ignore=("home",))
        process = subprocess.Popen([AUTOMATIONS, "-c", str(config), "run", "boot"], cwd=tmp_path, env=aws_env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert wait_for(lambda: endpoint.count(action) >= 1, 30), "the call never reached the endpoint"
            time.sleep(0.3)  # in the call's read, not on its way to it
            signalled = time.monotonic()
            process.send_signal(signal.SIGTERM)
            stdout, stderr = process.communicate(timeout=60)
            elapsed = time.monotonic() - signalled
        finally:
            process.kill()
            process.wait()

    assert process.returncode == 130, stdout + stderr
    assert elapsed < SIGNAL_BOUND
    assert "Traceback" not in stdout + stderr
    assert snapshot(tmp_path, ignore=("home",)) == before
