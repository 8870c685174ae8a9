"""What the loader makes of a task's steps: each step key lands where the runner reads it,
and each mistake in a step is one line at its FILE:LINE:COL, in the engine's own words."""
from __future__ import annotations

import pytest
from support.config import problems_of

from automations.engine.config import load_config


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


# -- where a wrong `${{ ...outputs... }}` reference is pointed at: the reference itself, however
# the file is written ---------------------------------------------------------------------------

NO_SUCH_STEP = "run: run: ${{ steps.nope.outputs.x }}: no step with id 'nope' in task 't'"


def test_a_reference_is_pointed_at_in_a_plain_a_quoted_and_a_block_value(write_config, base_env):
    config = write_config("""
        tasks:
          t:
            steps:
              - run: echo ${{ steps.nope.outputs.x }}
              - run: "${{ steps.nope.outputs.x }}"
              - run: |
                  echo first
                  echo ${{ steps.nope.outputs.x }}
    """)
    assert problems_of(config, base_env) == [
        f"automations.yaml:4:19: {NO_SUCH_STEP}",
        f"automations.yaml:5:15: {NO_SUCH_STEP}",
        f"automations.yaml:8:16: {NO_SUCH_STEP}",
    ]


def test_the_same_reference_in_many_steps_is_pointed_at_in_each(write_config, base_env):
    steps = "".join("      - run: echo ${{ steps.nope.outputs.x }}\n" for _ in range(25))
    config = write_config("tasks:\n  t:\n    steps:\n" + steps)
    assert problems_of(config, base_env) == [f"automations.yaml:{line}:19: {NO_SUCH_STEP}" for line in range(4, 29)]


@pytest.mark.parametrize("text, where", [
    ('tasks: {t: {steps: [{run: "${{ steps.nope.outputs.x }}"}]}}', "1:28"),
    ('\n{tasks: {t: {steps: [{run: "${{ steps.nope.outputs.x }}"}]}}}', "2:29"),
    ('\n\ntasks: {t: {steps: [{run: "echo ${{ steps.nope.outputs.x }}"}]}}\n', "3:33"),
], ids=["one line, no final newline", "after a blank first line", "after two blank lines"])
def test_a_reference_in_a_flow_style_file_is_pointed_at(tmp_path, base_env, text, where):
    config = tmp_path / "automations.yaml"
    config.write_text(text)
    assert problems_of(config, base_env) == [f"automations.yaml:{where}: {NO_SUCH_STEP}"]


# -- a step's own keys ---------------------------------------------------------------------------

def test_a_step_with_neither_uses_nor_run_is_one_problem(write_config, base_env):
    config = write_config("""
        tasks:
          t:
            steps:
              - name: only a name
    """)
    assert problems_of(config, base_env) == ["automations.yaml:4:9: a step needs exactly one of `uses:` and `run:`"]


def test_a_misspelt_step_key_lists_the_keys_a_step_has(write_config, base_env):
    config = write_config("""
        tasks:
          t:
            steps:
              - run: echo ok
                retires: 1
    """)
    assert problems_of(config, base_env) == [
        "automations.yaml:5:9: unknown key 'retires' in step; expected one of: id, name, onChange, retry, run, "
        "timeout, uses, with"]


def test_a_wrong_name_does_not_hide_a_wrong_option_of_the_same_step(write_config, base_env):
    config = write_config("""
        tasks:
          t:
            steps:
              - run: echo hi
                name: 3
                with: {shell: zsh}
    """)
    assert problems_of(config, base_env) == [
        "automations.yaml:5:15: `name` must be a string",
        "automations.yaml:6:23: run: with.shell: expected one of bash | sh, got 'zsh'",
    ]


def test_a_run_that_is_not_a_command_is_one_problem(write_config, base_env):
    config = write_config("""
        tasks:
          t:
            steps:
              - run: 5
              - run: "  "
    """)
    assert problems_of(config, base_env) == [
        "automations.yaml:4:14: `run` must be a non-empty command",
        "automations.yaml:5:14: `run` must be a non-empty command",
    ]


