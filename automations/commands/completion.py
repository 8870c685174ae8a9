"""`automations completion bash|zsh`: a completion script for commands, options, option values
and task ids.

The commands and options come from the real argument parser when the script is printed, so
they cannot drift; task ids come from `automations completion --list-tasks` when the user
presses TAB: the nearest automations.yaml's task ids (or the one -c names), read without
validating, so a half-written file still completes.

    echo 'eval "$(automations completion bash)"' >> ~/.bashrc
    automations completion zsh > "${fpath[1]}/_automations"
"""
from __future__ import annotations

import argparse
import shlex

from automations.config import TRIGGERS
from automations.errors import EXIT_OK, EXIT_USAGE
from automations.output import Reporter

FILE_OPTIONS = ("-c", "--config", "--token-file", "--policy", "--file")
DIRECTORY_OPTIONS = ("--dir",)
TASK_OPTIONS = ("--task",)


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    if args.list_tasks:
        for task in task_ids(args.config):
            print(task, file=reporter.out)
        return EXIT_OK
    if args.shell is None:
        reporter.error("name the shell: automations completion bash|zsh")
        return EXIT_USAGE
    from automations.main import build_parser

    model = CommandLine.of(build_parser())
    print(bash_script(model) if args.shell == "bash" else zsh_script(model), file=reporter.out)
    return EXIT_OK


def task_ids(explicit_config: str | None) -> list[str]:
    import yaml

    from automations.config import Loader, find_config
    from automations.errors import FatalError

    try:
        data = yaml.load(find_config(explicit_config).read_text(encoding="utf-8"), Loader=Loader)
    except (FatalError, OSError, UnicodeDecodeError, yaml.YAMLError):
        return []
    tasks = data.get("tasks") if isinstance(data, dict) else None
    return [str(t) for t in tasks] if isinstance(tasks, dict) else []


class CommandLine:
    """What completion needs to know of the parser: per command path ("" for the top level,
    "run", "aws setup", ...) its options and what its positionals take."""

    def __init__(self) -> None:
        self.options: dict[str, list[str]] = {}
        self.subcommands: dict[str, list[str]] = {}
        self.positionals: dict[str, str] = {}   # command path -> "tasks" or a list of words
        self.value_options: set[str] = set()    # options followed by a value
        self.choices: dict[str, list[str]] = {}  # option -> its choices

    @classmethod
    def of(cls, parser: argparse.ArgumentParser) -> CommandLine:
        model = cls()
        model._walk(parser, "")
        return model

    def _walk(self, parser: argparse.ArgumentParser, path: str) -> None:
        options: list[str] = []
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                names = [n for n in action.choices if action.choices[n] is not None]
                self.subcommands[path] = names
                for name, sub in action.choices.items():
                    self._walk(sub, f"{path} {name}".strip())
                continue
            if action.help == argparse.SUPPRESS:
                continue
            if action.option_strings:
                options.extend(action.option_strings)
                if action.nargs != 0:
                    self.value_options.update(action.option_strings)
                    if action.choices:
                        for option in action.option_strings:
                            self.choices[option] = [str(c) for c in action.choices]
            elif action.metavar == "TASK":
                self.positionals[path] = "tasks"
            elif action.choices:
                self.positionals[path] = " ".join(str(c) for c in action.choices)
        self.options[path] = sorted(set(options))


def _case_lines(mapping: dict[str, str], indent: str) -> str:
    return "\n".join(f"{indent}{shlex.quote(key)}) {value};;" for key, value in mapping.items())


def _shared(model: CommandLine) -> dict[str, str]:
    value_options = sorted(model.value_options - {"-c", "--config"})
    return {
        "value_options": "|".join(value_options) or "--",
        "files": "|".join(FILE_OPTIONS),
        "directories": "|".join(DIRECTORY_OPTIONS),
        "tasks": "|".join(TASK_OPTIONS),
        "triggers": " ".join(TRIGGERS),
        "no_value": "|".join(o for o in value_options if o not in (*FILE_OPTIONS, *DIRECTORY_OPTIONS, *TASK_OPTIONS,
                                                                    "--trigger") and o not in model.choices) or "--",
    }


