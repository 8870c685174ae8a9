"""Strict validation before anything runs: every problem of the file at once, each as
FILE:LINE:COL: message, exit code 2, no traceback, nothing run."""
from __future__ import annotations

from pathlib import Path

from support.cli import run_cli
from support.config import problems_of


def validate(config: Path, env: dict[str, str]):
    return run_cli("-c", str(config), "validate", cwd=config.parent, env=env)


def test_a_valid_file_validates(write_config, base_env):
    config = write_config("""
        tasks:
          hello:
            command: echo hi
    """)
    result = validate(config, base_env)
    assert result.code == 0, result.output
    assert "ok (1 task, 1 step)" in result.stdout


def test_unknown_top_level_key_is_reported_at_the_key(write_config, base_env):
    config = write_config("""
        tasks:
          hello:
            command: echo hi
        servces: {}
    """)
    result = validate(config, base_env)
    assert result.code == 2
    assert "automations.yaml:4:1: unknown top-level key 'servces'" in result.stderr


def test_unknown_task_key_is_reported_at_the_key(write_config, base_env):
    config = write_config("""
        tasks:
          hello:
            command: echo hi
            triggerdBy: [manual]
    """)
    result = validate(config, base_env)
    assert "automations.yaml:4:5: unknown key 'triggerdBy' in task 'hello'" in result.stderr


def test_task_with_both_command_and_steps_is_refused(write_config, base_env):
    config = write_config("""
        tasks:
          hello:
            command: echo hi
            steps:
              - run: echo there
    """)
    result = validate(config, base_env)
    assert "automations.yaml:2:3: task 'hello' has both `command` and `steps`; use one" in result.stderr


def test_task_with_neither_command_nor_steps_is_refused(write_config, base_env):
    config = write_config("""
        tasks:
          hello:
            name: Nothing to do
    """)
    result = validate(config, base_env)
    assert "automations.yaml:2:3: task 'hello' needs `command` or `steps`" in result.stderr


def test_unknown_step_type_is_reported_at_uses(write_config, base_env):
    config = write_config("""
        tasks:
          hello:
            steps:
              - uses: not-a-step
    """)
    result = validate(config, base_env)
    assert "automations.yaml:4:15: unknown step type 'not-a-step' (known: " in result.stderr


def test_unknown_dependency_is_reported_at_the_entry(write_config, base_env):
    config = write_config("""
        tasks:
          hello:
            command: echo hi
            dependsOn: [setup, missing]
          setup:
            command: echo setup
    """)
    result = validate(config, base_env)
    assert "automations.yaml:4:24: task 'hello' depends on unknown task 'missing'" in result.stderr


def test_dependency_cycle_is_named(write_config, base_env):
    config = write_config("""
        tasks:
          a:
            command: echo a
            dependsOn: [b]
          b:
            command: echo b
            dependsOn: [c]
          c:
            command: echo c
            dependsOn: [a]
    """)
    result = validate(config, base_env)
    assert result.code == 2
    assert "automations.yaml:4:17: dependency cycle: a -> b -> c -> a" in result.stderr


def test_bad_task_id_is_refused(write_config, base_env):
    config = write_config("""
        tasks:
          "hello world":
            command: echo hi
    """)
    result = validate(config, base_env)
    assert "automations.yaml:2:3: invalid task id 'hello world'" in result.stderr


def test_bad_step_id_is_refused(write_config, base_env):
    config = write_config("""
        tasks:
          hello:
            steps:
              - run: echo hi
                id: "not ok!"
    """)
    result = validate(config, base_env)
    assert "automations.yaml:5:13: invalid step id 'not ok!'" in result.stderr


def test_wrong_types_are_reported(write_config, base_env):
    config = write_config("""
        tasks:
          hello:
            command: echo hi
            triggeredBy: manual
            env: [A, B]
    """)
    result = validate(config, base_env)
    assert "automations.yaml:4:18: `triggeredBy` must be a list of strings" in result.stderr
    assert "automations.yaml:5:10: `env` must be a mapping of NAME: value" in result.stderr


def test_unknown_trigger_is_refused(write_config, base_env):
    config = write_config("""
        tasks:
          hello:
            command: echo hi
            triggeredBy: [postStart]
    """)
    result = validate(config, base_env)
    assert "automations.yaml:4:19: unknown trigger 'postStart'" in result.stderr