def test_a_problem_in_a_tasks_command_names_command(write_config, base_env):
    config = write_config("""
        tasks:
          t:
            command: echo ${{ steps.x.outputs.y }}
    """)
    assert problems_of(config, base_env) == [
        "automations.yaml:3:19: run: command: ${{ steps.x.outputs.y }}: no step with id 'x' in task 't'"]


def test_a_problem_in_on_change_names_on_change(write_config, base_env):
    config = write_config("""
        tasks:
          t:
            steps:
              - run: echo hi
                onChange: echo ${{ steps.x.outputs.y }}
    """)
    assert problems_of(config, base_env) == [
        "automations.yaml:5:24: run: onChange: ${{ steps.x.outputs.y }}: no step with id 'x' in task 't'"]


def test_an_on_change_command_that_cannot_be_read_is_one_problem(write_config, base_env):
    config = write_config("""
        tasks:
          t:
            steps:
              - run: echo hi
                onChange: echo ${{ steps.x
    """)
    assert problems_of(config, base_env) == [
        "automations.yaml:5:24: `${{` without its closing `}}` (write `$${{` for a literal `${{`)"]


def test_an_on_change_command_has_sixty_seconds(write_config):
    config = load_config(write_config("""
        tasks:
          t:
            steps:
              - run: echo fetch
                timeout: 5
                onChange: echo changed
    """))
    step = config.tasks["t"].steps[0]
    assert (step.timeout, step.on_change.timeout) == (5, 60.0)


def test_every_key_of_a_task_is_kept(write_config):
    config = load_config(write_config("""
        tasks:
          first:
            name: The first
            description: Does the first thing
            triggeredBy: [manual, postEnvironmentStart]
            command: echo one
          second:
            dependsOn: [first]
            env: {PORT: 8080}
            command: echo two
    """))
    first, second = config.tasks["first"], config.tasks["second"]
    assert (first.id, first.name, first.description) == ("first", "The first", "Does the first thing")
    assert first.triggered_by == ["manual", "postEnvironmentStart"]
    assert (first.depends_on, first.env, (first.location.line, first.location.column)) == ([], {}, (2, 3))
    assert (second.name, second.description, second.triggered_by) == (None, None, ["manual"])  # the default
    assert (second.depends_on, second.env) == (["first"], {"PORT": "8080"})


def test_a_reference_to_a_step_that_is_wrong_itself_is_not_a_second_problem(write_config, base_env):
    config = write_config("""
        tasks:
          t:
            steps:
              - id: broken
                uses: nothing-like-this
              - run: echo ${{ steps.broken.outputs.y }}
    """)
    [problem] = problems_of(config, base_env)
    assert problem.startswith("automations.yaml:5:15: unknown step type 'nothing-like-this' (known: ")


def test_a_step_id_that_is_not_a_name_is_not_offered_as_an_earlier_step(write_config, base_env):
    config = write_config("""
        tasks:
          t:
            steps:
              - {id: first, run: echo 1}
              - {id: 5, run: echo 2}
              - run: echo ${{ steps.x.outputs.y }}
    """)
    assert problems_of(config, base_env) == [
        "automations.yaml:5:14: invalid step id 5: use 1 to 128 of a-z A-Z 0-9 _ -",
        "automations.yaml:6:19: run: run: ${{ steps.x.outputs.y }}: no step with id 'x' in task 't' "
        "(earlier step ids: first)",
    ]


def test_a_duplicate_step_id_is_pointed_at_the_second(write_config, base_env):
    config = write_config("""
        tasks:
          e:
            steps:
              - {id: same, run: echo 1}
              - {id: same, run: echo 2}
    """)
    assert problems_of(config, base_env) == ["automations.yaml:5:14: duplicate step id 'same' in task 'e'"]


def test_the_same_wrong_reference_in_two_options_of_a_step_is_pointed_at_in_each(write_config, base_env):
    config = write_config("""
        tasks:
          f:
            steps:
              - run: echo ${{ steps.nope.outputs.x }}
                with: {cwd: "${{ steps.nope.outputs.x }}"}
    """)
    assert problems_of(config, base_env) == [
        "automations.yaml:4:19: run: run: ${{ steps.nope.outputs.x }}: no step with id 'nope' in task 'f'",
        "automations.yaml:5:22: run: with.cwd: ${{ steps.nope.outputs.x }}: no step with id 'nope' in task 'f'",
    ]
