"""How secrets are read (automations/aws/secrets.py), for what the moto server cannot show:
per-secret errors in a batch answer, concurrency and its bound, when values reach the
redactor, and the credentials an earlier aws-login left for the run."""
from __future__ import annotations

import base64
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from support.proxy import FaultProxy

from automations.api import StepContext
from automations.aws.clients import AwsCredentials, AwsSessions
from automations.aws.secrets import (
    BATCH_GET_SECRET_VALUE_MAX_IDS,
    SecretRef,
    SecretsManagerReader,
    run_concurrently,
    secret_parts,
)
from automations.engine.step import RunServices
from automations.errors import StepFailed, ThrottledError, TransientError
from tasks.secrets_manager import SecretEntry, SecretsManagerOptions, SecretsManagerStep


class ScriptedSecretsManager:
    """A stand-in client answering BatchGetSecretValue from a dict, recording the calls."""

    def __init__(self, secrets: dict[str, dict[str, Any]], errors: dict[str, str] | None = None,
                 barrier: threading.Barrier | None = None) -> None:
        self.secrets = secrets
        self.errors = errors or {}
        self.barrier = barrier
        self.batches: list[list[str]] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.lock = threading.Lock()

    def batch_get_secret_value(self, SecretIdList: list[str]) -> dict[str, Any]:  # noqa: N803 - boto3's name
        with self.lock:
            self.batches.append(SecretIdList)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.barrier is not None:
                self.barrier.wait()
            values = [{"Name": i, "ARN": f"arn:aws:secretsmanager:us-east-1:1:secret:{i}-AbCdEf", **self.secrets[i]}
                      for i in SecretIdList if i in self.secrets]
            errors = [{"SecretId": i, "ErrorCode": self.errors[i], "Message": "scripted"}
                      for i in SecretIdList if i in self.errors]
            return {"SecretValues": values, "Errors": errors}
        finally:
            with self.lock:
                self.in_flight -= 1


def test_a_per_secret_error_in_the_batch_answer_fails_naming_the_secret_and_code() -> None:
    client = ScriptedSecretsManager({"ok": {"SecretString": "v"}}, errors={"kms-broken": "DecryptionFailure"})
    with pytest.raises(StepFailed, match="kms-broken: DecryptionFailure") as caught:
        SecretsManagerReader(client, lambda v: None).read([SecretRef("ok"), SecretRef("kms-broken")])
    assert not isinstance(caught.value, TransientError)


def test_a_throttled_secret_in_the_batch_answer_is_throttled() -> None:
    client = ScriptedSecretsManager({}, errors={"busy": "ThrottlingException"})
    with pytest.raises(ThrottledError, match="busy: ThrottlingException"):
        SecretsManagerReader(client, lambda v: None).read([SecretRef("busy")])


def test_a_server_error_in_the_batch_answer_is_transient_not_throttled() -> None:
    client = ScriptedSecretsManager({}, errors={"down": "InternalServiceError"})
    with pytest.raises(TransientError, match="down: InternalServiceError") as caught:
        SecretsManagerReader(client, lambda v: None).read([SecretRef("down")])
    assert not isinstance(caught.value, ThrottledError)


def test_one_throttled_secret_makes_the_whole_batch_answer_throttled() -> None:
    client = ScriptedSecretsManager({}, errors={"down": "InternalServiceError", "busy": "ThrottlingException"})
    with pytest.raises(ThrottledError):
        SecretsManagerReader(client, lambda v: None).read([SecretRef("down"), SecretRef("busy")])


def test_not_found_entries_are_collected_not_raised() -> None:
    client = ScriptedSecretsManager({"a": {"SecretString": "v"}},
                                    errors={"b": "ResourceNotFoundException", "c": "ResourceNotFoundException"})
    read = SecretsManagerReader(client, lambda v: None).read([SecretRef("a"), SecretRef("b"), SecretRef("c")])
    assert sorted(r.id for r in read.missing) == ["b", "c"] and list(read.values) == [SecretRef("a")]


def test_a_secret_asked_for_by_partial_arn_is_matched_to_its_answer() -> None:
    partial = "arn:aws:secretsmanager:us-east-1:1:secret:db"
    client = ScriptedSecretsManager({partial: {"SecretString": "v", "Name": "db", "ARN": partial + "-AbCdEf"}})
    read = SecretsManagerReader(client, lambda v: None).read([SecretRef(partial)])
    assert read.values[SecretRef(partial)].string == "v" and client.batches == [[partial]]


def test_batches_are_issued_concurrently() -> None:
    ids = [f"s{i}" for i in range(3 * BATCH_GET_SECRET_VALUE_MAX_IDS)]
    # Each call waits until all three are in flight: only concurrent calls get past it.
    client = ScriptedSecretsManager({i: {"SecretString": i} for i in ids}, barrier=threading.Barrier(3, timeout=30))
    read = SecretsManagerReader(client, lambda v: None).read(SecretRef(i) for i in ids)
    assert len(read.values) == len(ids) and len(client.batches) == 3


