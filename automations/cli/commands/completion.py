"""`automations completion bash|zsh`: a completion script for commands, options, option values
and task ids.

shtab writes the script from the real argument parser when it is printed, so commands and
options cannot drift. Argument values complete by kind, set where the argument is defined
(`main._completes`): a file, a directory, a trigger, or a task id. Task ids come from
`automations completion --list-tasks` when the user presses TAB: the nearest automations.yaml's
task ids (or the one -c names), read without validating, so a half-written file still completes.

Why shtab and not argcomplete (measured, BENCHMARKS.md "Shell completion"): shtab's script is
plain shell, so completing a command or an option starts no process (about 1 ms, as our former
hand-written script), and shtab is imported only by this command, so every other command starts
as fast as before. argcomplete runs the program at every TAB (50-90 ms each).

    echo 'eval "$(automations completion bash)"' >> ~/.bashrc
    automations completion zsh > "${fpath[1]}/_automations"
"""
from __future__ import annotations

import argparse

from automations.engine.graph import TRIGGERS
from automations.engine.report.base import Reporter
from automations.errors import EXIT_OK, EXIT_USAGE

# The shell functions `main._completes` names: "_automations_complete_<kind>", called with the
# word being completed. shtab turns on bash's filename handling (a / after a directory, quoting)
# for functions whose name contains "_file" or "_dir".
BASH_FUNCTIONS = r'''
_automations_complete_file() { compgen -f -- "$1"; }
_automations_complete_directory() { compgen -d -- "$1"; }
_automations_complete_trigger() { compgen -W "@TRIGGERS@" -- "$1"; }
_automations_complete_task() {
    local i config=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${COMP_WORDS[i]}" in
            # bash splits --config=FILE into "--config" "=" "FILE" (= is in COMP_WORDBREAKS)
            -c|--config) config="${COMP_WORDS[i+1]}"; [[ "$config" == "=" ]] && config="${COMP_WORDS[i+2]}";;
            # exec: after `--` comes COMMAND, then its own arguments
            --) if ((i + 1 == COMP_CWORD)); then compgen -c -- "$1"; else compgen -f -- "$1"; fi; return;;
        esac
    done
    compgen -W "$(command automations ${config:+-c "$config"} completion --list-tasks 2>/dev/null)" -- "$1"
}
'''

# zsh narrows `words` to the current subcommand's, so the task function reads -c from the line
# itself. (zsh does not split "${config:+-c "$config"}" into two words; the array does.)
ZSH_FUNCTIONS = r'''
_automations_complete_file() { _files "$@"; }
_automations_complete_directory() { _files -/ "$@"; }
_automations_complete_trigger() { compadd -- @TRIGGERS@; }
_automations_complete_task() {
    local -a line config tasks
    local i
    line=(${(Q)${(z)LBUFFER}})
    # exec: after `--` comes COMMAND, then its own arguments
    i=${line[(i)--]}
    if ((i <= ${#line})); then
        if (( ${#line} - i == 0 || (${#line} - i == 1) && ${#LBUFFER[-1]//[[:space:]]/} )); then
            _command_names -e
        else
            _files
        fi
        return
    fi
    for ((i = 1; i < ${#line}; i++)); do
        case "${line[i]}" in
            -c|--config) config=(-c "${line[i+1]}");;
        esac
    done
    tasks=(${(f)"$(command automations $config completion --list-tasks 2>/dev/null)"})
    compadd -a tasks
}
'''


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    if args.list_tasks:
        for task in task_ids(args.config):
            print(task, file=reporter.out)
        return EXIT_OK
    if args.shell is None:
        reporter.error("name the shell: automations completion bash|zsh")
        return EXIT_USAGE
    print(script(args.shell), file=reporter.out)
    return EXIT_OK


def script(shell: str) -> str:
    import shtab

    from automations.cli.main import build_parser

    functions = {"bash": BASH_FUNCTIONS, "zsh": ZSH_FUNCTIONS}[shell].replace("@TRIGGERS@", " ".join(TRIGGERS))
    text: str = shtab.complete(build_parser(), shell=shell, preamble=functions)
    if shell == "zsh":
        # shtab 1.13 writes a nargs="*" positional (run's TASK...) as "(*)::", which zsh reads as
        # one optional word: only the first task id would complete. "*:" is "any number of them".
        text = text.replace('\n  "(*)::', '\n  "*:')
    return text


def task_ids(explicit_config: str | None) -> list[str]:
    import yaml

    from automations.engine.config import Loader, find_config
    from automations.errors import FatalError

    try:
        data = yaml.load(find_config(explicit_config).read_text(encoding="utf-8"), Loader=Loader)
    except (FatalError, OSError, UnicodeDecodeError, yaml.YAMLError):
        return []
    tasks = data.get("tasks") if isinstance(data, dict) else None
    return [str(t) for t in tasks] if isinstance(tasks, dict) else []