def test_step_options_are_validated_by_the_step_class_at_their_position(write_config, base_env):
    config = write_config("""
        tasks:
          hello:
            steps:
              - run: echo hi
                with:
                  shell: zsh
                  colour: red
    """)
    result = validate(config, base_env)
    assert "automations.yaml:6:18: run: with.shell: expected one of bash | sh, got 'zsh'" in result.stderr
    assert "automations.yaml:7:11: run: with.colour: unknown option (known: command, cwd, shell)" in result.stderr


def test_missing_required_option_is_reported_at_the_step(write_config, base_env):
    config = write_config("""
        tasks:
          hello:
            steps:
              - uses: run
                name: nothing to run
    """)
    result = validate(config, base_env)
    assert "automations.yaml:4:9: run: with: missing required option 'command'" in result.stderr


def test_bad_retry_and_timeout_are_refused(write_config, base_env):
    config = write_config("""
        tasks:
          hello:
            steps:
              - run: echo hi
                retry: {attempts: 0, backoff: 2}
                timeout: -1
    """)
    result = validate(config, base_env)
    assert "automations.yaml:5:27: retry attempts must be at least 1" in result.stderr
    assert "automations.yaml:5:30: unknown retry key 'backoff'" in result.stderr
    assert "automations.yaml:6:18: `timeout` must be a positive number of seconds" in result.stderr


def test_a_retry_per_error_class_is_checked_where_it_is_written(write_config, base_env):
    config = write_config("""
        tasks:
          hello:
            steps:
              - run: echo hi
                retry: {attempts: 3, throttled: {attempts: 0, backoff: 2}, transient: fast, fatal: {}}
    """)
    result = validate(config, base_env)
    assert result.code == 2
    assert "automations.yaml:5:52: retry throttled.attempts must be at least 1" in result.stderr
    assert "automations.yaml:5:55: unknown retry key 'throttled.backoff'" in result.stderr
    assert "automations.yaml:5:79: `retry.transient` must be a mapping" in result.stderr
    assert "automations.yaml:5:85: unknown retry key 'fatal'; expected one of: attempts, initialDelay, maxDelay, " \
           "deadline, throttled, transient" in result.stderr


def test_a_retry_per_error_class_validates(write_config, base_env):
    config = write_config("""
        tasks:
          hello:
            steps:
              - run: echo hi
                retry: {attempts: 3, throttled: {initialDelay: 10, maxDelay: 60}, transient: {deadline: 30}}
    """)
    result = validate(config, base_env)
    assert result.code == 0, result.output


def test_a_zero_timeout_is_refused_not_taken_as_no_timeout(write_config, base_env):
    config = write_config("""
        tasks:
          hello:
            steps:
              - run: echo hi
                timeout: 0
    """)
    result = validate(config, base_env)
    assert result.code == 2
    assert result.stderr == "automations.yaml:5:18: `timeout` must be a positive number of seconds\n"


def test_a_misspelt_step_key_is_refused_not_ignored(write_config, base_env):
    config = write_config("""
        tasks:
          hello:
            steps:
              - run: echo hi
                retires: {attempts: 3}
    """)
    result = validate(config, base_env)
    assert result.code == 2
    assert result.stderr.startswith("automations.yaml:5:9: unknown key 'retires' in step; expected one of: ")
    assert result.stderr.count("\n") == 1


def test_duplicate_keys_are_refused(write_config, base_env):
    config = write_config("""
        tasks:
          hello:
            command: echo hi
          hello:
            command: echo again
    """)
    result = validate(config, base_env)
    assert "automations.yaml:4:3: duplicate key 'hello'" in result.stderr


def test_yaml_syntax_error_gives_its_position(write_config, base_env):
    config = write_config("""
        tasks:
          hello:
            command: [echo hi
    """)
    result = validate(config, base_env)
    assert result.code == 2
    assert result.stderr.startswith("automations.yaml:4:1: YAML syntax error:")


def test_every_problem_of_the_file_is_reported_at_once(write_config, base_env):
    config = write_config("""
        tasks:
          a:
            command: echo a
            dependsOn: [nope]
          b:
            steps:
              - uses: nothing-like-this
          c:
            bogus: 1
            command: echo c
    """)
    result = validate(config, base_env)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 3, result.stderr
    assert [line.split(":")[1] for line in lines] == ["4", "7", "9"]


