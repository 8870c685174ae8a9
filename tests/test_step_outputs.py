"""Steps feed each other (issue 14): a step type declares its outputs; `${{ steps.ID.outputs.NAME }}`
and `${{ tasks.TASK.steps.ID.outputs.NAME }}` read them in `with:` values and `run` commands,
checked by `validate` at FILE:LINE:COL; a `run` step produces outputs through
$AUTOMATIONS_OUTPUT and masks values with `::add-mask::`; a value is never pasted into a
command's text, and a secret one is masked everywhere and on no argv."""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from support.argv import argv_of_running_descendants
from support.cli import run_cli
from support.jwts import make_token

ROLE = "arn:aws:iam::111122223333:role/dev-role"
FAST_RETRY = "{attempts: 6, initialDelay: 0.01, maxDelay: 0.05}"
HOSTILE = '"; touch pwned #'

# A plugin whose `token` output is declared secret, and `greeting` not.
SECRET_STEP = '''
from automations.api import Options, Output, Step, StepResult, option

class MintOptions(Options):
    value: str = option(help="the value to hand on")

class MintStep(Step[MintOptions]):
    name = "mint"
    Options = MintOptions
    outputs = {"token": Output("a token", secret=True), "greeting": "a greeting"}

    def run(self, ctx):
        return StepResult.ok(token=self.options.value, greeting="hello")
'''


def run(config: Path, env: dict[str, str], *args: str, task: str = "t"):
    return run_cli("-c", str(config), *args, "run", task, cwd=config.parent, env=env)


def validate(config: Path, env: dict[str, str]):
    return run_cli("-c", str(config), "validate", cwd=config.parent, env=env)


def output_lines(result, task: str = "t") -> list[str]:
    """What the task's commands printed (from a text run: its lines that are not a step's start or end)."""
    ends = (": ok (", ": changed (", ": skipped (", ": failed (", ": started", ": outputs: ")
    return [line.split(" | ", 1)[1] for line in result.stdout.splitlines()
            if line.startswith(f"{task} | ") and not any(end in line for end in ends)]


# -- aws-login's outputs, end to end against moto ---------------------------------------------

def test_a_run_step_echoes_the_account_aws_login_produced(write_config, sts, aws_env, tmp_path):
    (tmp_path / "token").write_text(make_token())
    config = write_config(f"""
        tasks:
          t:
            steps:
              - uses: aws-login
                id: login
                retry: {FAST_RETRY}
                with: {{roleArn: "{ROLE}", token: {{file: token}}, profile: dev}}
              - run: echo "account ${{{{ steps.login.outputs.accountId }}}}"
    """)
    result = run(config, aws_env)

    assert result.code == 0, result.output
    assert "account 111122223333" in output_lines(result)


def test_a_with_value_reads_another_tasks_aws_login_output(write_config, sts, aws_env, tmp_path):
    (tmp_path / "token").write_text(make_token())
    (tmp_path / "probe").mkdir()
    (tmp_path / "probe" / "111122223333").mkdir()
    config = write_config(f"""
        tasks:
          login:
            steps:
              - uses: aws-login
                id: aws
                retry: {FAST_RETRY}
                with: {{roleArn: "{ROLE}", token: {{file: token}}, profile: dev}}
          t:
            dependsOn: [login]
            steps:
              - run: basename "$PWD"
                with: {{cwd: "probe/${{{{ tasks.login.steps.aws.outputs.accountId }}}}"}}
    """)
    result = run(config, aws_env)

    assert result.code == 0, result.output
    assert "111122223333" in output_lines(result)


# -- run steps produce outputs --------------------------------------------------------------

def test_a_later_task_reads_what_a_run_step_wrote_to_automations_output(write_config, base_env):
    config = write_config("""
        tasks:
          first:
            steps:
              - id: hello
                run: echo "greeting=hi" >> "$AUTOMATIONS_OUTPUT"
          middle:
            dependsOn: [first]
            command: "true"
          t:
            dependsOn: [middle]
            steps:
              - run: echo "said ${{ tasks.first.steps.hello.outputs.greeting }}"
    """)
    result = run(config, base_env)

    assert result.code == 0, result.output
    assert output_lines(result) == ["said hi"]


