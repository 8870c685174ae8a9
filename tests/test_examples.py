"""examples/: every example validates against the schema and with `automations validate`, a
broken copy of each fails, the files that start them run our trigger, and the examples that
can run here do: the GitHub Actions login against an Actions-like OIDC endpoint and moto, the
plugin's step against a local HTTP server."""
from __future__ import annotations

import copy
import http.server
import json
import shutil
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
import yaml
from support.cli import run_cli, run_process
from support.jwts import make_token

from automations.engine.plugins import StepRegistry
from automations.engine.schema import build_schema

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
CONFIGS = sorted(EXAMPLES.glob("*/automations.yaml"))
PLUGIN = EXAMPLES / "plugin"
PLUGIN_TARGET = "automations_wait_for_http:WaitForHttpStep"


def builtin_step_types() -> dict[str, type]:
    registry = StepRegistry()
    return {n: registry.load(n) for n in registry.names() if registry.source(n).origin.startswith("automations ")}


def schema_with_plugin() -> dict:
    registry = StepRegistry()
    registry.add_listed(PLUGIN_TARGET, PLUGIN, "the plugin example")
    return build_schema({**builtin_step_types(), "wait-for-http": registry.load("wait-for-http")})


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_there_is_an_example_for_gitpod_devcontainers_github_actions_and_a_plugin() -> None:
    assert {p.parent.name for p in CONFIGS} == {"gitpod", "devcontainer", "github-actions", "plugin"}


def test_the_committed_schema_is_what_automations_schema_prints() -> None:
    committed = json.loads((EXAMPLES / "automations.schema.json").read_text())
    assert committed == build_schema(builtin_step_types()), \
        "regenerate it: automations schema > examples/automations.schema.json"


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.parent.name)
def test_every_example_validates_against_the_schema(config: Path) -> None:
    validator = jsonschema.Draft202012Validator(schema_with_plugin())
    assert [e.message for e in validator.iter_errors(load(config))] == []


def breakages(data: dict) -> Iterator[tuple[str, dict]]:
    first_task = next(iter(data["tasks"]))
    broken = copy.deepcopy(data)
    broken["tasks"][first_task]["triggeredBy"] = ["onSave"]
    yield "unknown trigger", broken
    broken = copy.deepcopy(data)
    broken["tasks"][first_task]["runsOn"] = "docker"
    yield "unknown task key", broken
    broken = copy.deepcopy(data)
    for task in broken["tasks"].values():
        for step in task.get("steps", []):
            if "uses" in step:
                step.setdefault("with", {})["notAnOption"] = 1
                yield "unknown option", broken
                return


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.parent.name)
def test_broken_copies_of_every_example_fail_the_schema(config: Path) -> None:
    validator = jsonschema.Draft202012Validator(schema_with_plugin())
    cases = list(breakages(load(config)))
    assert len(cases) == 3
    for what, data in cases:
        assert list(validator.iter_errors(data)) != [], what


@pytest.mark.parametrize("config", [c for c in CONFIGS if c.parent != PLUGIN], ids=lambda p: p.parent.name)
def test_every_example_passes_automations_validate(config: Path, base_env: dict[str, str]) -> None:
    result = run_cli("-c", str(config), "validate", env=base_env)
    assert result.code == 0, result.output


@pytest.fixture
def plugin_project(tmp_path: Path) -> Path:
    """The plugin example, its package beside a copy of its config listing it under
    `plugins:` (what `pip install ./examples/plugin` does through the entry point)."""
    shutil.copytree(PLUGIN / "automations_wait_for_http", tmp_path / "automations_wait_for_http")
    data = load(PLUGIN / "automations.yaml")
    (tmp_path / "automations.yaml").write_text(yaml.safe_dump({"plugins": [PLUGIN_TARGET], **data}))
    return tmp_path


def test_the_plugin_example_passes_automations_validate(plugin_project: Path, base_env: dict[str, str]) -> None:
    result = run_cli("validate", cwd=plugin_project, env=base_env)
    assert result.code == 0, result.output