def test_concurrency_is_bounded() -> None:
    ids = [f"s{i}" for i in range(12 * BATCH_GET_SECRET_VALUE_MAX_IDS)]
    client = ScriptedSecretsManager({i: {"SecretString": i} for i in ids})
    SecretsManagerReader(client, lambda v: None, max_workers=4).read(SecretRef(i) for i in ids)
    assert len(client.batches) == 12 and client.most_in_flight <= 4
    assert all(len(batch) <= BATCH_GET_SECRET_VALUE_MAX_IDS for batch in client.batches)


def test_the_whole_value_reaches_the_redactor_as_it_arrives_and_no_field_on_its_own() -> None:
    # A field is registered by the step that writes it: one nobody asked for (`"n": 12345`)
    # must not mask other output.
    text = json.dumps({"pw": "field-secret", "n": {"deep": 12345}})
    client = ScriptedSecretsManager({"s": {"SecretString": text}, "b": {"SecretBinary": b"\x00binary-secret"}})
    seen: list[Any] = []
    SecretsManagerReader(client, seen.append).read([SecretRef("s"), SecretRef("b")])
    assert sorted(seen, key=str) == sorted([text, b"\x00binary-secret", base64.b64encode(b"\x00binary-secret").decode()],
                                           key=str)


def test_what_is_registered_of_a_written_json_value_is_it_and_the_strings_in_it() -> None:
    assert list(secret_parts({"pw": "s3cret", "n": {"deep": 12345, "ok": True}, "l": ["a", None]})) == [
        '{"pw":"s3cret","n":{"deep":12345,"ok":true},"l":["a",null]}', "s3cret", "a"]
    assert list(secret_parts(5432)) == ["5432"]
    assert list(secret_parts(True)) == [] and list(secret_parts(None)) == []


def test_a_permanent_error_outranks_a_transient_one_from_concurrent_calls() -> None:
    together = threading.Barrier(3, timeout=30)  # all three fail while the others are in flight

    def work(item: str) -> None:
        together.wait()
        raise (TransientError if item == "t" else StepFailed)(item)

    with pytest.raises(StepFailed) as caught:
        run_concurrently(work, ["t", "p", "t"])
    assert not isinstance(caught.value, TransientError) and str(caught.value) == "p"


def test_a_throttled_error_outranks_a_transient_one_from_concurrent_calls() -> None:
    # The next wait must spread out: the quota is shared.
    together = threading.Barrier(3, timeout=30)

    def work(item: str) -> None:
        together.wait()
        raise (ThrottledError if item == "slow down" else TransientError)(item)

    with pytest.raises(ThrottledError):
        run_concurrently(work, ["try again", "slow down", "try again"])


def test_after_a_failure_no_new_call_starts() -> None:
    started = []

    def work(item: int) -> None:
        started.append(item)
        raise StepFailed(f"call {item} failed")

    with pytest.raises(StepFailed, match="call 0 failed"):
        run_concurrently(work, range(5), max_workers=1)
    assert started == [0]


def test_the_step_uses_the_credentials_an_earlier_aws_login_remembered(moto_endpoint, tmp_path, monkeypatch):
    import boto3

    client = boto3.client("secretsmanager", endpoint_url=moto_endpoint, region_name="eu-west-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    client.create_secret(Name="remembered-creds-secret", SecretString="v")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    services = RunServices()
    services.get(AwsSessions).remember("default", AwsCredentials("ASIAREMEMBERED", "secret", "token"), "eu-west-1")
    options = SecretsManagerOptions(file=str(tmp_path / ".env"),
                                    secrets=[SecretEntry(id="remembered-creds-secret", env="V")])
    with FaultProxy(moto_endpoint) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        ctx = StepContext(task="t", step_id=None, log=_Log(), env={}, outputs={}, services=services,
                          config_path=tmp_path / "automations.yaml")
        result = SecretsManagerStep(options).run(ctx)
    assert result.status == "changed"
    authorization = proxy.calls("BatchGetSecretValue")[0].headers["authorization"]
    assert "Credential=ASIAREMEMBERED/" in authorization and "/eu-west-1/secretsmanager/" in authorization
    assert (tmp_path / ".env").read_text() == "V='v'\n"


class _Log:
    def info(self, message: str) -> None: ...
    def warning(self, message: str) -> None: ...
    def debug(self, message: str) -> None: ...
    def output(self, line: str) -> None: ...


def test_modules_under_tasks_do_not_import_boto3_when_loaded() -> None:
    import subprocess
    import sys

    code = "import sys, tasks.secrets_manager, tasks.ssm_parameters; print('boto3' in sys.modules or 'botocore' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parent.parent)
    assert result.stdout.strip() == "False", result.stderr
