"""The import rules of the layout (ARCHITECTURE.md), checked on the source itself: every import
statement of every module, those inside functions and under `if TYPE_CHECKING:` included,
since a lazy import is a dependency all the same.

- the engine knows no domain: `automations.engine` imports nothing from `automations.aws`,
  `automations.oidc`, `automations.cli` or `tasks`;
- nothing under `automations/` imports `tasks` (step types are found by entry point only);
- the domain packages serve the commands and steps, not the other way round: `automations.aws`
  and `automations.oidc` import neither `automations.cli` nor `automations.engine.runner`;
- the built-in step types (`tasks/`) meet the engine only through `automations.api`, as a
  plugin does: they import neither `automations.engine` nor `automations.cli`.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "automations"

# (modules the rule applies to, modules they must not import, why)
RULES = [
    ("automations.engine", ("automations.aws", "automations.oidc", "automations.cli", "tasks"),
     "the engine knows no domain: a new cloud is a new package, not an engine change"),
    ("automations", ("tasks",), "step types are found by entry point, never imported"),
    ("automations.aws", ("automations.cli", "automations.engine.runner"), "the domain serves commands and steps"),
    ("automations.oidc", ("automations.cli", "automations.engine.runner"), "the domain serves commands and steps"),
    ("tasks", ("automations.engine", "automations.cli"),
     "a built-in step type meets the engine through automations.api, as any plugin does"),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, is_package: bool = False) -> set[str]:
    """Every module `source` imports anywhere in its body; for `from X import Y`, both X and
    X.Y (Y may be a submodule); relative imports resolved against `module`."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                anchor = package[:len(package) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def violations(module: str, imports: set[str]) -> list[str]:
    return [f"{module} imports {name} ({why})"
            for subject, forbidden, why in RULES if within(module, subject)
            for name in sorted(imports) if any(within(name, f) for f in forbidden)]


def all_modules() -> list[tuple[str, Path]]:
    return [(module_name(path), path) for package in (PACKAGE, ROOT / "tasks") for path in sorted(package.rglob("*.py"))]


def test_every_module_keeps_the_import_rules():
    problems = [problem for module, path in all_modules()
                for problem in violations(module, imported_modules(path.read_text(encoding="utf-8"), module,
                                                                   path.name == "__init__.py"))]

    assert problems == []


def test_the_walk_sees_the_engine_and_the_domain_packages():
    modules = {module for module, _ in all_modules()}

    assert {"automations.engine.runner", "automations.engine.scope", "automations.aws.clients",
            "automations.oidc.sources", "automations.cli.main", "automations.api", "tasks.aws_login"} <= modules


@pytest.mark.parametrize("source", [
    "from automations.aws.clients import AwsSessions\n",
    "import automations.aws.clients\n",
    "from automations import aws\n",
    "def later():\n    from automations.oidc.sources import TokenSource\n",
    "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from automations.cli.main import main\n",
    "from ..aws import clients\n",
    "import tasks.aws_login\n",
])
def test_an_engine_module_importing_the_domain_is_caught_however_it_imports(source):
    module = "automations.engine.runner"

    assert violations(module, imported_modules(source, module)) != []


@pytest.mark.parametrize("module, source", [
    ("automations.files.envfile", "from tasks.aws_login import AwsLoginStep\n"),
    ("automations.cli.commands.aws.credential_process", "def f():\n    import tasks\n"),
    ("automations.aws.login", "from automations.engine.runner import Runner\n"),
    ("automations.oidc.sources", "from automations.cli.commands.token import read_token\n"),
    ("automations.aws.trust.evaluate", "from .. import clients\nfrom ...engine import runner\n"),
    ("tasks.secrets_manager", "from automations.engine.report.base import plural\n"),
    ("tasks.run", "def run():\n    from automations.engine.step import StepResult\n"),
])
def test_the_other_rules_catch_their_imports(module, source):
    assert violations(module, imported_modules(source, module)) != []


@pytest.mark.parametrize("module, source", [
    ("automations.engine.runner", "from automations.engine.scope import task_env\nfrom automations import retry\n"),
    ("automations.aws.secrets", "from automations.engine.step import StepContext\n"),
    ("automations.cli.commands.token", "from automations.oidc.sources import TokenSource\n"),
    ("tasks.aws_login", "from automations.aws.login import WebIdentityLogin\n"),
])
def test_allowed_imports_pass(module, source):
    assert violations(module, imported_modules(source, module)) == []


def test_the_plugin_api_exports_every_name_it_lists():
    import automations.api as api

    assert sorted(name for name in api.__all__ if not hasattr(api, name)) == []
    assert {"Step", "StepContext", "StepResult", "Options", "option", "OptionError", "RetryPolicy", "RetryPolicies",
            "TransientError", "ThrottledError", "StepFailed", "Cancelled"} <= set(api.__all__)


def test_the_example_plugin_imports_the_engine_only_through_the_plugin_api():
    plugin = ROOT / "examples" / "plugin" / "automations_wait_for_http" / "__init__.py"

    imports = imported_modules(plugin.read_text(encoding="utf-8"), "automations_wait_for_http", is_package=True)

    assert sorted(name for name in imports if within(name, "automations") and not within(name, "automations.api")) == []