def test_the_plugin_package_registers_its_step_through_the_entry_point_group() -> None:
    import tomllib

    project = tomllib.loads((PLUGIN / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["automations.steps"] == {"wait-for-http": PLUGIN_TARGET}


@pytest.fixture
def http_server() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200 if self.path == "/ready" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def plugin_task(project: Path, url: str) -> None:
    (project / "automations.yaml").write_text(yaml.safe_dump({
        "plugins": [PLUGIN_TARGET],
        "tasks": {"wait": {"steps": [{"uses": "wait-for-http", "with": {"url": url},
                                      "retry": {"attempts": 3, "initialDelay": 0.01, "maxDelay": 0.02}}]}}}))


def test_the_plugin_step_succeeds_once_the_url_answers(plugin_project: Path, http_server: str,
                                                       base_env: dict[str, str]) -> None:
    plugin_task(plugin_project, f"{http_server}/ready")

    result = run_cli("run", "wait", cwd=plugin_project, env=base_env)

    assert result.code == 0, result.output
    assert "answered 200" in result.stdout


def test_the_plugin_step_fails_at_once_on_a_wrong_status(plugin_project: Path, http_server: str,
                                                         base_env: dict[str, str]) -> None:
    plugin_task(plugin_project, f"{http_server}/missing")

    result = run_cli("run", "wait", cwd=plugin_project, env=base_env)

    assert result.code == 1
    assert "answered 404, expected 200" in result.stdout
    assert "retrying" not in result.output


def test_gitpods_automations_file_runs_the_start_trigger() -> None:
    gitpod = load(EXAMPLES / "gitpod" / ".gitpod" / "automations.yaml")
    (task,) = gitpod["tasks"].values()
    assert task["triggeredBy"] == ["postEnvironmentStart"]
    assert "automations run --trigger postEnvironmentStart" in task["command"]
    ours = load(EXAMPLES / "gitpod" / "automations.yaml")
    assert all("postEnvironmentStart" in t["triggeredBy"] for t in ours["tasks"].values())


def test_the_devcontainer_starts_the_tasks_triggered_on_container_start() -> None:
    devcontainer = json.loads((EXAMPLES / "devcontainer" / ".devcontainer" / "devcontainer.json").read_text())
    assert "automations run --trigger postDevcontainerStart" in devcontainer["postStartCommand"]
    ours = load(EXAMPLES / "devcontainer" / "automations.yaml")
    assert all("postDevcontainerStart" in t["triggeredBy"] for t in ours["tasks"].values())


def test_init_the_readme_and_the_devcontainer_example_give_one_start_command() -> None:
    from automations.cli.commands.init import devcontainer_snippet

    devcontainer = json.loads((EXAMPLES / "devcontainer" / ".devcontainer" / "devcontainer.json").read_text())
    command = json.loads("{" + devcontainer_snippet() + "}")["postStartCommand"]
    readme = " ".join((ROOT / "README.md").read_text().split())

    assert devcontainer["postStartCommand"].startswith(command)
    assert f"`{command}` the `postStartCommand`" in readme


def test_the_workflow_may_request_a_token_and_runs_tasks_that_exist() -> None:
    workflow = load(EXAMPLES / "github-actions" / ".github" / "workflows" / "deploy.yml")
    ours = load(EXAMPLES / "github-actions" / "automations.yaml")
    assert workflow["permissions"]["id-token"] == "write"
    commands = [s["run"] for s in workflow["jobs"]["deploy"]["steps"] if "run" in s]
    run_tasks = [c.split()[2] for c in commands if c.startswith("automations run ")]
    assert run_tasks and all(t in ours["tasks"] for t in run_tasks)


@pytest.fixture
def actions_oidc() -> Iterator[tuple[str, list[dict]]]:
    """An endpoint answering like GitHub's ACTIONS_ID_TOKEN_REQUEST_URL does."""
    requests: list[dict] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
            requests.append({"audience": query.get("audience"), "auth": self.headers.get("Authorization")})
            if self.headers.get("Authorization") != "bearer request-token-123":
                self.send_response(403)
                self.end_headers()
                return
            body = json.dumps({"value": make_token(
                iss="https://token.actions.githubusercontent.com", aud=query["audience"][0],
                sub="repo:octo/myapp:ref:refs/heads/main")}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/token?api-version=2.0", requests
    server.shutdown()


def test_the_github_actions_example_logs_in_with_the_actions_oidc_token(
        actions_oidc: tuple[str, list[dict]], aws_env: dict[str, str]) -> None:
    url, requests = actions_oidc
    aws_env.update(ACTIONS_ID_TOKEN_REQUEST_URL=url, ACTIONS_ID_TOKEN_REQUEST_TOKEN="request-token-123",
                   AWS_ROLE_ARN="arn:aws:iam::123456789012:role/github-deploy", AWS_REGION="us-east-1",
                   PATH="/usr/bin:/bin:" + str(Path(aws_env["PATH"].split(":")[0])))
    config = EXAMPLES / "github-actions" / "automations.yaml"

    result = run_cli("-c", str(config), "run", "aws-login", env=aws_env)

    assert result.code == 0, result.output
    assert requests == [{"audience": ["sts.amazonaws.com"], "auth": "bearer request-token-123"}]
    credentials = Path(aws_env["AWS_SHARED_CREDENTIALS_FILE"]).read_text()
    assert "aws_session_token" in credentials
    assert "request-token-123" not in result.output


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The plugin example pip-installed into a directory (put on PYTHONPATH), as a user would."""
    project = tmp_path_factory.mktemp("plugin-src") / "plugin"
    shutil.copytree(PLUGIN, project)
    target = tmp_path_factory.mktemp("plugin-site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(project)], check=True, capture_output=True)
    return target


def test_the_installed_plugin_is_listed_by_version_with_its_distribution(
        installed_plugin: Path, base_env: dict[str, str]) -> None:
    base_env["PYTHONPATH"] = str(installed_plugin)

    result = run_process("--version", env=base_env)

    assert "step wait-for-http: automations-wait-for-http 0.1.0" in result.stdout
    assert "step aws-login: automations " in result.stdout


def test_the_plugin_example_validates_through_the_installed_entry_point(
        installed_plugin: Path, base_env: dict[str, str]) -> None:
    base_env["PYTHONPATH"] = str(installed_plugin)

    assert run_process("-c", str(PLUGIN / "automations.yaml"), "validate", env=base_env).code == 0
    schema = json.loads(run_process("schema", env=base_env).stdout)
    assert schema["$defs"]["options"]["wait-for-http"]["required"] == ["url"]
