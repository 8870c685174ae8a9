"""Backoff that fits the error (issue 16), through the fault proxy, with aws-login's default
retry policies (no `retry:` in these configurations unless a test is about one):

- a transient error (an IDPCommunicationError, a token command not ready yet) is retried
  within the transient policy's first window, half a second: a lone environment is logged in
  about a second after the hiccup, not the several seconds a fleet-sized wait would cost;
- a throttled answer is retried as throttled, and `retry: {throttled: ...}` changes that
  class only;
- the attempts a step took are in its final line, its JSON `step` event and the history.

What is asserted is what the tool decided (the class and wait it announced, the calls the
proxy saw), not how fast a loaded machine ran it; wall-clock bounds are generous.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from support.cli import run_cli
from support.jwts import make_token
from support.reliability import ASSUME, ROLE

from automations.aws.declarations import AWS_RETRY
from automations.engine.report.history import RunHistory
from automations.retry import THROTTLED, TRANSIENT

RETRY_LINE = re.compile(r"attempt (\d+) of (\d+) failed: (.*); (throttled|transient); retrying in ([\d.]+)s")
FIRST_TRANSIENT_WINDOW = AWS_RETRY[TRANSIENT].initial_delay  # 0.5 s: the first wait is uniform in [0, this]


def login_config(tmp_path: Path, token: str, retry: str = "") -> Path:
    (tmp_path / "token").write_text(make_token())
    config = tmp_path / "automations.yaml"
    config.write_text(f"""\
tasks:
  boot:
    steps:
      - uses: aws-login
{f"        retry: {retry}{chr(10)}" if retry else ""}        with:
          roleArn: {ROLE}
          region: us-east-1
          token: {token}
""")
    return config


def run(config: Path, env: dict[str, str], *extra: str):
    return run_cli("-c", str(config), *extra, "run", "boot", cwd=config.parent, env=env)


def retries(text: str) -> list[tuple[int, int, str, str, float]]:
    return [(int(m[1]), int(m[2]), m[3], m[4], float(m[5])) for m in RETRY_LINE.finditer(text)]


def fails_once(tmp_path: Path) -> str:
    """A token command that is not ready the first time (as the Gitpod CLI at start-up)."""
    script = tmp_path / "token.sh"
    script.write_text(f'if [ ! -e "{tmp_path}/tried" ]; then touch "{tmp_path}/tried"; '
                      f'echo "gitpod: not ready" >&2; exit 1; fi\ncat "{tmp_path}/token"\n')
    return f"{{command: sh {script}}}"


def test_one_idp_communication_error_is_retried_within_the_first_transient_window(sts, aws_env, tmp_path):
    sts.fail(action=ASSUME, times=1, status=400, code="IDPCommunicationError")

    result = run(login_config(tmp_path, "{file: token}"), aws_env)

    assert result.code == 0, result.output
    [(attempt, _, error, error_class, wait)] = retries(result.stderr)
    assert (attempt, error_class) == (1, TRANSIENT) and "IDPCommunicationError" in error
    assert wait <= FIRST_TRANSIENT_WINDOW
    first, second = sts.calls(ASSUME)
    assert first.faulted and not second.faulted
    assert second.at - first.at < 10  # generous: the announced wait is at most 0.5 s
    assert "boot | aws-login: changed after 2 attempts" in result.stdout


def test_a_token_command_that_fails_once_is_retried_within_the_first_transient_window(sts, aws_env, tmp_path):
    result = run(login_config(tmp_path, fails_once(tmp_path)), aws_env)

    assert result.code == 0, result.output
    [(attempt, _, error, error_class, wait)] = retries(result.stderr)
    # The command's own output is never shown (it may hold the token): the exit code is.
    assert (attempt, error_class) == (1, TRANSIENT) and "exit code 1" in error and "not ready" not in error
    assert wait <= FIRST_TRANSIENT_WINDOW
    assert sts.count(ASSUME) == 1  # no STS call was spent on the missing token
    assert "boot | aws-login: changed after 2 attempts" in result.stdout


def test_a_throttled_answer_is_retried_as_throttled(sts, aws_env, tmp_path):
    # The throttled policy's own first window (10 s by default) is shortened for the test:
    # only this class; the transient policy stays the default.
    sts.fail(action=ASSUME, times=1, status=400, code="Throttling")
    sts.fail(action=ASSUME, times=1, status=503, code="ServiceUnavailable")

    result = run(login_config(tmp_path, "{file: token}", retry="{throttled: {initialDelay: 0.01, maxDelay: 0.01}}"),
                 aws_env)

    assert result.code == 0, result.output
    (first, second) = retries(result.stderr)
    assert first[3] == THROTTLED and "Throttling" in first[2] and first[4] <= 0.01
    assert second[3] == TRANSIENT and "503" in second[2] and second[4] <= 2 * FIRST_TRANSIENT_WINDOW
    assert first[1] == second[1] == AWS_RETRY[THROTTLED].attempts  # one budget for the whole
    assert sts.count(ASSUME) == 3


def test_http_429_is_throttled(sts, aws_env, tmp_path):
    sts.fail(action=ASSUME, times=1, status=429, code="TooManyRequestsException")

    result = run(login_config(tmp_path, "{file: token}", retry="{throttled: {initialDelay: 0.01}}"), aws_env)

    assert result.code == 0, result.output
    assert [r[3] for r in retries(result.stderr)] == [THROTTLED]


def test_attempts_are_in_the_json_step_event_and_the_history(sts, aws_env, tmp_path):
    sts.fail(action=ASSUME, times=2, status=400, code="IDPCommunicationError")
    config = login_config(tmp_path, "{file: token}", retry="{transient: {initialDelay: 0.01, maxDelay: 0.02}}")

    result = run(config, aws_env, "--output", "json")

    assert result.code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    [step] = [e for e in events if e["event"] == "step"]
    assert step["attempts"] == 3 and step["status"] == "changed"
    [record] = RunHistory(config, aws_env).records("boot")
    assert [s["attempts"] for s in record["steps"]] == [3]


def test_a_failed_step_says_how_many_attempts_it_took(sts, aws_env, tmp_path):
    sts.fail(action=ASSUME, times=5, status=500, code="InternalFailure")
    config = login_config(tmp_path, "{file: token}", retry="{attempts: 3, initialDelay: 0.01, maxDelay: 0.02}")

    result = run(config, aws_env)

    assert result.code == 1
    assert "boot | aws-login: failed after 3 attempts" in result.stdout
    assert sts.count(ASSUME) == 3
    [record] = RunHistory(config, aws_env).records("boot")
    assert record["steps"][0]["attempts"] == 3 and record["status"] == "failed"


def test_a_step_that_needed_one_attempt_says_nothing_about_attempts(sts, aws_env, tmp_path):
    result = run(login_config(tmp_path, "{file: token}"), aws_env)

    assert result.code == 0, result.output
    assert "boot | aws-login: changed (" in result.stdout and "attempt" not in result.output
