"""Every AWS step finds its region the same way, in the order the AWS CLI v2 and the SDKs use:
the step's `region:`, $AWS_REGION, $AWS_DEFAULT_REGION, then the profile's region
(issue 11: secrets-manager and ssm-parameters used to ignore $AWS_REGION, then ask for it)."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import boto3
import pytest
from dotenv import dotenv_values
from support.cli import run_cli
from support.jwts import make_token
from support.proxy import FaultProxy

from automations.aws.clients import resolve_region

ROLE = "arn:aws:iam::123456789012:role/dev"


# -- the order ----------------------------------------------------------------------------------

def config_file(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "aws-config"
    path.write_text(text)
    return {"AWS_CONFIG_FILE": str(path)}


def test_the_steps_own_region_comes_first(tmp_path: Path) -> None:
    env = {"AWS_REGION": "us-west-2", "AWS_DEFAULT_REGION": "eu-west-1"}
    assert resolve_region(env, "ap-south-1", profile_region="eu-central-1") == "ap-south-1"


def test_aws_region_comes_before_aws_default_region(tmp_path: Path) -> None:
    env = {**config_file(tmp_path, "[default]\nregion = eu-central-1\n"),
           "AWS_REGION": "us-west-2", "AWS_DEFAULT_REGION": "eu-west-1"}
    assert resolve_region(env) == "us-west-2"


def test_aws_default_region_comes_before_the_profile(tmp_path: Path) -> None:
    env = {**config_file(tmp_path, "[default]\nregion = eu-central-1\n"), "AWS_DEFAULT_REGION": "eu-west-1"}
    assert resolve_region(env, profile_region="ap-south-1") == "eu-west-1"


def test_the_region_aws_login_obtained_in_this_run_stands_for_its_profile(tmp_path: Path) -> None:
    env = config_file(tmp_path, "[profile dev]\nregion = eu-central-1\n")
    assert resolve_region(env, profile="dev", profile_region="ap-south-1") == "ap-south-1"


def test_else_the_named_profiles_region_in_the_config_file(tmp_path: Path) -> None:
    env = config_file(tmp_path, "[default]\nregion = eu-west-1\n[profile dev]\nregion = eu-central-1\n")
    assert resolve_region(env, profile="dev") == "eu-central-1"


def test_else_the_region_of_aws_profile_or_of_default(tmp_path: Path) -> None:
    env = config_file(tmp_path, "[default]\nregion = eu-west-1\n[profile dev]\nregion = eu-central-1\n")
    assert resolve_region({**env, "AWS_PROFILE": "dev"}) == "eu-central-1"
    assert resolve_region(env) == "eu-west-1"


def test_a_config_path_that_is_not_a_regular_file_is_not_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")  # opening it for reading would block until a writer comes
    assert resolve_region({"AWS_CONFIG_FILE": str(tmp_path / "fifo")}) is None


def test_no_region_anywhere_is_none(tmp_path: Path) -> None:
    assert resolve_region(config_file(tmp_path, "[default]\noutput = json\n")) is None
    assert resolve_region({"AWS_CONFIG_FILE": str(tmp_path / "missing")}) is None
    assert resolve_region({**config_file(tmp_path, "not an ini file ["), "AWS_REGION": " "}) is None


# -- every step -----------------------------------------------------------------------------------

@pytest.fixture
def proxy(sts: FaultProxy, aws_env: dict[str, str]) -> FaultProxy:
    """moto's test keys through the SDK's default chain, no region in the environment yet."""
    del aws_env["AWS_DEFAULT_REGION"]
    aws_env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    return sts


def secrets_config(write_config, secret_id: str) -> Path:  # type: ignore[no-untyped-def]
    return write_config(f"""
        tasks:
          secrets:
            steps:
              - uses: secrets-manager
                with: {{file: .env, secrets: [{{id: {secret_id}, env: V}}]}}
    """)


def signed_region(proxy: FaultProxy, action: str) -> str:
    authorization = proxy.calls(action)[0].headers["authorization"]
    return authorization.split("Credential=", 1)[1].split("/")[2]


def moto_client(service: str, endpoint: str, region: str):  # type: ignore[no-untyped-def]
    return boto3.client(service, endpoint_url=endpoint, region_name=region,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.mark.parametrize("variables, region", [
    ({"AWS_REGION": "us-west-2"}, "us-west-2"),
    ({"AWS_REGION": "us-west-2", "AWS_DEFAULT_REGION": "eu-west-1"}, "us-west-2"),
    ({"AWS_DEFAULT_REGION": "eu-west-1"}, "eu-west-1"),
], ids=["AWS_REGION alone", "both", "AWS_DEFAULT_REGION alone"])
def test_secrets_manager_without_aws_login_uses_the_environments_region(
        variables: dict[str, str], region: str, write_config, aws_env: dict[str, str], proxy: FaultProxy,
        moto_endpoint: str) -> None:
    name = f"region-{uuid.uuid4().hex[:8]}"
    moto_client("secretsmanager", moto_endpoint, region).create_secret(Name=name, SecretString="v")
    config = secrets_config(write_config, name)

    result = run_cli("-c", str(config), "run", "secrets", env={**aws_env, **variables})

    assert result.code == 0, result.output
    assert signed_region(proxy, "BatchGetSecretValue") == region


def test_ssm_parameters_without_aws_login_uses_aws_region(write_config, aws_env: dict[str, str],
                                                          proxy: FaultProxy, moto_endpoint: str) -> None:
    name = f"/region-{uuid.uuid4().hex[:8]}/p"
    moto_client("ssm", moto_endpoint, "us-west-2").put_parameter(Name=name, Value="v", Type="String")
    config = write_config(f"""
        tasks:
          params:
            steps:
              - uses: ssm-parameters
                with: {{file: .env, names: ["{name}"]}}
    """)

    result = run_cli("-c", str(config), "run", "params", env={**aws_env, "AWS_REGION": "us-west-2"})

    assert result.code == 0, result.output
    assert signed_region(proxy, "GetParameters") == "us-west-2"


def test_secrets_manager_uses_the_profiles_region_when_the_environment_names_none(
        write_config, aws_env: dict[str, str], proxy: FaultProxy, moto_endpoint: str) -> None:
    name = f"region-{uuid.uuid4().hex[:8]}"
    moto_client("secretsmanager", moto_endpoint, "eu-central-1").create_secret(Name=name, SecretString="v")
    Path(aws_env["AWS_CONFIG_FILE"]).parent.mkdir(parents=True, exist_ok=True)
    Path(aws_env["AWS_CONFIG_FILE"]).write_text("[default]\nregion = eu-central-1\n")
    config = secrets_config(write_config, name)

    result = run_cli("-c", str(config), "run", "secrets", env=aws_env)

    assert result.code == 0, result.output
    assert signed_region(proxy, "BatchGetSecretValue") == "eu-central-1"


def test_no_region_anywhere_says_what_to_set(write_config, aws_env: dict[str, str], proxy: FaultProxy) -> None:
    config = secrets_config(write_config, "x")

    result = run_cli("-c", str(config), "run", "secrets", env=aws_env)

    assert result.code == 1
    assert "no AWS region: set `region:` on the step, or AWS_REGION" in result.stdout


def test_aws_login_prefers_aws_region_and_hands_it_on(write_config, aws_env: dict[str, str], proxy: FaultProxy,
                                                      tmp_path: Path) -> None:
    (tmp_path / "token").write_text(make_token() + "\n")
    config = write_config(f"""
        tasks:
          login:
            steps:
              - uses: aws-login
                with: {{roleArn: "{ROLE}", token: {{file: token}}, envFile: .env.aws, verify: true}}
    """)
    del aws_env["AWS_ACCESS_KEY_ID"], aws_env["AWS_SECRET_ACCESS_KEY"]

    result = run_cli("-c", str(config), "run", "login",
                     env={**aws_env, "AWS_REGION": "us-west-2", "AWS_DEFAULT_REGION": "eu-west-1"})

    assert result.code == 0, result.output
    assert signed_region(proxy, "GetCallerIdentity") == "us-west-2"
    written = dotenv_values(tmp_path / ".env.aws")
    assert (written["AWS_REGION"], written["AWS_DEFAULT_REGION"]) == ("us-west-2", "us-west-2")