def test_a_heredoc_output_keeps_its_lines_and_the_last_write_of_a_name_wins(write_config, base_env):
    config = write_config("""
        tasks:
          t:
            steps:
              - id: write
                run: |
                  echo "name=first" >> "$AUTOMATIONS_OUTPUT"
                  printf 'notes<<END\\nline one\\n  line = two\\nEND\\n' >> "$AUTOMATIONS_OUTPUT"
                  echo "name=second=half" >> "$AUTOMATIONS_OUTPUT"
              - run: |
                  printf '%s\\n' "${{ steps.write.outputs.notes }}"
                  echo "[${{ steps.write.outputs.name }}]"
    """)
    result = run(config, base_env)

    assert result.code == 0, result.output
    assert output_lines(result)[-3:] == ["line one", "  line = two", "[second=half]"]


def test_the_output_file_is_private_and_gone_after_the_step(write_config, base_env, tmp_path):
    config = write_config(f"""
        tasks:
          t:
            steps:
              - run: |
                  stat -c %a "$AUTOMATIONS_OUTPUT"
                  echo "$AUTOMATIONS_OUTPUT" > {tmp_path / "where"}
    """)
    result = run(config, base_env)

    assert result.code == 0, result.output
    assert output_lines(result) == ["600"]
    assert not Path((tmp_path / "where").read_text().strip()).exists()


def test_a_malformed_output_line_fails_the_step_naming_the_line_not_its_value(write_config, base_env):
    config = write_config("""
        tasks:
          t:
            steps:
              - run: |
                  echo "fine=1" >> "$AUTOMATIONS_OUTPUT"
                  echo "no-equals-sign-s3cret" >> "$AUTOMATIONS_OUTPUT"
    """)
    result = run(config, base_env)

    assert result.code == 1
    assert "$AUTOMATIONS_OUTPUT line 2: expected NAME=value or NAME<<DELIMITER" in result.stdout
    assert "s3cret" not in result.output


def test_a_heredoc_without_its_delimiter_fails_the_step(write_config, base_env):
    config = write_config("""
        tasks:
          t:
            steps:
              - run: printf 'text<<EOF\\nnever ended\\n' >> "$AUTOMATIONS_OUTPUT"
    """)
    result = run(config, base_env)

    assert result.code == 1
    assert "$AUTOMATIONS_OUTPUT line 1: no line 'EOF' ends the value of 'text'" in result.stdout


def test_a_reference_to_an_output_a_run_step_did_not_produce_fails_at_run_time_naming_it(write_config, base_env):
    config = write_config("""
        tasks:
          t:
            steps:
              - id: quiet
                run: echo "other=1" >> "$AUTOMATIONS_OUTPUT"
              - run: echo "${{ steps.quiet.outputs.missing }}"
    """)
    result = run(config, base_env)

    assert result.code == 1
    assert ("automations.yaml:6:14: ${{ steps.quiet.outputs.missing }}: step 'quiet' produced no output "
            "'missing' (its outputs: other)") in result.stdout


# -- no injection --------------------------------------------------------------------------

