"""Hostile endpoints: each AWS step, pointed at a server that hangs, resets, drips, answers
HTML (200 and 500) or cuts its answer off after the secrets, fails the way a careful user
expects. For every mode and every step:

- exit 1, one failure line, no traceback;
- every attempt of the step's retry policy was made, as each of these is transient; except
  for a well-formed answer without what the call promises (`incomplete`): one call, as a
  retry would get the same answer;
- no secret, key or token, nor its JSON-escaped, URL-encoded or base64 form, in any output
  (text, and every string of every JSON line decoded), nor in the history, the logs, or what
  `status` and `logs` print afterwards;
- the env file and the credentials files that were there before are unchanged, byte for byte.

Only the service under test is pointed at the hostile endpoint (AWS_ENDPOINT_URL_STS,
..._SECRETS_MANAGER, ..._SSM); the others stay on the moto server.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.cli import run_cli
from support.hostile_endpoint import MODES, PLANTED, HostileEndpoint
from support.jwts import make_token
from support.reliability import AWS_STEPS, AwsStep, decoded, printable_forms, snapshot

ATTEMPTS = 2
FATAL_MODES = ("incomplete",)
RETRY = f"{{attempts: {ATTEMPTS}, initialDelay: 0.01, maxDelay: 0.05}}"
READ_TIMEOUT = "0.5"        # seconds a hung endpoint is given per read...
CALL_DEADLINE = "1.5"       # ...and any endpoint for its whole answer
DRIP_READ_TIMEOUT = "5"     # one byte a second never lets this read timeout fire: the deadline must

PREVIOUS_ENV = "API_TOKEN='previous-api-token-value-0001'\nOTHER='kept-other-value-0002'\n"
PREVIOUS_CREDENTIALS = ("[dev]\naws_access_key_id = AKIAPREVIOUS00000001\n"
                        "aws_secret_access_key = previous/secret+access+key+0000000000001\n")
PREVIOUS_CONFIG = "[profile dev]\nregion = us-east-1\noutput = json\n"
PREVIOUS_SECRETS = ("previous-api-token-value-0001", "kept-other-value-0002",
                    "previous/secret+access+key+0000000000001")


# What each step's cut-off answer is: STS speaks XML, Secrets Manager and SSM speak JSON.
CUT_MODE = {"aws-login": "broken-xml", "aws-assume-role": "broken-xml", "secrets-manager": "truncated-json", "ssm-parameters": "truncated-json"}
CASES = [(step, mode) for step in AWS_STEPS for mode in MODES
         if mode not in ("broken-xml", "truncated-json") or CUT_MODE[step] == mode]


@pytest.fixture
def project(tmp_path: Path, aws_env: dict[str, str]) -> Path:
    """A token, an env file and shared AWS files from before: what must survive."""
    aws_dir = Path(aws_env["HOME"]) / ".aws"
    aws_dir.mkdir(mode=0o700)
    Path(aws_env["AWS_SHARED_CREDENTIALS_FILE"]).write_text(PREVIOUS_CREDENTIALS)
    Path(aws_env["AWS_SHARED_CREDENTIALS_FILE"]).chmod(0o600)
    Path(aws_env["AWS_CONFIG_FILE"]).write_text(PREVIOUS_CONFIG)
    (tmp_path / ".env").write_text(PREVIOUS_ENV)
    (tmp_path / ".env").chmod(0o600)
    (tmp_path / "token").write_text(make_token())
    # Secrets Manager and SSM without aws-login: any keys do for moto and for the hostile peer.
    aws_env.update(AWS_ACCESS_KEY_ID="AKIAENVIRONMENT00001", AWS_SECRET_ACCESS_KEY="environment/secret/key/00001",
                   AUTOMATIONS_AWS_READ_TIMEOUT=READ_TIMEOUT, AUTOMATIONS_AWS_CALL_DEADLINE=CALL_DEADLINE)
    return tmp_path


@pytest.fixture(params=CASES, ids=[f"{step}-{mode}" for step, mode in CASES])
def case(request: Any, project: Path, aws_env: dict[str, str]) -> Iterator[tuple[AwsStep, HostileEndpoint]]:
    step, mode = request.param
    service = AWS_STEPS[step]
    (project / "automations.yaml").write_text(service.config(f"retry: {RETRY}"))
    with HostileEndpoint(mode) as endpoint:
        aws_env[service.endpoint_variable] = endpoint.url
        if mode == "drip":
            aws_env["AUTOMATIONS_AWS_READ_TIMEOUT"] = DRIP_READ_TIMEOUT
        yield service, endpoint


def secrets_known(project: Path) -> list[str]:
    token = (project / "token").read_text()
    return [*PLANTED, *PREVIOUS_SECRETS, token, token.rsplit(".", 1)[-1]]


def leaks(texts: dict[str, str], secrets: list[str]) -> list[tuple[str, str]]:
    """Each secret, in any form GitHub Actions masks, in any text or any string of its JSON lines."""
    forms = {form: secret for secret in secrets for form in printable_forms(secret)}
    return sorted({(where, forms[form][:8] + "...") for where, text in texts.items() for string in decoded(text)
                   for form in forms if form in string})


def state_files(env: dict[str, str]) -> dict[str, str]:
    return {str(p): p.read_text(errors="replace") for p in Path(env["XDG_STATE_HOME"]).rglob("*") if p.is_file()}


def watched_files(project: Path, env: dict[str, str]) -> dict[str, Any]:
    """The project (without HOME, which holds the run's history) and the shared AWS files."""
    return {"project": snapshot(project, ignore=("home",)), "aws": snapshot(Path(env["HOME"]) / ".aws")}


@pytest.mark.parametrize("output", ["text", "json"])
def test_a_hostile_endpoint_fails_the_step_after_its_retries_and_leaks_and_writes_nothing(case, output, project,
                                                                                          aws_env):
    service, endpoint = case
    before = watched_files(project, aws_env)

    result = run_cli("-vv", "--output", output, "-c", str(project / "automations.yaml"), "run", "boot",
                     cwd=project, env=aws_env, timeout=60)

    assert result.code == 1, result.output
    attempts = 1 if endpoint.mode in FATAL_MODES else ATTEMPTS
    assert endpoint.count(service.action) == attempts, (endpoint.actions, result.output)
    if output == "text":
        failures = [line for line in result.stdout.splitlines() if f"{service.name}: failed" in line]
        assert len(failures) == 1, result.output
    else:
        events = [json.loads(line) for line in result.stdout.splitlines()]
        assert [e.get("status") for e in events if e.get("event") == "step"] == ["failed"], events
    after = watched_files(project, aws_env)
    assert after == before
    status = run_cli("status", "-c", str(project / "automations.yaml"), cwd=project, env=aws_env)
    logs = run_cli("logs", "-c", str(project / "automations.yaml"), cwd=project, env=aws_env)
    texts = {"stdout": result.stdout, "stderr": result.stderr, "status": status.output, "logs": logs.output,
             **state_files(aws_env)}
    assert leaks(texts, secrets_known(project)) == []


def test_without_tracebacks_the_failure_is_one_line_naming_what_went_wrong(project, aws_env):
    """Broken XML holding fresh keys: the message says the answer was cut off, and no more."""
    service = AWS_STEPS["aws-login"]
    (project / "automations.yaml").write_text(service.config(f"retry: {RETRY}"))
    with HostileEndpoint("broken-xml") as endpoint:
        aws_env[service.endpoint_variable] = endpoint.url
        result = run_cli("-c", str(project / "automations.yaml"), "run", "boot", cwd=project, env=aws_env)

    assert result.code == 1
    assert "Traceback" not in result.output
    failure = [line for line in result.stdout.splitlines() if "aws-login: failed" in line]
    assert len(failure) == 1 and "cut off" in failure[0], result.output
