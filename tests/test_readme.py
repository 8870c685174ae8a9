"""The README stays true: its example plugin loads and validates as the README says, and its
two set-up commands are the ones CI runs."""
from __future__ import annotations

import re
from pathlib import Path

from support.cli import run_cli

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_the_example_plugin_validates_its_options_as_documented(write_config, base_env, tmp_path):
    plugin = next(block for block in code_blocks("python") if "class WarmCache(" in block)
    (tmp_path / "mycompany_steps").mkdir()
    (tmp_path / "mycompany_steps" / "__init__.py").write_text("")
    (tmp_path / "mycompany_steps" / "warm_cache.py").write_text(plugin)
    write_config("""
        plugins: [mycompany_steps.warm_cache:WarmCache]
        tasks:
          warm:
            steps:
              - uses: warm-cache
                with: {url: "https://cache.example", size: 2000}
    """)
    result = run_cli("validate", cwd=tmp_path, env=base_env)
    assert result.code == 2
    assert "automations.yaml:6:52: warm-cache: with.size: more than 1000 entries needs tokenEnv" in result.stderr
    (tmp_path / "automations.yaml").write_text((tmp_path / "automations.yaml").read_text().replace("2000", "20"))
    result = run_cli("run", "warm", "--dry-run", cwd=tmp_path, env=base_env)
    assert result.code == 0, result.output
    assert "would load 20 entries from https://cache.example" in result.stdout


def test_ci_runs_the_readmes_test_command():
    setup = re.search(r"Run the tests.*?```sh\n(.*?)\n```", README, flags=re.S)
    assert setup, "the README lost its test command"
    assert setup.group(1) in (ROOT / ".ci" / "run").read_text()


def test_the_readmes_yaml_reference_and_quick_start_validate(write_config, base_env, tmp_path):
    quick_start = next(block for block in code_blocks("yaml") if "app-secrets" in block)
    write_config(quick_start)
    result = run_cli("validate", cwd=tmp_path, env=base_env)
    assert result.code == 0, result.output