def test_a_hostile_value_passed_through_a_reference_runs_nothing(write_config, base_env, tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (tmp_path / "value").write_text(HOSTILE)
    config = write_config("""
        tasks:
          t:
            steps:
              - id: evil
                run: echo "value=$(cat ../value)" >> "$AUTOMATIONS_OUTPUT"
                with: {cwd: scratch}
              - run: |
                  echo "quoted: ${{ steps.evil.outputs.value }}"
                  echo unquoted: ${{ steps.evil.outputs.value }}
                  sh -c 'echo "in a child: $1"' sh "${{ steps.evil.outputs.value }}"
                with: {cwd: scratch}
    """)
    result = run(config, base_env)

    assert result.code == 0, result.output
    assert output_lines(result) == [f"quoted: {HOSTILE}", f"unquoted: {HOSTILE}", f"in a child: {HOSTILE}"]
    assert list(scratch.iterdir()) == []  # no `pwned`


def test_a_value_holding_templates_is_passed_on_as_it_is(write_config, base_env, tmp_path):
    # Neither the shell nor our `${VAR}` expansion reads what an output holds.
    (tmp_path / "sub").mkdir()
    config = write_config("""
        tasks:
          t:
            steps:
              - id: tricky
                run: |
                  echo 'text=${HOME} $(id) `id` $${{ steps.tricky.outputs.text }}' >> "$AUTOMATIONS_OUTPUT"
                  echo 'dir=${SUB}' >> "$AUTOMATIONS_OUTPUT"
              - run: echo "${{ steps.tricky.outputs.text }}"
              - run: echo "in $(basename "$PWD")"
                with: {cwd: "${{ steps.tricky.outputs.dir }}"}
    """)
    base_env["SUB"] = "sub"
    (tmp_path / "${SUB}").mkdir()
    result = run(config, base_env)

    assert result.code == 0, result.output
    lines = output_lines(result)
    assert "${HOME} $(id) `id` ${{ steps.tricky.outputs.text }}" in lines
    assert "in ${SUB}" in lines  # the directory named `${SUB}`, not `sub`


def test_dollar_dollar_brace_brace_is_a_literal_and_an_environment_value_is_never_a_reference(
        write_config, base_env, tmp_path):
    base_env["LOOKS_LIKE_ONE"] = "${{ steps.hello.outputs.greeting }}"
    (tmp_path / "${{ steps.hello.outputs.greeting }}").mkdir()
    (tmp_path / "hi").mkdir()
    config = write_config("""
        tasks:
          t:
            steps:
              - id: hello
                run: echo "greeting=hi" >> "$AUTOMATIONS_OUTPUT"
              - run: echo "$LOOKS_LIKE_ONE"
              - run: echo "in $(basename "$PWD")"
                with: {cwd: "${LOOKS_LIKE_ONE}"}
              - run: echo '$${{ steps.hello.outputs.greeting }}' "${{ steps.hello.outputs.greeting }}"
    """)
    result = run(config, base_env)

    assert result.code == 0, result.output
    assert output_lines(result) == ["${{ steps.hello.outputs.greeting }}", "in ${{ steps.hello.outputs.greeting }}",
                                    "${{ steps.hello.outputs.greeting }} hi"]


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc")
def test_a_secret_output_reaches_a_run_command_through_its_environment_never_its_argv(write_config, base_env,
                                                                                      tmp_path):
    secret = "minted-s3cret-token-0001"
    (tmp_path / "mint_step.py").write_text(SECRET_STEP)
    pidfile, release, got = tmp_path / "pid", tmp_path / "release", tmp_path / "got"
    base_env["MINTED"] = secret
    config = write_config(f"""
        plugins: [mint_step:MintStep]
        tasks:
          t:
            steps:
              - uses: mint
                id: mint
                with: {{value: "${{MINTED}}"}}
              - run: |
                  echo $$ > {pidfile}
                  printf '%s' "${{{{ steps.mint.outputs.token }}}}" > {got}
                  while [ ! -e {release} ]; do sleep 0.05; done
    """)
    seen: list[str] = []
    watcher = threading.Thread(target=argv_of_running_descendants, args=(pidfile, release, seen))
    watcher.start()
    try:
        result = run(config, base_env)
    finally:
        release.touch()
        watcher.join()

    assert result.code == 0, result.output
    assert got.read_text() == secret
    assert len(seen) >= 2 and "${AUTOMATIONS_REF_1}" in seen[0]
    assert not any(secret in argv for argv in seen)


# -- masking -------------------------------------------------------------------------------

def test_add_mask_masks_the_value_from_then_on_and_its_own_line_is_not_shown(write_config, base_env):
    config = write_config("""
        tasks:
          t:
            steps:
              - id: make
                run: |
                  value=$(printf 'made-at-run-%s' time-s3cret)
                  echo "::add-mask::$value"
                  echo "the value is $value"
                  echo "password=$value" >> "$AUTOMATIONS_OUTPUT"
              - run: echo "later ${{ steps.make.outputs.password }}"
    """)
    for output in ("text", "json"):
        result = run(config, base_env, "-vv", "--output", output)

        assert result.code == 0, result.output
        assert "made-at-run-time-s3cret" not in result.output
        assert "add-mask" not in result.output
        if output == "text":
            assert {"the value is ***", "later ***"} <= set(output_lines(result))
            assert "t | make: outputs: password=***" in result.stdout


def test_a_declared_secret_output_is_masked_in_the_json_step_event_and_at_v(write_config, base_env, tmp_path):
    (tmp_path / "mint_step.py").write_text(SECRET_STEP)
    base_env["MINTED"] = "s3cr"  # short: masked where it stands alone, shown as *** in outputs
    config = write_config("""
        plugins: [mint_step:MintStep]
        tasks:
          t:
            steps:
              - uses: mint
                id: mint
                with: {value: "${MINTED}"}
              - run: echo "[${{ steps.mint.outputs.token }}] ${{ steps.mint.outputs.greeting }}"
    """)
    result = run(config, base_env, "--output", "json")

    assert result.code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    steps = {e["step"]: e for e in events if e["event"] == "step"}
    assert steps["mint"]["outputs"] == {"token": "***", "greeting": "hello"}
    assert {"line": "[***] hello"}.items() <= next(e for e in events if e["event"] == "output").items()

    text = run(config, base_env, "-v")
    assert "t | mint: outputs: token=***, greeting=hello" in text.stdout
    assert "s3cr" not in text.output


def test_outputs_are_shown_at_v_and_not_at_the_default_verbosity(write_config, base_env):
    config = write_config("""
        tasks:
          t:
            steps:
              - id: hello
                run: printf 'greeting=hi\\nlines<<X\\na\\nb\\nX\\n' >> "$AUTOMATIONS_OUTPUT"
    """)
    assert "outputs:" not in run(config, base_env).stdout
    assert 't | hello: outputs: greeting=hi, lines="a\\nb"' in run(config, base_env, "-v").stdout


def test_a_failed_steps_json_event_has_no_outputs(write_config, base_env):
    config = write_config("""
        tasks:
          t:
            steps:
              - run: echo "x=1" >> "$AUTOMATIONS_OUTPUT"; exit 3
    """)
    result = run(config, base_env, "--output", "json")

    [step] = [json.loads(line) for line in result.stdout.splitlines() if '"event": "step"' in line]
    assert step["status"] == "failed" and step["outputs"] == {}


def test_dry_run_shows_each_reference_as_written(write_config, base_env, tmp_path):
    (tmp_path / "mint_step.py").write_text(SECRET_STEP)
    config = write_config("""
        plugins: [mint_step:MintStep]
        tasks:
          t:
            steps:
              - uses: mint
                id: mint
                with: {value: x}
              - run: echo "${{ steps.mint.outputs.token }}"
                with: {cwd: "${{ steps.mint.outputs.greeting }}"}
    """)
    result = run_cli("-c", str(config), "run", "--dry-run", "t", cwd=tmp_path, env=base_env)

    assert result.code == 0, result.output
    assert '$ echo "${{ steps.mint.outputs.token }}"' in result.stdout


# -- validate ------------------------------------------------------------------------------

LOGIN = f"""\
tasks:
  login:
    steps:
      - id: aws
        uses: aws-login
        with: {{roleArn: "{ROLE}"}}
"""


@pytest.mark.parametrize(("steps", "expected"), [
    ('      - run: echo "${{ steps.aws.outputs.acountId }}"\n',
     "automations.yaml:7:20: run: run: ${{ steps.aws.outputs.acountId }}: aws-login has no output 'acountId' "
     "(its outputs: profile, accountId, assumedRoleArn, expiration)"),
    ('      - run: |\n          echo one\n          echo ${{ steps.nope.outputs.x }}\n',
     "automations.yaml:9:16: run: run: ${{ steps.nope.outputs.x }}: no step with id 'nope' in task 'login' "
     "(earlier step ids: aws)"),
    ('      - run: echo "${{ steps.later.outputs.x }}"\n      - id: later\n        run: "true"\n',
     "automations.yaml:7:20: run: run: ${{ steps.later.outputs.x }}: step 'later' comes later; a step reads the "
     "outputs of earlier steps only"),
    ('      - id: self\n        run: echo "${{ steps.self.outputs.x }}"\n',
     "automations.yaml:8:20: run: run: ${{ steps.self.outputs.x }}: step 'self' is this step"),
    ('      - uses: aws-login\n        with: {profile: "p-${{ steps.aws.outputs.expiry }}"}\n',
     "automations.yaml:8:28: aws-login: with.profile: ${{ steps.aws.outputs.expiry }}: aws-login has no output "
     "'expiry'"),
    ('      - run: echo "${{ steps.aws.output.accountId }}"\n',
     "automations.yaml:7:20: `${{ steps.aws.output.accountId }}` is not a reference"),
    ('      - run: echo "${{ steps.aws.outputs.accountId"\n',
     "automations.yaml:7:20: `${{` without its closing `}}`"),
], ids=["unknown output", "unknown step", "later step", "this step", "with value", "malformed", "unclosed"])
def test_validate_refuses_a_bad_reference_in_the_task_at_its_line_and_column(write_config, base_env, steps,
                                                                              expected):
    result = validate(write_config(LOGIN + steps), base_env)

    assert result.code == 2
    assert expected in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("task", "expected"), [
    ('  t:\n    steps:\n      - run: echo "${{ tasks.nope.steps.aws.outputs.accountId }}"\n',
     "automations.yaml:9:20: run: run: ${{ tasks.nope.steps.aws.outputs.accountId }}: no task 'nope'"),
    ('  t:\n    steps:\n      - run: echo "${{ tasks.login.steps.aws.outputs.accountId }}"\n',
     "automations.yaml:9:20: run: run: ${{ tasks.login.steps.aws.outputs.accountId }}: task 't' does not depend "
     "on 'login' (add it to `dependsOn`)"),
    ('  t:\n    dependsOn: [login]\n    steps:\n      - run: echo "${{ tasks.login.steps.awz.outputs.accountId }}"\n',
     "automations.yaml:10:20: run: run: ${{ tasks.login.steps.awz.outputs.accountId }}: no step with id 'awz' in "
     "task 'login' (step ids: aws)"),
    ('  t:\n    dependsOn: [login]\n    steps:\n      - run: echo "${{ tasks.login.steps.aws.outputs.nope }}"\n',
     "automations.yaml:10:20: run: run: ${{ tasks.login.steps.aws.outputs.nope }}: aws-login has no output 'nope'"),
    ('  t:\n    env:\n      X: "${{ tasks.login.steps.aws.outputs.accountId }}"\n    command: "true"\n',
     "automations.yaml:9:10: env X: a step's outputs cannot be read in `env:`"),
], ids=["unknown task", "not a dependency", "unknown step", "unknown output", "in env"])
def test_validate_refuses_a_bad_reference_to_another_task_at_its_line_and_column(write_config, base_env, task,
                                                                                  expected):
    result = validate(write_config(LOGIN + task), base_env)

    assert result.code == 2
    assert expected in result.stderr


