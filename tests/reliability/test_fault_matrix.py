"""Fault matrix: every transient error, injected by a proxy between `automations` and the
moto server, is survived within the step's attempts, by login and by secret fetching; every
fatal error costs exactly one call and one clear failure line.

Faults hit the first two calls of the operation; the steps allow four attempts (fast
delays), so success proves the retry and the exact call count proves nothing more was sent.
"""
from __future__ import annotations

import configparser
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dotenv import dotenv_values
from support.cli import run_cli
from support.jwts import make_token
from support.proxy import FaultProxy
from support.reliability import ASSUME, BATCH, FAST_RETRY, login_and_secrets_config, seed_secrets, unique_prefix

SLOW = 1.5            # seconds a slow response takes...
READ_TIMEOUT = "0.5"  # ...against this read timeout


@dataclass(frozen=True)
class Fault:
    name: str
    status: int = 400
    code: str = "Throttling"
    drop: bool = False
    delay: float = 0.0
    says: str = ""       # what the retry warning names
    error_class: str = "transient"  # and the class it gives (issue 16)

    def inject(self, proxy: FaultProxy, action: str, times: int) -> None:
        proxy.fail(action=action, times=times, status=self.status, code=self.code, drop=self.drop, delay=self.delay)


LOGIN_TRANSIENT = [
    Fault("IDPCommunicationError", code="IDPCommunicationError", says="IDPCommunicationError"),
    Fault("InvalidIdentityToken", code="InvalidIdentityToken", says="InvalidIdentityToken"),
    Fault("throttling", code="Throttling", says="Throttling", error_class="throttled"),
    Fault("HTTP 429", status=429, code="TooManyRequestsException", says="HTTP 429", error_class="throttled"),
    Fault("HTTP 500", status=500, code="InternalFailure", says="HTTP 500"),
    Fault("HTTP 503", status=503, code="ServiceUnavailable", says="HTTP 503"),
    Fault("dropped connection", drop=True, says="cannot reach STS"),
    Fault("slower than the read timeout", delay=SLOW, says="timeout"),
]
SECRETS_TRANSIENT = [
    Fault("throttling", code="ThrottlingException", says="ThrottlingException", error_class="throttled"),
    Fault("HTTP 500", status=500, code="InternalServiceError", says="InternalServiceError"),
    Fault("HTTP 503", status=503, code="ServiceUnavailable", says="ServiceUnavailable"),
    Fault("dropped connection", drop=True, says="secretsmanager"),
    Fault("slower than the read timeout", delay=SLOW, says="timeout"),
]
LOGIN_FATAL = [
    Fault("AccessDenied", status=403, code="AccessDenied"),
    Fault("IDPRejectedClaim", status=403, code="IDPRejectedClaim"),
    Fault("ValidationError", code="ValidationError"),
    Fault("MalformedPolicyDocument", code="MalformedPolicyDocument"),
    Fault("RegionDisabledException", status=403, code="RegionDisabledException"),
    Fault("an unknown error", code="SomethingNobodyListed"),
]
SECRETS_FATAL = [
    Fault("DecryptionFailure", code="DecryptionFailure"),
    Fault("InvalidParameterException", code="InvalidParameterException"),
    Fault("UnrecognizedClientException", code="UnrecognizedClientException"),
    Fault("an unknown error", code="SomethingNobodyListed"),
]


# AssumeRole (role chaining, aws-assume-role): signed with the login's credentials.
CHAINED_TRANSIENT = [f for f in LOGIN_TRANSIENT if f.code not in ("IDPCommunicationError", "InvalidIdentityToken")]
CHAINED_FATAL = [
    Fault("AccessDenied", status=403, code="AccessDenied"),
    Fault("ExpiredToken", status=403, code="ExpiredToken"),
    Fault("InvalidClientTokenId", status=403, code="InvalidClientTokenId"),
    Fault("ValidationError", code="ValidationError"),
    Fault("MalformedPolicyDocument", code="MalformedPolicyDocument"),
    Fault("an unknown error", code="SomethingNobodyListed"),
]
CHAINED_ROLE = "arn:aws:iam::444455556666:role/deploy"


def names(faults: list[Fault]) -> list[str]:
    return [f.name for f in faults]


@pytest.fixture
def proxy(moto_endpoint: str, aws_env: dict[str, str]) -> Iterator[FaultProxy]:
    with FaultProxy(moto_endpoint) as fault_proxy:
        aws_env["AWS_ENDPOINT_URL"] = fault_proxy.url
        aws_env["AUTOMATIONS_AWS_READ_TIMEOUT"] = READ_TIMEOUT
        yield fault_proxy


@pytest.fixture
def boot(tmp_path: Path, moto_endpoint: str) -> dict[str, str]:
    """A token and a configuration logging in and reading three secrets; returns the
    variables the env file must hold."""
    prefix = unique_prefix()
    values = {f"{prefix}/db": "p@ss'w#rd", f"{prefix}/api": "k-123", f"{prefix}/dsn": "postgres://u@h/db"}
    seed_secrets(moto_endpoint, values)
    variables = dict(zip(("DB", "API", "DSN"), values, strict=True))
    (tmp_path / "token").write_text(make_token())
    (tmp_path / "automations.yaml").write_text(login_and_secrets_config(variables))
    return {name: values[secret_id] for name, secret_id in variables.items()}


def run(tmp_path: Path, env: dict[str, str]):
    return run_cli("-c", str(tmp_path / "automations.yaml"), "run", "boot", cwd=tmp_path, env=env)


def profile_written(env: dict[str, str]) -> bool:
    parser = configparser.RawConfigParser()
    parser.read(env["AWS_SHARED_CREDENTIALS_FILE"])
    return parser.has_option("dev", "aws_session_token")


