"""The loader's bounds on hostile input (issue 10): YAML aliases are expanded within a fixed
budget, nesting is bounded, ids match in full. Each refusal is one FILE:LINE:COL line."""
from __future__ import annotations

import resource
import subprocess
import textwrap
from pathlib import Path

import pytest
from support.cli import AUTOMATIONS

from automations.engine.config import MAX_DEPTH, MAX_TEXT, MAX_VALUES, load_config
from automations.errors import ConfigError


def alias_bomb(levels: int = 9, fan_out: int = 9) -> str:
    """The "billion laughs": each level a list of `fan_out` aliases of the level below."""
    lines = ['l0: &l0 [' + ", ".join(['"lol"'] * fan_out) + ']']
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * fan_out) + "]")
    return "\n".join(lines) + "\ntasks:\n  boot:\n    command: 'true'\n"


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "automations.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    return [str(p) for p in raised.value.problems]


def test_an_alias_bomb_is_refused_at_the_alias_that_passes_the_budget(tmp_path):
    found = problems(tmp_path, alias_bomb())

    assert found == [f"{tmp_path / 'automations.yaml'}:6:5: excessive aliasing: with its aliases expanded "
                     f"the file holds more than {MAX_VALUES} values"]


def test_an_alias_bomb_of_long_text_is_refused(tmp_path):
    text = f"text: &text '{'x' * (MAX_TEXT // 8)}'\ncopies: [{', '.join(['*text'] * 9)}]\n"

    found = problems(tmp_path, text + "tasks:\n  boot:\n    command: 'true'\n")

    assert len(found) == 1 and found[0].endswith(f":2:9: excessive aliasing: with its aliases expanded the file "
                                                 f"holds more than {MAX_TEXT} characters")


def test_an_alias_bomb_costs_bounded_memory_and_time_through_the_cli(tmp_path, base_env):
    (tmp_path / "automations.yaml").write_text(alias_bomb(levels=12))

    def limit_memory() -> None:  # 7 GB before the budget existed
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    proc = subprocess.run([AUTOMATIONS, "validate"], cwd=tmp_path, env=base_env, capture_output=True, text=True,
                          timeout=60, preexec_fn=limit_memory)

    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("automations.yaml:") and "excessive aliasing" in proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stdout == ""


def test_an_alias_that_contains_itself_is_refused(tmp_path):
    found = problems(tmp_path, """
        tasks: &tasks
          boot:
            command: 'true'
            description: *tasks
    """)

    assert found == [f"{tmp_path / 'automations.yaml'}:4:5: an alias refers to a value that contains it "
                     "(a recursive alias)"]


def test_aliases_within_the_budget_work_as_before(tmp_path):
    path = tmp_path / "automations.yaml"
    path.write_text(textwrap.dedent("""
        tasks:
          one:
            env: &env {REGION: eu-west-1, STAGE: dev}
            command: echo one
          two:
            env: *env
            command: echo two
    """))

    config = load_config(path)

    assert config.tasks["two"].env == {"REGION": "eu-west-1", "STAGE": "dev"}


def test_nesting_deeper_than_the_limit_is_refused_where_it_passes_it(tmp_path):
    found = problems(tmp_path, "tasks:\n  boot:\n    command: 'true'\n    description: "
                     + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "\n")

    # `description` is three levels down: the limit is passed at the 62nd bracket, column 18 + 62.
    assert f"{tmp_path / 'automations.yaml'}:4:80: nested more than {MAX_DEPTH} levels deep" in found


@pytest.mark.parametrize("task_id", ["boot\n", "boot\r\n", "\nboot", "bo\not"])
def test_a_task_id_with_a_newline_is_refused(tmp_path, task_id):
    found = problems(tmp_path, f"tasks:\n  {task_id!r}:\n    command: 'true'\n".replace("'", '"'))

    assert found == [f"{tmp_path / 'automations.yaml'}:2:3: invalid task id {task_id!r}: "
                     "use 1 to 128 of a-z A-Z 0-9 _ -"]


def test_a_step_id_with_a_trailing_newline_is_refused(tmp_path):
    found = problems(tmp_path, 'tasks:\n  boot:\n    steps:\n      - id: "login\\n"\n        run: "true"\n')

    assert found == [f"{tmp_path / 'automations.yaml'}:4:13: invalid step id 'login\\n': "
                     "use 1 to 128 of a-z A-Z 0-9 _ -"]


def test_a_wide_value_past_the_nesting_limit_is_one_problem(tmp_path):
    wide = "[" * MAX_DEPTH + ", ".join(["[1]"] * 500) + "]" * MAX_DEPTH

    found = problems(tmp_path, f"tasks:\n  boot:\n    command: 'true'\n    description: {wide}\n")

    assert sum("levels deep" in line for line in found) == 1
