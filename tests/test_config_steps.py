"""What the loader makes of a task's steps: each step key lands where the runner reads it,
and each mistake in a step is one line at its FILE:LINE:COL, in the engine's own words."""
from __future__ import annotations

from pathlib import Path

from support.cli import run_cli

from automations.engine.config import load_config


def problems_of(config: Path, env: dict[str, str]) -> list[str]:
    result = run_cli("-c", str(config), "validate", cwd=config.parent, env=env)
    assert result.code == 2, result.output
    return result.stderr.splitlines()


def test_every_key_of_a_step_is_kept_for_the_runner(write_config):
    config = load_config(write_config("""
        tasks:
          t:
            steps:
              - id: first
                name: The first
                run: echo hi
                retry: {attempts: 3, transient: {deadline: 9}}
                timeout: 2.5
              - uses: run
                with: {command: echo there}
    """))
    first, second = config.tasks["t"].steps
    assert (first.index, first.uses, first.id, first.name, first.timeout) == (0, "run", "first", "The first", 2.5)
    assert first.retry == {"attempts": 3, "transient": {"deadline": 9}}
    assert first.options == {"command": "echo hi"} and first.label == "The first"
    assert (first.location.line, first.location.column) == (4, 9)
    assert (second.index, second.id, second.name, second.retry, second.timeout) == (1, None, None, None, None)
    assert second.label == "run: echo there"


def test_a_mistake_in_a_step_is_named_where_it_is(write_config, base_env):
    config = write_config("""
        tasks:
          t:
            steps:
              - "just a string"
              - run: echo x
                with: {command: echo y}
              - uses: run
                run: echo both
    """)
    assert problems_of(config, base_env) == [
        "automations.yaml:4:9: a step must be a mapping with `uses:` or `run:`",
        "automations.yaml:6:16: `run:` already gives the command",
        "automations.yaml:7:9: a step needs exactly one of `uses:` and `run:`",
    ]


def test_each_mistake_in_retry_is_named_in_the_engines_words(write_config, base_env):
    config = write_config("""
        tasks:
          t:
            steps:
              - run: echo r
                retry: {attempts: 0, bogus: 1, throttled: {maxDelay: 0, initialDelay: -1}, transient: 3}
              - run: echo r2
                retry: 5
              - run: echo r3
                retry: {attempts: "x", deadline: "y"}
    """)
    assert problems_of(config, base_env) == [
        "automations.yaml:5:27: retry attempts must be at least 1",
        "automations.yaml:5:30: unknown retry key 'bogus'; expected one of: attempts, initialDelay, maxDelay, "
        "deadline, throttled, transient",
        "automations.yaml:5:62: retry throttled.maxDelay must be positive",
        "automations.yaml:5:79: retry throttled.initialDelay must be at least 0",
        "automations.yaml:5:95: `retry.transient` must be a mapping: {attempts, initialDelay, maxDelay, deadline}",
        "automations.yaml:7:16: `retry` must be a mapping: {attempts, initialDelay, maxDelay, deadline, throttled, "
        "transient}",
        "automations.yaml:9:27: retry attempts must be an integer",
        "automations.yaml:9:42: retry deadline must be a number",
    ]


def test_an_initial_delay_of_zero_is_allowed(write_config):
    config = load_config(write_config("""
        tasks:
          t:
            steps:
              - run: echo r
                retry: {initialDelay: 0}
    """))
    assert config.tasks["t"].steps[0].retry == {"initialDelay": 0}


def test_on_change_is_a_run_step_named_after_its_step(write_config):
    config = load_config(write_config("""
        tasks:
          t:
            steps:
              - name: secrets
                run: echo fetch
                onChange: echo changed
              - run: echo plain
    """))
    first, second = config.tasks["t"].steps
    assert first.on_change is not None and second.on_change is None
    assert (first.on_change.uses, first.on_change.options, first.on_change.name, first.on_change.index) == (
        "run", {"command": "echo changed"}, "secrets: onChange", 0)
    assert (first.on_change.location.line, first.on_change.location.column) == (6, 19)


def test_a_configuration_is_found_as_named_by_the_environment_or_not_at_all(tmp_path, monkeypatch):
    import pytest

    from automations.engine.config import config_if_any, find_config
    from automations.errors import FatalError

    (tmp_path / "elsewhere.yaml").write_text("tasks: {}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AUTOMATIONS_CONFIG", raising=False)
    assert config_if_any(None) is None
    with pytest.raises(FatalError) as missing:
        find_config(None)
    assert str(missing.value) == (f"no automations.yaml in {tmp_path} or any parent directory "
                                  "(create one, or point -c/--config or $AUTOMATIONS_CONFIG at it)")
    monkeypatch.setenv("AUTOMATIONS_CONFIG", str(tmp_path / "elsewhere.yaml"))
    assert config_if_any(None) == tmp_path / "elsewhere.yaml"
    monkeypatch.setenv("AUTOMATIONS_CONFIG", str(tmp_path / "gone.yaml"))
    with pytest.raises(FatalError, match="AUTOMATIONS_CONFIG points to .*gone.yaml, which is not a file"):
        config_if_any(None)
    with pytest.raises(FatalError, match="^config file missing.yaml not found$"):
        config_if_any("missing.yaml")
