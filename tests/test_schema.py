"""`automations schema`: a draft 2020-12 JSON Schema of automations.yaml that accepts what
the loader accepts and rejects what it rejects, step options included (`uses: X` -> `with:`
checked against X's options)."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml
from support.cli import run_cli

from automations.engine.plugins import StepRegistry
from automations.engine.schema import build_schema

ROOT = Path(__file__).resolve().parent.parent


def installed_schema() -> dict:
    registry = StepRegistry()
    return build_schema({name: registry.load(name) for name in registry.names()})


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(installed_schema())


def errors(validator: jsonschema.Draft202012Validator, text: str) -> list[str]:
    return [e.message for e in validator.iter_errors(yaml.safe_load(textwrap.dedent(text)))]


def test_the_command_prints_a_valid_draft_2020_12_schema(base_env: dict[str, str]) -> None:
    result = run_cli("schema", env=base_env)

    schema = json.loads(result.stdout)
    assert result.code == 0
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_the_schema_has_every_installed_step_types_options(base_env: dict[str, str]) -> None:
    schema = json.loads(run_cli("schema", env=base_env).stdout)

    options = schema["$defs"]["options"]
    assert {"run", "aws-login", "secrets-manager", "ssm-parameters"} <= set(options)
    login = options["aws-login"]["properties"]
    assert login["durationSeconds"]["anyOf"][0] == {"type": "integer", "minimum": 900, "maximum": 43200}
    assert login["durationSeconds"]["default"] == 3600
    assert "audience" in login["audience"]["description"]
    assert options["secrets-manager"]["required"] == ["file", "secrets"]


def test_the_repositorys_automations_yaml_validates(validator) -> None:
    assert list(validator.iter_errors(yaml.safe_load((ROOT / "automations.yaml").read_text()))) == []


VALID = {
    "templated numbers and booleans": """
        tasks:
          login:
            steps:
              - uses: aws-login
                with: {durationSeconds: "${DURATION}", verify: "${VERIFY:-false}"}
        """,
    "run shorthand with its other options": """
        tasks:
          build:
            steps:
              - run: make
                with: {shell: sh, cwd: src}
        """,
    "a token source given as a file": """
        tasks:
          login:
            steps:
              - uses: aws-login
                with: {roleArn: "arn:aws:iam::123456789012:role/dev", token: {file: /tmp/t}}
        """,
    "a retry for every error class and one per class": """
        tasks:
          login:
            steps:
              - uses: aws-login
                retry: {attempts: 5, throttled: {initialDelay: 20, maxDelay: 120}, transient: {deadline: 30}}
        """,
    "keys written with nothing after them": """
        plugins:
        tasks:
          build:
            name:
            description:
            env:
            command: make
        """,
    "no tasks yet": """
        tasks:
        """,
}


@pytest.mark.parametrize("text", VALID.values(), ids=VALID.keys())
def test_valid_files_validate(validator, text: str) -> None:
    assert errors(validator, text) == []


BROKEN = {
    "no tasks": "plugins: []\n",
    "unknown top-level key": "services: {}\ntasks: {a: {command: x}}\n",
    "bad task id": "tasks: {'a b': {command: x}}\n",
    "unknown task key": "tasks: {a: {command: x, runsOn: docker}}\n",
    "unknown trigger": "tasks: {a: {command: x, triggeredBy: [onSave]}}\n",
    "command and steps": "tasks: {a: {command: x, steps: [{run: y}]}}\n",
    "neither command nor steps": "tasks: {a: {name: nothing}}\n",
    "empty steps": "tasks: {a: {steps: []}}\n",
    "uses and run": "tasks: {a: {steps: [{uses: run, run: x}]}}\n",
    "unknown step type": "tasks: {a: {steps: [{uses: teleport}]}}\n",
    "unknown step key": "tasks: {a: {steps: [{run: x, when: always}]}}\n",
    "retry attempts zero": "tasks: {a: {steps: [{run: x, retry: {attempts: 0}}]}}\n",
    "retry of an unknown error class": "tasks: {a: {steps: [{run: x, retry: {fatal: {attempts: 2}}}]}}\n",
    "retry class with an unknown key": "tasks: {a: {steps: [{run: x, retry: {throttled: {backoff: 2}}}]}}\n",
    "retry class not a mapping": "tasks: {a: {steps: [{run: x, retry: {transient: 3}}]}}\n",
    "retry class nested in a class": "tasks: {a: {steps: [{run: x, retry: {throttled: {transient: {}}}}]}}\n",
    "negative timeout": "tasks: {a: {steps: [{run: x, timeout: -1}]}}\n",
    "run shorthand repeats the command": "tasks: {a: {steps: [{run: x, with: {command: y}}]}}\n",
    "unknown option": "tasks: {a: {steps: [{uses: aws-login, with: {role: x}}]}}\n",
    "another step type's option": "tasks: {a: {steps: [{uses: aws-login, with: {file: .env}}]}}\n",
    "option out of range": "tasks: {a: {steps: [{uses: aws-login, with: {durationSeconds: 60}}]}}\n",
    "option of the wrong type": "tasks: {a: {steps: [{uses: aws-login, with: {verify: [yes]}}]}}\n",
    "literal not in its choices": "tasks: {a: {steps: [{uses: aws-login, with: {credentials: vault}}]}}\n",
    "token source of no known shape": "tasks: {a: {steps: [{uses: aws-login, with: {token: {url: x}}}]}}\n",
    "pattern not matched": "tasks: {a: {steps: [{uses: aws-login, with: {profile: 'a b'}}]}}\n",
    "missing required option": "tasks: {a: {steps: [{uses: secrets-manager, with: {secrets: [{id: x, env: X}]}}]}}\n",
    "nested option of the wrong type": "tasks: {a: {steps: [{uses: secrets-manager, with: {file: f, secrets: [{id: 3}]}}]}}\n",
    "bad env variable name": "tasks: {a: {command: x, env: {'1X': y}}}\n",
}


@pytest.mark.parametrize("text", BROKEN.values(), ids=BROKEN.keys())
def test_broken_files_fail_the_schema(validator, text: str) -> None:
    assert errors(validator, text) != []


@pytest.mark.parametrize("text", BROKEN.values(), ids=BROKEN.keys())
def test_what_the_schema_rejects_the_loader_rejects_too(text: str, write_config, base_env: dict[str, str]) -> None:
    config = write_config(text)
    assert run_cli("validate", cwd=config.parent, env=base_env).code == 2


@pytest.mark.parametrize("text", VALID.values(), ids=VALID.keys())
def test_what_the_schema_accepts_the_loader_accepts_too(text: str, write_config, base_env: dict[str, str]) -> None:
    config = write_config(text)
    assert run_cli("validate", cwd=config.parent, env=base_env).code == 0


GREET = textwrap.dedent('''
    from automations.engine.options import Options, option
    from automations.engine.step import Step, StepResult

    class GreetOptions(Options):
        who: str = option(help="whom to greet")

    class GreetStep(Step[GreetOptions]):
        name = "greet"
        Options = GreetOptions

        def run(self, ctx):
            return StepResult.ok(f"hello {self.options.who}")
    ''')


def test_a_plugin_listed_in_the_nearest_config_joins_the_schema(write_config, base_env: dict[str, str]) -> None:
    config = write_config("""
        plugins: ["greet:GreetStep"]
        tasks:
          hi: {steps: [{uses: greet, with: {who: world}}]}
        """)
    (config.parent / "greet.py").write_text(GREET)
    (config.parent / "sub").mkdir()

    result = run_cli("schema", cwd=config.parent / "sub", env=base_env)

    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["$defs"]["options"]["greet"]["required"] == ["who"]


def test_schema_without_any_config_has_the_installed_step_types(base_env: dict[str, str], tmp_path) -> None:
    result = run_cli("schema", cwd=tmp_path, env=base_env)

    assert result.code == 0, result.stderr
    assert "aws-login" in json.loads(result.stdout)["$defs"]["options"]


def test_a_plugin_listed_in_the_config_joins_the_schema_with_c(write_config, base_env: dict[str, str]) -> None:
    config = write_config("""
        plugins: ["greet:GreetStep"]
        tasks:
          hi: {steps: [{uses: greet, with: {who: world}}]}
        """)
    (config.parent / "greet.py").write_text(GREET)

    schema = json.loads(run_cli("-c", str(config), "schema", env=base_env).stdout)

    validator = jsonschema.Draft202012Validator(schema)
    assert schema["$defs"]["options"]["greet"]["required"] == ["who"]
    assert list(validator.iter_errors(yaml.safe_load(config.read_text()))) == []
    assert list(validator.iter_errors({"tasks": {"hi": {"steps": [{"uses": "greet", "with": {}}]}}})) != []