def test_validate_accepts_references_to_dependencies_through_others_and_to_run_outputs(write_config, base_env):
    config = write_config(LOGIN + """\
  middle:
    dependsOn: [login]
    steps:
      - id: build
        run: echo "tag=v1" >> "$AUTOMATIONS_OUTPUT"
  t:
    dependsOn: [middle]
    steps:
      - run: echo "${{ tasks.login.steps.aws.outputs.accountId }} ${{ tasks.middle.steps.build.outputs.anything }}"
""")
    result = validate(config, base_env)

    assert result.code == 0, result.output


# -- steps and schema ----------------------------------------------------------------------

def test_steps_and_schema_show_the_declared_outputs(base_env, tmp_path):
    steps = run_cli("--output", "json", "steps", cwd=tmp_path, env=base_env)
    types = {e["name"]: e for e in map(json.loads, steps.stdout.splitlines())}
    assert [o["name"] for o in types["aws-login"]["outputs"]] == ["profile", "accountId", "assumedRoleArn",
                                                                  "expiration"]
    assert types["run"]["outputs"] is None  # known when it runs
    assert "outputs (${{ steps.ID.outputs.NAME }}):" in run_cli("steps", cwd=tmp_path, env=base_env).stdout

    schema = json.loads(run_cli("schema", cwd=tmp_path, env=base_env).stdout)
    login = schema["$defs"]["options"]["aws-login"]
    assert set(login["x-outputs"]) == {"profile", "accountId", "assumedRoleArn", "expiration"}
    assert "outputs: profile, accountId" in login["description"]