def test_errors_print_no_traceback(write_config, base_env):
    config = write_config("tasks: {a: {command: 1}}\n")
    result = validate(config, base_env)
    assert result.code == 2
    assert "Traceback" not in result.output


def test_a_config_error_runs_nothing(write_config, base_env, tmp_path):
    marker = tmp_path / "ran"
    config = write_config(f"""
        tasks:
          good:
            command: touch {marker}
          bad:
            command: echo hi
            dependsOn: [ghost]
    """)
    result = run_cli("-c", str(config), "run", "good", cwd=tmp_path, env=base_env)
    assert result.code == 2
    assert not marker.exists()


def test_config_is_found_in_the_nearest_parent(write_config, base_env, tmp_path):
    write_config("tasks: {hello: {command: echo from-parent}}\n")
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    result = run_cli("run", "hello", cwd=nested, env=base_env)
    assert result.code == 0, result.output
    assert "from-parent" in result.stdout


def test_config_from_the_environment_variable(write_config, base_env, tmp_path):
    config = write_config("tasks: {hello: {command: echo from-env}}\n", name="other.yaml")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run_cli("run", "hello", cwd=elsewhere, env={**base_env, "AUTOMATIONS_CONFIG": str(config)})
    assert "from-env" in result.stdout


def test_missing_config_says_what_to_do(base_env, tmp_path):
    result = run_cli("list", cwd=tmp_path, env=base_env)
    assert result.code == 2
    assert "no automations.yaml in" in result.stderr
    assert "-c/--config" in result.stderr


def test_an_option_error_names_the_option(write_config, base_env):
    config = write_config("""
        tasks:
          login:
            steps:
              - uses: aws-login
                with: {durationSeconds: wide}
    """)
    result = validate(config, base_env)
    assert result.code == 2
    assert ("automations.yaml:5:33: aws-login: with.durationSeconds: expected integer, got the string 'wide'"
            in result.stderr)


def test_an_error_in_a_nested_option_names_its_whole_path(write_config, base_env):
    config = write_config("""
        tasks:
          secrets:
            steps:
              - uses: secrets-manager
                with:
                  file: .env
                  secrets:
                    - {id: ok, env: GOOD}
                    - {id: bad, env: 1NOT-A-NAME}
    """)
    result = validate(config, base_env)
    assert "secrets-manager: with.secrets[1].env: '1NOT-A-NAME' is not a variable name" in result.stderr


def test_an_option_wrong_once_expanded_is_named_at_run_time(write_config, base_env):
    config = write_config("""
        tasks:
          login:
            steps:
              - uses: aws-login
                with: {roleArn: "arn:aws:iam::123456789012:role/dev", durationSeconds: "${DURATION}"}
    """)
    result = run_cli("-c", str(config), "run", "login", "--dry-run", cwd=config.parent,
                     env={**base_env, "DURATION": "wide"})
    assert result.code == 1
    assert ("automations.yaml:5:80: aws-login: with.durationSeconds: expected integer after expanding ${...}"
            in result.stdout)


def test_every_problem_with_a_steps_own_keys_is_reported_at_once(write_config, base_env):
    config = write_config("""
        tasks:
          hello:
            steps:
              - uses: 5
                id: "not ok!"
                name: 3
                timeout: 0
    """)
    result = validate(config, base_env)
    assert result.code == 2
    assert result.stderr.splitlines() == [
        "automations.yaml:4:15: `uses` must be a step type name",
        "automations.yaml:5:13: invalid step id 'not ok!': use 1 to 128 of a-z A-Z 0-9 _ -",
        "automations.yaml:6:15: `name` must be a string",
        "automations.yaml:7:18: `timeout` must be a positive number of seconds",
    ]


# -- the top level of the file and its `plugins:` list ------------------------------------------

BESIDE_THE_CONFIG = (
    "from automations.api import Options, Step, StepResult\n"
    "class Hello(Step[Options]):\n"
    "    name = 'hello-beside'\n"
    "    Options = Options\n"
    "    def run(self, ctx):\n"
    "        ctx.log.output('hello from beside the config')\n"
    "        return StepResult.ok()\n")


def test_a_file_that_is_not_a_mapping_is_refused_at_its_start(write_config, base_env):
    config = write_config("- tasks\n")
    assert problems_of(config, base_env) == [
        "automations.yaml:1:1: the top level must be a mapping with a `tasks:` key"]


