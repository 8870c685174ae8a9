"""Argument parsing and dispatch, nothing else: each command lives in
`automations/commands/<name>.py` and is imported only when it runs, so `--help`, `list` and
`validate` stay fast (no boto3, no PyJWT)."""
from __future__ import annotations

import argparse
import importlib
import signal
import sys
from typing import Sequence

from automations import __version__
from automations.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, FatalError
from automations.output import DEBUG, NORMAL, QUIET, VERBOSE, Reporter, use_color


def _global_options(parser: argparse.ArgumentParser, defaults: bool) -> None:
    # Accepted before or after the command; defaults are set only once (on the top parser).
    default = (lambda v: v) if defaults else (lambda v: argparse.SUPPRESS)
    parser.add_argument("-c", "--config", metavar="FILE", default=default(None),
                        help="automations.yaml to use (default: $AUTOMATIONS_CONFIG, else the nearest automations.yaml)")
    parser.add_argument("-v", "--verbose", action="count", default=default(0), help="more output; -vv adds tracebacks")
    parser.add_argument("-q", "--quiet", action="store_true", default=default(False), help="only failures and warnings")
    parser.add_argument("--output", choices=("text", "json"), default=default("text"),
                        help="text for people, json for machines (one event per line)")
    parser.add_argument("--no-color", action="store_true", default=default(False), help="never colour (NO_COLOR works too)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="automations",
        description="Run the tasks of automations.yaml: AWS login with the environment's OIDC token, "
                    "secrets into env files, commands.")
    parser.add_argument("--version", action="store_true", help="print the version and the installed step plugins")
    _global_options(parser, defaults=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, defaults=False)

    run = commands.add_parser("run", parents=[common], help="run tasks and what they depend on")
    run.add_argument("tasks", nargs="*", metavar="TASK", help="task ids to run")
    run.add_argument("--trigger", metavar="EVENT", help="run every task triggered by EVENT (e.g. postEnvironmentStart)")
    run.add_argument("--dry-run", action="store_true", help="print what would run, in order; change nothing")
    run.add_argument("--force", action="store_true", help="redo work that steps would skip as still valid")
    run.add_argument("-j", "--jobs", type=int, default=4, metavar="N", help="tasks run at once (default 4)")

    commands.add_parser("list", parents=[common], help="list tasks, their triggers and dependencies")
    commands.add_parser("validate", parents=[common], help="check automations.yaml and report every problem")
    commands.add_parser("steps", parents=[common], help="list every step type, where it comes from, its options")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    verbosity = QUIET if args.quiet else {0: NORMAL, 1: VERBOSE}.get(args.verbose, DEBUG)
    reporter = Reporter(json_output=args.output == "json", verbosity=verbosity,
                        color=use_color(sys.stdout, args.no_color))
    if args.version:
        from automations.commands import version
        return version.run(args, reporter)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    # SIGTERM (what a stopping container sends) stops the run like Ctrl-C does.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        command = importlib.import_module(f"automations.commands.{args.command}")
        return command.run(args, reporter)
    except FatalError as error:
        reporter.error(str(error))
        return error.exit_code
    except KeyboardInterrupt:
        reporter.error("interrupted")
        return EXIT_INTERRUPTED
    except Exception as error:  # the last resort: one line, the traceback only at -vv
        if verbosity >= DEBUG:
            import traceback
            reporter.error("".join(traceback.format_exception(error)).rstrip())
        reporter.error(f"internal error: {type(error).__name__}: {error} (run with -vv for the traceback)")
        return EXIT_FAILED


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
