"""The `run` step's command reaches bash as written (issue 10): bash expands `${VAR}` from
its in_process_env, so no value is ever on its argv; options declared `expand=False` work the
same for plugins. And a command's output never fails the step for the terminal's sake."""
from __future__ import annotations

import os
import threading

import pytest
from support.argv import argv_of_running_descendants
from support.cli import run_process

from automations.cli.main import main
from automations.engine.expand import expand
from automations.engine.options import Options, convert, option, unexpanded_paths

TOKEN = "ghp_s3cr3t-T0ken-value"


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc")
def test_a_variable_in_a_run_command_is_expanded_by_bash_never_on_its_argv(write_config, in_process_env, monkeypatch,
                                                                           tmp_path, capsys):
    monkeypatch.setenv("SOME_TOKEN", TOKEN)
    pidfile, release, got = tmp_path / "pid", tmp_path / "release", tmp_path / "got"
    config = write_config(f"""
        tasks:
          call:
            env:
              HEADER: "Authorization: token ${{SOME_TOKEN}}"
            steps:
              - run: |
                  echo $$ > {pidfile}
                  printf '%s|%s' "${{SOME_TOKEN}}" "$HEADER" > {got}
                  while [ ! -e {release} ]; do sleep 0.05; done
    """)
    seen: list[str] = []
    watcher = threading.Thread(target=argv_of_running_descendants, args=(pidfile, release, seen))
    watcher.start()
    try:
        code = main(["-c", str(config), "run", "call"])
    finally:
        release.touch()
        watcher.join()
    assert code == 0, capsys.readouterr()
    assert got.read_text() == f"{TOKEN}|Authorization: token {TOKEN}"  # bash did expand both
    assert seen and "${SOME_TOKEN}" in seen[0]  # bash's argv holds the command as written
    assert not any(TOKEN in argv for argv in seen)


def test_dry_run_shows_the_command_as_written(write_config, in_process_env, monkeypatch, capsys):
    monkeypatch.setenv("SOME_TOKEN", TOKEN)
    config = write_config("""
        tasks:
          call:
            command: 'curl -H "Authorization: token ${SOME_TOKEN}" https://api.github.com/user'
    """)
    assert main(["-c", str(config), "run", "call", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert '$ curl -H "Authorization: token ${SOME_TOKEN}" https://api.github.com/user' in out
    assert TOKEN not in out


def test_a_variable_unset_in_a_run_command_is_bash_s_business_not_an_error(write_config, in_process_env, capsys):
    config = write_config("""
        tasks:
          call:
            command: 'echo "[${NOT_SET_ANYWHERE:-fallback}] [${NOT_SET_EITHER}]"'
    """)
    assert main(["-c", str(config), "run", "call"]) == 0
    assert "call | [fallback] []" in capsys.readouterr().out


def test_the_escape_for_a_literal_dollar_brace_still_reaches_bash_as_dollar_brace(write_config, in_process_env,
                                                                                   monkeypatch, capsys):
    # Commands written when the runner expanded them used `$${VAR}` for bash's own variables.
    monkeypatch.setenv("WHO", "bash")
    config = write_config("""
        tasks:
          call:
            command: 'for n in 1; do echo "$${WHO} $${n} $$" | tr -d 0-9; done'
    """)
    assert main(["-c", str(config), "run", "call"]) == 0
    assert "call | bash  \n" in capsys.readouterr().out


def test_other_options_of_a_run_step_are_still_expanded_by_us(write_config, in_process_env, monkeypatch, tmp_path,
                                                              capsys):
    (tmp_path / "sub").mkdir()
    monkeypatch.setenv("SUBDIR", "sub")
    config = write_config("""
        tasks:
          call:
            steps:
              - run: basename "$PWD"
                with: {cwd: "${SUBDIR}"}
    """)
    assert main(["-c", str(config), "run", "call"]) == 0
    assert "call | sub" in capsys.readouterr().out


class _Inner(Options):
    script: str = option(expand=False)
    label: str = option("")


class _PluginOptions(Options):
    inner: _Inner | None = option(None)
    many: list[_Inner] = option(default_factory=list)
    text: str = option("")


def test_a_plugin_option_declared_unexpanded_is_passed_as_written_nested_groups_included():
    data = {"text": "${WHO}", "inner": {"script": "echo ${WHO} $${X}", "label": "${WHO}"},
            "many": [{"script": "${WHO}"}]}
    expanded = expand(data, {"WHO": "me"}, unexpanded=unexpanded_paths(_PluginOptions))
    options, problems = convert(_PluginOptions, expanded, load_time=False)
    assert not problems
    assert options.text == "me" and options.inner.label == "me"
    assert options.inner.script == "echo ${WHO} ${X}"
    assert options.many[0].script == "${WHO}"


def test_non_ascii_output_does_not_fail_a_step_when_stdout_is_ascii(write_config, base_env):
    # A real process: PYTHONIOENCODING sets the encoding of its stdout.
    config = write_config(r"""
        tasks:
          show:
            command: printf 'caf\303\251 \342\202\254\n'
    """)
    result = run_process("-c", str(config), "run", "show", cwd=config.parent,
                         env={**base_env, "PYTHONIOENCODING": "ascii"})
    assert result.code == 0, result.output
    assert "show | caf\\xe9 \\u20ac" in result.stdout