def test_the_output_file_of_a_step_is_private_even_under_umask_000(write_config, base_env, tmp_path):
    config = write_config("""
        tasks:
          t:
            command: stat -c %a "$AUTOMATIONS_OUTPUT"
    """)
    previous = os.umask(0)
    try:
        result = run(config, base_env)
    finally:
        os.umask(previous)
    assert output_lines(result) == ["600"]


def test_the_readmes_outputs_example_validates(write_config, base_env, tmp_path):
    from test_readme import code_blocks

    example = next(block for block in code_blocks("yaml") if "AUTOMATIONS_OUTPUT" in block)
    result = validate(write_config(example), base_env)

    assert result.code == 0, result.output


def test_validate_refuses_a_reference_in_a_command_run_without_a_shell(write_config, base_env):
    # aws-login's token command is split and run without a shell: the value would be its argv.
    config = write_config(LOGIN + """\
      - uses: aws-login
        with: {token: {command: "get-token ${{ steps.aws.outputs.accountId }}"}}
""")
    result = validate(config, base_env)

    assert result.code == 2
    assert ("automations.yaml:8:44: aws-login: with.token.command: ${{ steps.aws.outputs.accountId }}: a step's "
            "output cannot be used here: the command runs without a shell") in result.stderr


# -- the expansion itself --------------------------------------------------------------------

