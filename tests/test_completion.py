"""Shell completion: `automations completion bash|zsh` prints a script that completes
commands, options, option values and the task ids of the nearest automations.yaml.

Every behaviour is checked in both shells, as a user meets it: the bash script is sourced in a
real bash and the function it registers with `complete` is called as bash would call it; the
zsh script is installed in a real zsh's fpath, and a line is typed with TAB into an interactive
zsh in a pseudo-terminal (zsh's own completion system, compinit, runs it)."""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from support.cli import run_cli, run_process

Complete = Callable[[str, Path, dict[str, str]], list[str]]


@pytest.fixture
def project(write_config):
    return write_config("""
        tasks:
          aws-login:
            command: echo login
          secrets:
            command: echo secrets
          setup-db:
            command: echo db
        """)


@pytest.fixture(scope="module")
def scripts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The scripts as the installed command prints them, installed as each shell looks for them
    (printed once: they do not depend on the directory; task ids are read when TAB is pressed)."""
    directory = tmp_path_factory.mktemp("completion")
    (directory / "automations.bash").write_text(run_cli("completion", "bash").stdout)
    (directory / "zsh-functions").mkdir()
    (directory / "zsh-functions" / "_automations").write_text(run_cli("completion", "zsh").stdout)
    return {"bash": directory / "automations.bash", "zsh": directory / "zsh-functions"}


BASH_TAB = r'''source "$1"; shift
COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
function=$(complete -p automations | sed -E 's/.* -F ([^ ]+) .*/\1/')
"$function" automations "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"'''


def bash_complete(script: Path, line: str, cwd: Path, env: dict[str, str]) -> list[str]:
    """What bash offers after typing `line` (a trailing space starts a new word)."""
    # bash's own split: shell words, and "=" a word of its own (it is in COMP_WORDBREAKS).
    words = [part for word in shlex.split(line) for part in re.split("(=)", word) if part]
    words += [""] if line.endswith(" ") else []
    result = subprocess.run(["bash", "--norc", "--noprofile", "-c", BASH_TAB, "tab", str(script), *words],
                            cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return sorted(w for w in result.stdout.splitlines() if w)


# An interactive zsh in a pseudo-terminal (zsh's zpty module): the script's directory ($1) goes
# first in fpath and compinit loads it, or the line $3 loads it after compinit (as in a .zshrc);
# the line $2 is typed with TAB, and a compadd wrapper prints every match zsh adds; the shell
# exits after completing, which ends the output. compinit keeps its dump file ($4), as it does
# by default in ~/.zcompdump: without one it reads every completion function zsh has, each
# time (0.3 s of CPU per TAB); it makes a new one when the functions in fpath change.
ZSH_TAB = r'''zmodload zsh/zpty || exit 3
zpty shell zsh -f -i
zpty -w shell "PROMPT='' RPROMPT=''"
zpty -w shell "fpath=(${(q)1} \$fpath); autoload -U compinit; compinit -u -d ${(q)4}"
[[ -n $3 ]] && zpty -w shell "$3"
zpty -w shell "zstyle ':completion:*' insert-tab false; bindkey '^I' complete-word"
zpty -w shell 'compadd() {
  if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return; fi
  local -a hits; builtin compadd -A hits "$@"
  local hit; for hit in $hits; do print -r -- "MATCH""::$hit"; done
  builtin compadd "$@"
}'
zpty -w shell 'comppostfuncs=(exit)'
zpty -w -n shell "$2"$'\t'
local all="" chunk
while zpty -r shell chunk; do all+=$chunk; done
print -r -- "$all" | tr -d '\r' | grep -ao 'MATCH::.*' | cut -c8- | sort -u'''


def zsh_complete(functions: Path, line: str, cwd: Path, env: dict[str, str], load: str = "") -> list[str]:
    """What zsh's completion system offers after typing `line` and TAB."""
    dump = functions.with_name(f"{functions.name}.zcompdump")  # one per functions directory
    result = subprocess.run(["zsh", "-f", "-c", ZSH_TAB, "tab", str(functions), line, load, str(dump)],
                            cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return sorted(w for w in result.stdout.splitlines() if w)


@pytest.fixture(params=["bash", pytest.param("zsh", marks=pytest.mark.skipif(
    shutil.which("zsh") is None, reason="zsh is not installed (.ci/run installs it)"))])
def complete(request: pytest.FixtureRequest, scripts: dict[str, Path]) -> Complete:
    shell = request.param
    tab = bash_complete if shell == "bash" else zsh_complete
    return lambda line, cwd, env: tab(scripts[shell], line, cwd, env)


def test_the_bash_script_is_valid_bash(scripts: dict[str, Path]) -> None:
    assert subprocess.run(["bash", "-n", str(scripts["bash"])]).returncode == 0


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed (.ci/run installs it)")
def test_the_zsh_script_is_valid_zsh(scripts: dict[str, Path]) -> None:
    assert subprocess.run(["zsh", "-n", str(scripts["zsh"] / "_automations")]).returncode == 0


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed (.ci/run installs it)")
def test_zsh_completes_with_the_script_evaluated_in_zshrc(project: Path, base_env: dict[str, str],
                                                          tmp_path: Path) -> None:
    # The README's other way: `eval "$(automations completion zsh)"` after compinit.
    empty = tmp_path / "no-functions"
    empty.mkdir()
    load = 'eval "$(automations completion zsh)"'

    assert zsh_complete(empty, "automations run ", project.parent, base_env, load) == [
        "aws-login", "secrets", "setup-db"]


def test_commands_complete(complete: Complete, project: Path, base_env: dict[str, str]) -> None:
    assert complete("automations st", project.parent, base_env) == ["status", "steps"]
    assert "demo" in complete("automations ", project.parent, base_env)


def test_a_commands_options_complete(complete: Complete, project: Path, base_env: dict[str, str]) -> None:
    assert complete("automations run --dr", project.parent, base_env) == ["--dry-run"]
    assert complete("automations init --r", project.parent, base_env) == ["--region", "--role-arn"]


def test_global_options_complete_before_a_command(complete: Complete, project: Path, base_env: dict[str, str]) -> None:
    assert complete("automations --ver", project.parent, base_env) == ["--verbose", "--version"]


def test_hidden_options_do_not_complete(complete: Complete, project: Path, base_env: dict[str, str]) -> None:
    assert complete("automations completion --l", project.parent, base_env) == []


def test_task_ids_complete_after_run_and_logs(complete: Complete, project: Path, base_env: dict[str, str]) -> None:
    assert complete("automations run ", project.parent, base_env) == ["aws-login", "secrets", "setup-db"]
    assert complete("automations run aws-login s", project.parent, base_env) == ["secrets", "setup-db"]
    assert complete("automations -v logs se", project.parent, base_env) == ["secrets", "setup-db"]


def test_options_complete_after_task_ids(complete: Complete, project: Path, base_env: dict[str, str]) -> None:
    assert complete("automations run aws-login --dr", project.parent, base_env) == ["--dry-run"]


def test_task_ids_come_from_the_config_given_with_c(complete: Complete, project: Path, write_config,
                                                    base_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    write_config("tasks:\n  deploy:\n    command: echo\n", name="other/automations.yaml")

    assert complete("automations -c other/automations.yaml run ", project.parent, base_env) == ["deploy"]
    assert complete("automations token --task a", project.parent, base_env) == ["aws-login"]


def test_bash_reads_the_config_given_as_config_equals(scripts: dict[str, Path], project: Path, write_config,
                                                      base_env: dict[str, str], tmp_path: Path) -> None:
    # shtab's zsh script does not parse --option=value at all (zsh's _arguments needs such options
    # declared with "="); bash's does.
    (tmp_path / "other").mkdir()
    write_config("tasks:\n  deploy:\n    command: echo\n", name="other/automations.yaml")

    assert bash_complete(scripts["bash"], "automations --config=other/automations.yaml run ", project.parent,
                         base_env) == ["deploy"]


def test_option_values_complete(complete: Complete, project: Path, base_env: dict[str, str]) -> None:
    assert complete("automations run --trigger post", project.parent, base_env) == [
        "postDevcontainerStart", "postEnvironmentStart"]
    assert complete("automations status --output j", project.parent, base_env) == ["json"]
    assert complete("automations completion ", project.parent, base_env) == ["bash", "zsh"]


def test_file_and_directory_values_complete_from_the_disk(complete: Complete, project: Path,
                                                          base_env: dict[str, str]) -> None:
    (project.parent / "automations.d").mkdir()

    assert complete("automations -c automations.y", project.parent, base_env) == ["automations.yaml"]
    assert complete("automations demo --dir automations", project.parent, base_env) == ["automations.d"]
    assert complete("automations aws credential-process --cache automations.y", project.parent, base_env) == [
        "automations.yaml"]


def test_aws_subcommands_and_their_options_complete(complete: Complete, project: Path,
                                                    base_env: dict[str, str]) -> None:
    assert complete("automations aws ", project.parent, base_env) == [
        "check-trust", "credential-process", "setup", "trust-policy"]
    assert complete("automations aws setup --acc", project.parent, base_env) == ["--account"]
    assert complete("automations aws credential-process --task aws", project.parent, base_env) == ["aws-login"]


def test_no_config_completes_no_tasks_and_prints_no_error(complete: Complete, base_env: dict[str, str],
                                                          tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()

    assert complete("automations run ", empty, base_env) == []
    assert run_cli("completion", "--list-tasks", cwd=empty, env=base_env).output == ""


def test_a_half_written_config_still_completes_its_task_ids(complete: Complete, write_config,
                                                            base_env: dict[str, str]) -> None:
    config = write_config("tasks:\n  half:\n    steps: not a list\n")

    assert complete("automations run ", config.parent, base_env) == ["half"]


def test_completion_needs_a_shell(base_env: dict[str, str]) -> None:
    result = run_cli("completion", env=base_env)
    assert result.code == 2
    assert "bash|zsh" in result.stderr


@pytest.mark.parametrize("args", [["list"], ["--help"], ["completion", "--list-tasks"]])
def test_shtab_is_imported_only_to_print_the_script(project: Path, base_env: dict[str, str], args: list[str]) -> None:
    # Other commands, and the task ids a TAB asks for, start as fast as without shtab.
    result = run_process(*args, cwd=project.parent, env={**base_env, "PYTHONPROFILEIMPORTTIME": "1"})
    assert result.code == 0, result.output
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert "argparse" in imported  # the import log is really there
    assert "shtab" not in imported


def test_printing_the_script_imports_shtab(base_env: dict[str, str]) -> None:
    result = run_process("completion", "bash", env={**base_env, "PYTHONPROFILEIMPORTTIME": "1"})
    assert "shtab" in {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line}


def test_exec_completes_task_ids_then_the_command_after_the_double_dash(complete: Complete, project: Path,
                                                                        base_env: dict[str, str]) -> None:
    assert complete("automations exec ", project.parent, base_env) == ["aws-login", "secrets", "setup-db"]
    assert complete("automations exec --no-m", project.parent, base_env) == ["--no-masking"]
    assert "python3" in complete("automations exec secrets -- pytho", project.parent, base_env)