@pytest.mark.parametrize("fault", LOGIN_TRANSIENT, ids=names(LOGIN_TRANSIENT))
def test_login_survives_two_transient_failures(fault, proxy, aws_env, boot, tmp_path):
    fault.inject(proxy, ASSUME, times=2)

    result = run(tmp_path, aws_env)

    assert result.code == 0, result.output
    assert proxy.count(ASSUME) == 3
    warnings = [line for line in result.stderr.splitlines() if "failed" in line and "retrying" in line]
    assert len(warnings) == 2 and all(fault.says in line for line in warnings), result.stderr
    assert all(f"; {fault.error_class}; retrying in" in line for line in warnings), result.stderr
    assert profile_written(aws_env)
    assert dotenv_values(tmp_path / ".env") == boot


@pytest.mark.parametrize("fault", SECRETS_TRANSIENT, ids=names(SECRETS_TRANSIENT))
def test_secret_fetching_survives_two_transient_failures(fault, proxy, aws_env, boot, tmp_path):
    fault.inject(proxy, BATCH, times=2)

    result = run(tmp_path, aws_env)

    assert result.code == 0, result.output
    assert proxy.count(BATCH) == 3
    assert proxy.count(ASSUME) == 1
    warnings = [line for line in result.stderr.splitlines() if "failed" in line and "retrying" in line]
    assert len(warnings) == 2 and all(fault.says in line for line in warnings), result.stderr
    assert all(f"; {fault.error_class}; retrying in" in line for line in warnings), result.stderr
    assert dotenv_values(tmp_path / ".env") == boot


@pytest.mark.parametrize("fault", LOGIN_FATAL, ids=names(LOGIN_FATAL))
def test_a_fatal_login_error_costs_one_call_and_writes_nothing(fault, proxy, aws_env, boot, tmp_path):
    fault.inject(proxy, ASSUME, times=4)

    result = run(tmp_path, aws_env)

    assert result.code == 1
    assert proxy.count(ASSUME) == 1
    assert proxy.count(BATCH) == 0
    failure = [line for line in result.stdout.splitlines() if "aws-login: failed" in line]
    assert len(failure) == 1 and fault.code in failure[0], result.stdout
    assert "Traceback" not in result.output
    assert not Path(aws_env["AWS_SHARED_CREDENTIALS_FILE"]).exists()
    assert not (tmp_path / ".env").exists()


@pytest.mark.parametrize("fault", SECRETS_FATAL, ids=names(SECRETS_FATAL))
def test_a_fatal_secrets_error_costs_one_call_and_leaves_the_env_file(fault, proxy, aws_env, boot, tmp_path):
    (tmp_path / ".env").write_text("OLD='value'\n")
    fault.inject(proxy, BATCH, times=4)

    result = run(tmp_path, aws_env)

    assert result.code == 1
    assert proxy.count(BATCH) == 1
    assert proxy.count("GetSecretValue") == 0
    failure = [line for line in result.stdout.splitlines() if "secrets-manager: failed" in line]
    assert len(failure) == 1 and fault.code in failure[0], result.stdout
    assert "Traceback" not in result.output
    assert (tmp_path / ".env").read_text() == "OLD='value'\n"


@pytest.fixture
def chain(tmp_path: Path) -> Path:
    """aws-login into the hub, then aws-assume-role into a second account, writing prod.env."""
    (tmp_path / "token").write_text(make_token())
    config = tmp_path / "chain.yaml"
    config.write_text(login_and_secrets_config({}).split("      - uses: secrets-manager")[0]
                      + "      - uses: aws-assume-role\n"
                      + f"        retry: {FAST_RETRY}\n"
                      + f"        with: {{roleArn: '{CHAINED_ROLE}', profile: prod, envFile: prod.env}}\n")
    return config


def chained_profile_written(env: dict[str, str]) -> bool:
    parser = configparser.RawConfigParser()
    parser.read(env["AWS_SHARED_CREDENTIALS_FILE"])
    return parser.has_option("prod", "aws_session_token")


@pytest.mark.parametrize("fault", CHAINED_TRANSIENT, ids=names(CHAINED_TRANSIENT))
def test_role_chaining_survives_two_transient_failures(fault, proxy, aws_env, chain, tmp_path):
    fault.inject(proxy, "AssumeRole", times=2)

    result = run_cli("-c", str(chain), "run", "boot", cwd=tmp_path, env=aws_env)

    assert result.code == 0, result.output
    assert proxy.count("AssumeRole") == 3 and proxy.count(ASSUME) == 1
    warnings = [line for line in result.stderr.splitlines() if "failed" in line and "retrying" in line]
    assert len(warnings) == 2 and all(fault.says in line for line in warnings), result.stderr
    assert all(f"; {fault.error_class}; retrying in" in line for line in warnings), result.stderr
    assert chained_profile_written(aws_env)
    assert dotenv_values(tmp_path / "prod.env")["AWS_ACCESS_KEY_ID"]


@pytest.mark.parametrize("fault", CHAINED_FATAL, ids=names(CHAINED_FATAL))
def test_a_fatal_role_chaining_error_costs_one_call_and_writes_nothing(fault, proxy, aws_env, chain, tmp_path):
    fault.inject(proxy, "AssumeRole", times=4)

    result = run_cli("-c", str(chain), "run", "boot", cwd=tmp_path, env=aws_env)

    assert result.code == 1
    assert proxy.count("AssumeRole") == 1
    failure = [line for line in result.stdout.splitlines() if "aws-assume-role: failed" in line]
    assert len(failure) == 1 and fault.code in failure[0], result.stdout
    assert "Traceback" not in result.output
    assert profile_written(aws_env) and not chained_profile_written(aws_env)  # the login's stays
    assert not (tmp_path / "prod.env").exists()