def test_a_file_without_tasks_says_tasks_is_missing(write_config, base_env):
    config = write_config("plugins: []\n")
    assert problems_of(config, base_env) == ["automations.yaml:1:1: missing `tasks:`"]


def test_an_unknown_top_level_key_lists_the_known_ones(write_config, base_env):
    config = write_config("""
        tasks: {a: {command: echo a}}
        setting: 1
    """)
    assert problems_of(config, base_env) == [
        "automations.yaml:2:1: unknown top-level key 'setting'; expected one of: tasks, plugins"]


def test_gitpods_services_key_is_refused_with_a_word_on_why(write_config, base_env):
    config = write_config("""
        services: {}
        tasks: {a: {command: echo a}}
    """)
    assert problems_of(config, base_env) == [
        "automations.yaml:1:1: unknown top-level key 'services' (Gitpod services are not supported); "
        "expected one of: tasks, plugins"]


def test_tasks_that_are_not_a_mapping_are_refused_at_the_value(write_config, base_env):
    config = write_config("tasks: [a, b]\n")
    assert problems_of(config, base_env) == ["automations.yaml:1:8: `tasks` must be a mapping of task id to task"]


def test_plugins_that_are_not_a_list_are_refused_and_nothing_is_imported(write_config, base_env):
    config = write_config("""
        plugins: cm_unlisted:Thing
        tasks: {a: {command: echo a}}
    """)
    (config.parent / "cm_unlisted.py").write_text(f"open({str(config.parent / 'imported')!r}, 'w').close()\n")
    assert problems_of(config, base_env) == [
        "automations.yaml:1:10: `plugins` must be a list of 'module:Class' strings"]
    assert not (config.parent / "imported").exists()


def test_an_invalid_task_id_is_named_and_the_valid_tasks_are_still_checked(write_config, base_env):
    config = write_config("""
        tasks:
          "hello world": {command: echo hi}
          fine: {command: echo ok, bogus: 1}
    """)
    assert problems_of(config, base_env) == [
        "automations.yaml:2:3: invalid task id 'hello world': use 1 to 128 of a-z A-Z 0-9 _ -",
        "automations.yaml:3:28: unknown key 'bogus' in task 'fine'; expected one of: command, dependsOn, "
        "description, env, name, steps, triggeredBy",
    ]


def test_each_refused_plugin_entry_is_named_at_its_position_and_the_others_are_still_tried(write_config, base_env):
    config = write_config("""
        plugins:
          - no-colon-here
          - cm_nowhere_to_be_found:Thing
          - 5
        tasks: {a: {command: echo a}}
    """)
    assert problems_of(config, base_env) == [
        "automations.yaml:2:5: expected 'module:Class', got 'no-colon-here'",
        "automations.yaml:3:5: plugin 'cm_nowhere_to_be_found:Thing' listed in automations.yaml failed to import: "
        "ModuleNotFoundError: No module named 'cm_nowhere_to_be_found'",
        "automations.yaml:4:5: expected 'module:Class', got 5",
    ]


def test_a_listed_plugin_is_found_beside_the_config_when_run_from_elsewhere(tmp_path, base_env):
    project = tmp_path / "project"
    project.mkdir()
    (project / "cm_beside.py").write_text(BESIDE_THE_CONFIG)
    (project / "automations.yaml").write_text("plugins: ['cm_beside:Hello']\n"
                                              "tasks: {hi: {steps: [{uses: hello-beside}]}}\n")
    result = run_cli("-c", "project/automations.yaml", "run", "hi", cwd=tmp_path, env=base_env)
    assert result.code == 0, result.output
    assert "hi | hello from beside the config" in result.stdout


def test_a_plugin_that_fails_to_import_is_named_with_the_config_as_the_user_wrote_it(tmp_path, base_env):
    project = tmp_path / "project"
    project.mkdir()
    (project / "cm_broken.py").write_text("raise RuntimeError('boom at import')\n")
    (project / "automations.yaml").write_text("plugins: ['cm_broken:Thing']\ntasks: {a: {command: echo a}}\n")
    result = run_cli("-c", "project/automations.yaml", "validate", cwd=tmp_path, env=base_env)
    assert result.code == 2
    assert result.stderr == ("project/automations.yaml:1:11: plugin 'cm_broken:Thing' listed in "
                             "project/automations.yaml failed to import: RuntimeError: boom at import\n")