def test_a_reference_in_a_default_is_read_only_when_the_default_is_used():
    from automations.engine.expand import expand
    from automations.engine.references import StepReferences

    references = StepReferences({"s": {"o": "from-output"}})
    value = "${A:-${{ steps.s.outputs.o }}} ${{steps.s.outputs.o}}"

    assert expand(value, {}, references=references) == "from-output from-output"
    assert expand(value, {"A": "set"}, references=references) == "set from-output"
    assert expand(value, {}) == "${{ steps.s.outputs.o }} ${{steps.s.outputs.o}}"  # a dry run


def test_in_text_passed_on_as_written_each_reference_becomes_one_variable():
    from automations.engine.expand import expand
    from automations.engine.references import StepReferences

    references = StepReferences({"s": {"o": "v", "n": 3}, "t.x": {"list": ["a", "b"]}})
    command = ("echo ${{ steps.s.outputs.o }} ${{steps.s.outputs.o}} ${{ steps.s.outputs.n }} "
               "${{ tasks.t.steps.x.outputs.list }} $${{ steps.s.outputs.o }} ${HOME}")

    passed = expand({"command": command}, {}, unexpanded=[("command",)], references=references)

    assert passed["command"] == ("echo ${AUTOMATIONS_REF_1} ${AUTOMATIONS_REF_1} ${AUTOMATIONS_REF_2} "
                                 "${AUTOMATIONS_REF_3} ${{ steps.s.outputs.o }} ${HOME}")
    assert references.variables == {"AUTOMATIONS_REF_1": "v", "AUTOMATIONS_REF_2": "3",
                                    "AUTOMATIONS_REF_3": '["a", "b"]'}


def test_more_than_a_mebibyte_of_outputs_fails_the_step(write_config, base_env):
    config = write_config("""
        tasks:
          t:
            steps:
              - run: head -c 1100000 /dev/zero | tr '\\0' a | sed 's/^/big=/' >> "$AUTOMATIONS_OUTPUT"
    """)
    result = run(config, base_env)

    assert result.code == 1
    assert "$AUTOMATIONS_OUTPUT holds more than 1 MiB" in result.stdout


def test_a_value_no_environment_variable_can_hold_fails_the_reading_step_naming_the_reference(write_config,
                                                                                             base_env):
    config = write_config("""
        tasks:
          t:
            steps:
              - id: nul
                run: printf 'x=a\\0b\\n' >> "$AUTOMATIONS_OUTPUT"
              - run: echo "${{ steps.nul.outputs.x }}"
    """)
    result = run(config, base_env)

    assert result.code == 1
    assert "automations.yaml:6:14: ${{ steps.nul.outputs.x }}: the value holds a NUL character" in result.stdout
    assert "Traceback" not in result.output


def test_a_value_line_taken_for_a_heredoc_is_refused_without_showing_it(write_config, base_env):
    # A line `NAME<<DELIM` whose NAME is no output name is a value gone astray: the message
    # gives its line number, never its text (it may be a secret nobody registered).
    config = write_config("""
        tasks:
          t:
            steps:
              - name: write outputs
                run: echo 'abcdefgh s3cret<<EOF' >> "$AUTOMATIONS_OUTPUT"
    """)
    result = run(config, base_env)

    assert result.code == 1
    assert "$AUTOMATIONS_OUTPUT line 1: an output name is" in result.stdout
    assert "s3cret" not in result.output


def test_a_command_that_removes_its_output_file_fails_as_itself(write_config, base_env):
    config = write_config("""
        tasks:
          t:
            steps:
              - run: rm "$AUTOMATIONS_OUTPUT"; exit 3
                retry: {attempts: 1}
          u:
            steps:
              - run: rm "$AUTOMATIONS_OUTPUT"
    """)
    failed = run(config, base_env)
    removed = run(config, base_env, task="u")

    assert failed.code == 1 and "command failed (exit code 3)" in failed.stdout, failed.output
    assert removed.code == 1 and "$AUTOMATIONS_OUTPUT was removed by the command" in removed.stdout
    assert "unexpected error" not in failed.output + removed.output