BASH = r'''# bash completion for automations: eval "$(automations completion bash)"
_automations_tasks() {
    command automations ${1:+-c "$1"} completion --list-tasks 2>/dev/null
}

_automations() {
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"
    local i word command="" config="" words=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        word="${COMP_WORDS[i]}"
        case "$word" in
            -c|--config) config="${COMP_WORDS[i+1]}"; ((i++)); continue;;
            %(value_options)s) ((i++)); continue;;
            -*) continue;;
        esac
        if [[ -z "$command" ]]; then
            command="$word"
        elif [[ -n "$(_automations_subcommands "$command")" ]]; then
            command="$command $word"
        fi
    done
    case "$prev" in
        %(files)s) COMPREPLY=($(compgen -f -- "$cur")); return;;
        %(directories)s) COMPREPLY=($(compgen -d -- "$cur")); return;;
        %(tasks)s) COMPREPLY=($(compgen -W "$(_automations_tasks "$config")" -- "$cur")); return;;
        --trigger) COMPREPLY=($(compgen -W "%(triggers)s" -- "$cur")); return;;
%(choice_cases)s
        %(no_value)s) COMPREPLY=(); return;;
    esac
    if [[ "$cur" == -* ]]; then
        case "$command" in
%(option_cases)s
        esac
    else
        words="$(_automations_subcommands "$command")"
        if [[ -z "$words" ]]; then
            case "$command" in
%(positional_cases)s
            esac
        fi
    fi
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
}

_automations_subcommands() {
    case "$1" in
%(subcommand_cases)s
    esac
}

complete -F _automations automations
'''


def bash_script(model: CommandLine) -> str:
    shared = _shared(model)
    positional = {path: ('words="$(_automations_tasks "$config")"' if kind == "tasks" else f'words="{kind}"')
                  for path, kind in model.positionals.items()}
    return BASH % {
        **shared,
        "choice_cases": _case_lines({o: f'COMPREPLY=($(compgen -W "{" ".join(c)}" -- "$cur")); return'
                                     for o, c in sorted(model.choices.items())}, " " * 8),
        "option_cases": _case_lines({path: f'words="{" ".join(opts)}"' for path, opts in model.options.items()},
                                    " " * 12),
        "positional_cases": _case_lines(positional, " " * 16) or "                *) ;;",
        "subcommand_cases": _case_lines({path: f'echo "{" ".join(names)}"' for path, names in model.subcommands.items()},
                                        " " * 8),
    }


ZSH = r'''#compdef automations
# zsh completion for automations: automations completion zsh > "${fpath[1]}/_automations"
# (or, in ~/.zshrc after compinit: source <(automations completion zsh))
_automations_subcommands() {
    case "$1" in
%(subcommand_cases)s
    esac
}

_automations() {
    local cur="${words[CURRENT]}" prev="${words[CURRENT-1]}"
    local i word command="" config="" candidates=""
    for ((i = 2; i < CURRENT; i++)); do
        word="${words[i]}"
        case "$word" in
            -c|--config) config="${words[i+1]}"; ((i++)); continue;;
            %(value_options)s) ((i++)); continue;;
            -*) continue;;
        esac
        if [[ -z "$command" ]]; then
            command="$word"
        elif [[ -n "$(_automations_subcommands "$command")" ]]; then
            command="$command $word"
        fi
    done
    case "$prev" in
        %(files)s) _files; return;;
        %(directories)s) _files -/; return;;
        %(tasks)s) candidates="$(command automations ${config:+-c "$config"} completion --list-tasks 2>/dev/null)";;
        --trigger) candidates="%(triggers)s";;
%(choice_cases)s
        %(no_value)s) return 1;;
        *)
            if [[ "$cur" == -* ]]; then
                case "$command" in
%(option_cases)s
                esac
            else
                candidates="$(_automations_subcommands "$command")"
                if [[ -z "$candidates" ]]; then
                    case "$command" in
%(positional_cases)s
                    esac
                fi
            fi;;
    esac
    local -a matches
    matches=(${=candidates})
    compadd -- $matches
}

if [[ "$funcstack[1]" == _automations ]]; then
    _automations "$@"
else
    compdef _automations automations
fi
'''


def zsh_script(model: CommandLine) -> str:
    shared = _shared(model)
    tasks = 'candidates="$(command automations ${config:+-c "$config"} completion --list-tasks 2>/dev/null)"'
    positional = {path: (tasks if kind == "tasks" else f'candidates="{kind}"')
                  for path, kind in model.positionals.items()}
    return ZSH % {
        **shared,
        "choice_cases": _case_lines({o: f'candidates="{" ".join(c)}"' for o, c in sorted(model.choices.items())},
                                    " " * 8),
        "option_cases": _case_lines({path: f'candidates="{" ".join(opts)}"' for path, opts in model.options.items()},
                                    " " * 20),
        "positional_cases": _case_lines(positional, " " * 24) or "                        *) ;;",
        "subcommand_cases": _case_lines({path: f'echo "{" ".join(names)}"' for path, names in model.subcommands.items()},
                                        " " * 8),
    }