def test_with_vv_a_listed_plugin_that_fails_to_import_shows_where_it_failed(write_config, base_env):
    config = write_config("""
        plugins: ['cm_broken_vv:Thing']
        tasks: {a: {command: echo a}}
    """)
    (config.parent / "cm_broken_vv.py").write_text("def load():\n    raise RuntimeError('boom at import')\n\nload()\n")
    lines = problems_of(config, base_env, "-vv")
    assert lines[0] == ("automations.yaml:1:11: plugin 'cm_broken_vv:Thing' listed in automations.yaml failed to "
                        "import: RuntimeError: boom at import")
    traceback = "\n".join(lines[1:])
    assert "Traceback (most recent call last)" in traceback
    assert 'cm_broken_vv.py", line 2, in load' in traceback


def test_with_vv_an_unknown_step_type_shows_where_the_lookup_failed(write_config, base_env):
    config = write_config("""
        tasks:
          hello:
            steps:
              - uses: not-a-step
    """)
    lines = problems_of(config, base_env, "-vv")
    assert lines[0].startswith("automations.yaml:4:15: unknown step type 'not-a-step' (known: ")
    assert "Traceback (most recent call last)" in "\n".join(lines[1:])


# -- a nested option, named and pointed at where it is written ------------------------------------

NESTED_SECRETS = """
    tasks:
      later:
        steps:
          - uses: secrets-manager
            with:
              file: .env
              secrets:
                - {id: ok, env: GOOD}
                - {id: "${SECRET_ID}", env: "${NAME}"}
"""


def test_a_wrong_nested_option_is_pointed_at_where_it_is_written(write_config, base_env):
    config = write_config(NESTED_SECRETS.replace('"${NAME}"', "1NOT-A-NAME"))
    assert problems_of(config, base_env) == [
        "automations.yaml:9:41: secrets-manager: with.secrets[1].env: '1NOT-A-NAME' is not a variable name "
        "(^[A-Za-z_][A-Za-z0-9_]*$)"]


def test_an_unset_variable_in_a_nested_option_is_pointed_at_where_it_is_written(write_config, base_env):
    config = write_config(NESTED_SECRETS)
    result = run_cli("-c", str(config), "run", "later", "--dry-run", cwd=config.parent, env=base_env)
    assert result.code == 1
    assert ("(cannot plan: automations.yaml:9:20: ${SECRET_ID} is not set (set it, or write ${SECRET_ID:-default}))"
            in result.stdout)


def test_a_nested_option_wrong_once_expanded_is_pointed_at_where_it_is_written(write_config, base_env):
    config = write_config(NESTED_SECRETS)
    result = run_cli("-c", str(config), "run", "later", "--dry-run", cwd=config.parent,
                     env={**base_env, "SECRET_ID": "x", "NAME": "1bad"})
    assert result.code == 1
    assert ("(cannot plan: automations.yaml:9:41: secrets-manager: with.secrets[1].env: '1bad' is not a variable "
            "name (^[A-Za-z_][A-Za-z0-9_]*$))" in result.stdout)


def test_a_task_with_an_invalid_id_is_one_problem_not_a_cascade_from_its_dependencies(write_config, base_env):
    config = write_config("""
        tasks:
          "hello world":
            command: echo ${{ tasks.nope.steps.a.outputs.b }}
            dependsOn: [ghost]
          fine: {command: echo ok}
    """)
    assert problems_of(config, base_env) == [
        "automations.yaml:2:3: invalid task id 'hello world': use 1 to 128 of a-z A-Z 0-9 _ -"]


def test_a_task_with_both_command_and_steps_is_one_problem_whatever_is_wrong_in_either(write_config, base_env):
    config = write_config("""
        tasks:
          t:
            command: ""
            steps: []
          u:
            command: echo ${{ steps.x.outputs.y }}
            steps: [{run: echo}]
    """)
    assert problems_of(config, base_env) == [
        "automations.yaml:2:3: task 't' has both `command` and `steps`; use one",
        "automations.yaml:5:3: task 'u' has both `command` and `steps`; use one",
    ]


