"""Shell completion: what a TAB costs with our script (written by shtab) and what it would cost
with argcomplete, the other library issue 13 names; and what each costs the start of every
other command. Why shtab: BENCHMARKS.md, "Shell completion".

- TAB: the time of the completion function alone, inside a bash that has sourced the script (as
  a user's shell has), for a command, an option and a task id. Interleaved, medians.
- Start-up: `automations list` as installed, against the same with an argcomplete hook at the
  top of the program (guarded by its environment variable, and unguarded); and the printing of
  the script (`eval "$(automations completion bash)"` runs it at every shell start).

argcomplete is a contender, not a dependency: `pip install argcomplete` (the bench extra does).
Its hook is written here as argcomplete's documentation has it, with the same completions.

    .venv/bin/python bench/completion.py [--runs 30]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

from common import BIN, compare, report, run_quiet, tool, workdir

CONFIG = """\
tasks:
  aws-login: {command: echo login}
  secrets: {command: echo secrets}
  setup-db: {command: echo db}
"""

# The argcomplete contender: a program named automations that hands the TAB to argcomplete when
# the shell asks (argcomplete's protocol: _ARGCOMPLETE in the environment), else runs ours.
ARGCOMPLETE_PROGRAM = '''#!{python}
# PYTHON_ARGCOMPLETE_OK
import os
import sys
{eager}
if "_ARGCOMPLETE" in os.environ:
    import argcomplete
    from automations.cli.commands.completion import task_ids
    from automations.engine.config import TRIGGERS
    from automations.cli.main import build_parser

    def complete_values(parser):
        for action in parser._actions:  # (only a contender: we do not walk _actions)
            if action.choices and not isinstance(action.choices, (list, tuple)):
                for sub in action.choices.values():
                    complete_values(sub)
            elif action.metavar == "TASK":
                action.completer = lambda parsed_args, **_: task_ids(getattr(parsed_args, "config", None))
            elif action.metavar == "EVENT":
                action.completer = argcomplete.completers.ChoicesCompleter(TRIGGERS)

    parser = build_parser()
    complete_values(parser)
    argcomplete.autocomplete(parser)
from automations.cli.main import main
sys.exit(main())
'''

# Source the script once, then time one call of the function `complete` registered.
TAB = r'''source "$1"; shift
COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; COMP_TYPE=9
function=$(complete -p automations | sed -E 's/.* -F ([^ ]+) .*/\1/')
start=$EPOCHREALTIME
"$function" automations "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
end=$EPOCHREALTIME
echo "$start $end ${#COMPREPLY[@]}"'''

LINES = {"command": ["automations", "st"], "option": ["automations", "run", "--dr"],
         "task id": ["automations", "run", ""]}


def tab_seconds(script: Path, words: list[str], env: dict[str, str], cwd: Path) -> float:
    out = subprocess.run(["bash", "--norc", "--noprofile", "-c", TAB, "tab", str(script), *words], env=env, cwd=cwd,
                         capture_output=True, text=True, check=True).stdout.split()
    if int(out[2]) == 0:
        raise SystemExit(f"{script.name}: nothing completed for {words}")
    return float(out[1]) - float(out[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    try:
        import argcomplete
    except ImportError:
        raise SystemExit("argcomplete is not installed: .venv/bin/pip install -e '.[bench]'") from None

    work = workdir()
    (work / "automations.yaml").write_text(CONFIG)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(NO_COLOR="1", HOME=str(work), XDG_CACHE_HOME=str(work / ".cache"), XDG_STATE_HOME=str(work / ".state"))
    ours_env = {**env, "PATH": f"{BIN}{os.pathsep}{env['PATH']}"}
    contender_bin = {}
    for name, eager in (("guarded", ""), ("eager", "import argcomplete")):
        directory = work / f"argcomplete-{name}"
        directory.mkdir()
        program = directory / "automations"
        program.write_text(ARGCOMPLETE_PROGRAM.format(python=sys.executable, eager=eager))
        program.chmod(0o755)
        contender_bin[name] = program
    argcomplete_env = {**env, "PATH": f"{contender_bin['guarded'].parent}{os.pathsep}{ours_env['PATH']}"}
    scripts = {"ours (shtab)": work / "shtab.bash", "argcomplete": work / "argcomplete.bash"}
    scripts["ours (shtab)"].write_text(subprocess.run([tool("automations"), "completion", "bash"], env=ours_env,
                                                      capture_output=True, text=True, check=True).stdout)
    scripts["argcomplete"].write_text(argcomplete.shellcode(["automations"], shell="bash"))
    tab_env = {"ours (shtab)": ours_env, "argcomplete": argcomplete_env}

    samples: dict[str, list[float]] = {}
    for round_ in range(args.runs + 1):  # round 0 warms the page cache and the .pyc files
        for line, words in LINES.items():
            for name, script in scripts.items():
                seconds = tab_seconds(script, words, tab_env[name], work)
                if round_:
                    samples.setdefault(f"TAB {line}: {name}", []).append(seconds)
    print(f"{'TAB (in the shell)':<32} {'median ms':>10} {'min ms':>8}")
    for name, values in samples.items():
        print(f"{name:<32} {statistics.median(values) * 1000:>10.1f} {min(values) * 1000:>8.1f}")
    print()

    automations = tool("automations")
    starts = {
        "list": lambda: run_quiet([automations, "list"], ours_env, work),
        "list, argcomplete guarded": lambda: run_quiet([str(contender_bin["guarded"]), "list"], ours_env, work),
        "list, argcomplete imported": lambda: run_quiet([str(contender_bin["eager"]), "list"], ours_env, work),
        "completion bash (shtab)": lambda: run_quiet([automations, "completion", "bash"], ours_env, work),
    }
    report(compare(starts, args.runs), reference="list")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