def test_a_dependency_that_is_not_a_task_id_is_named_as_an_unknown_task(write_config, base_env):
    config = write_config("""
        tasks:
          a:
            command: echo a
            dependsOn: ["not an id!"]
    """)
    assert problems_of(config, base_env) == ["automations.yaml:4:17: task 'a' depends on unknown task 'not an id!'"]


def test_depends_on_that_is_not_a_list_of_names_is_one_problem(write_config, base_env):
    config = write_config("""
        tasks:
          a: {command: echo a}
          b:
            command: echo b
            dependsOn: 5
          c:
            command: echo c
            dependsOn: [1, a]
    """)
    assert problems_of(config, base_env) == [
        "automations.yaml:5:16: `dependsOn` must be a list of strings",
        "automations.yaml:8:16: `dependsOn` must be a list of strings",
    ]


def test_each_wrong_env_entry_is_one_problem_and_the_others_are_still_checked(write_config, base_env):
    config = write_config("""
        tasks:
          t:
            command: echo t
            env:
              1BAD: "${{ steps.a.outputs.b }}"
              LIST: ["${{ x"]
              GOOD: "${{ steps.a.outputs.b }}"
              ALSO: "${{ steps.a.outputs.b }}"
    """)
    assert problems_of(config, base_env) == [
        "automations.yaml:5:7: invalid environment variable name '1BAD'",
        "automations.yaml:6:13: env LIST: expected a string or number (quote yes/no/true/false)",
        "automations.yaml:7:13: env GOOD: a step's outputs cannot be read in `env:` "
        "(use the reference in the step's `with:` or `run:`)",
        "automations.yaml:8:13: env ALSO: a step's outputs cannot be read in `env:` "
        "(use the reference in the step's `with:` or `run:`)",
    ]


def test_a_with_that_is_not_a_mapping_is_one_problem(write_config, base_env):
    config = write_config("""
        tasks:
          t:
            steps:
              - uses: run
                with: 5
              - run: echo
                with: [a]
    """)
    assert problems_of(config, base_env) == [
        "automations.yaml:5:15: `with` must be a mapping of options",
        "automations.yaml:7:15: `with` must be a mapping of options",
    ]


def test_a_task_that_is_not_a_mapping_is_pointed_at_its_value(write_config, base_env):
    config = write_config("tasks:\n  a: 5\n")
    assert problems_of(config, base_env) == ["automations.yaml:2:6: task 'a' must be a mapping"]


def test_triggers_that_are_not_names_are_one_problem_beside_the_tasks_others(write_config, base_env):
    config = write_config("""
        tasks:
          b:
            command: echo b
            bogus: 1
            triggeredBy: [1, 2]
    """)
    assert problems_of(config, base_env) == [
        "automations.yaml:4:5: unknown key 'bogus' in task 'b'; expected one of: command, dependsOn, description, env, "
        "name, steps, triggeredBy",
        "automations.yaml:5:18: `triggeredBy` must be a list of strings",
    ]


def test_an_unknown_trigger_is_pointed_at_and_the_triggers_are_listed(write_config, base_env):
    config = write_config("""
        tasks:
          c:
            command: echo c
            triggeredBy: [manual, postStart]
    """)
    assert problems_of(config, base_env) == [
        "automations.yaml:4:27: unknown trigger 'postStart'; expected one of: postEnvironmentStart, "
        "postDevcontainerStart, prebuild, manual"]


def test_a_task_that_depends_on_itself_is_one_problem_not_a_cycle_too(write_config, base_env):
    config = write_config("""
        tasks:
          d:
            command: echo d
            dependsOn: [d]
    """)
    assert problems_of(config, base_env) == ["automations.yaml:4:17: task 'd' depends on itself"]


def test_a_file_that_is_not_utf8_cannot_be_read_and_says_why(tmp_path, base_env):
    (tmp_path / "automations.yaml").write_bytes(b"\xff\xfetasks: {}\n")
    result = run_cli("validate", cwd=tmp_path, env=base_env)
    assert result.code == 2
    assert result.stderr == ("error: cannot read automations.yaml: 'utf-8' codec can't decode byte 0xff in "
                             "position 0: invalid start byte\n")


def test_a_yaml_syntax_error_says_what_the_parser_found_where(write_config, base_env):
    config = write_config("tasks:\n  a: &x 1\n  b: *y\n")
    assert problems_of(config, base_env) == ["automations.yaml:3:6: YAML syntax error: found undefined alias"]
