"""Argument parsing and dispatch, nothing else: each command lives in
`automations/cli/commands/<name>.py` (`aws/<name>.py` for `aws ...`) and is imported only when it runs, so `--help`, `list` and
`validate` stay fast (no boto3, no PyJWT)."""
from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from collections.abc import Callable, Sequence

from automations.engine.report.base import DEBUG, NORMAL, QUIET, VERBOSE, Reporter
from automations.errors import EXIT_BROKEN_PIPE, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, ConfigError, FatalError


class _Formatter(argparse.HelpFormatter):
    # argparse's own formatter imports shutil just to read the terminal width; os does it too.
    def __init__(self, prog: str) -> None:
        try:
            width = os.get_terminal_size().columns - 2
        except OSError:
            width = 78
        super().__init__(prog, width=max(40, min(width, 100)))


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)


def _completes(kind: str, action: argparse.Action) -> argparse.Action:
    """Shell completion offers a `kind` ("file", "directory", "task" or "trigger") for this
    argument's value. shtab reads `.complete` (shell -> function); the functions are written in
    commands/completion.py, so this module stays free of shtab and of shell code."""
    function = f"_automations_complete_{kind}"
    # setattr: argparse.Action declares no `complete` (shtab's convention), so mypy would refuse it.
    setattr(action, "complete", {"bash": function, "zsh": function})  # noqa: B010
    return action


def _global_options(parser: argparse.ArgumentParser, defaults: bool) -> None:
    # Accepted before or after the command; defaults are set only once (on the top parser).
    default = (lambda v: v) if defaults else (lambda v: argparse.SUPPRESS)
    _completes("file", parser.add_argument(
        "-c", "--config", metavar="FILE", default=default(None),
        help="automations.yaml to use (default: $AUTOMATIONS_CONFIG, else the nearest automations.yaml)"))
    parser.add_argument("-v", "--verbose", action="count", default=default(0), help="more output; -vv adds tracebacks")
    parser.add_argument("-q", "--quiet", action="store_true", default=default(False), help="only failures and warnings")
    parser.add_argument("--output", choices=("text", "json"), default=default("text"),
                        help="text for people, json for machines (one event per line)")
    parser.add_argument("--no-color", action="store_true", default=default(False), help="never colour (NO_COLOR works too)")


def _run(run: argparse.ArgumentParser) -> None:
    _completes("task", run.add_argument("tasks", nargs="*", metavar="TASK", help="task ids to run"))
    _completes("trigger", run.add_argument("--trigger", metavar="EVENT",
                                           help="run every task triggered by EVENT (e.g. postEnvironmentStart)"))
    run.add_argument("--dry-run", action="store_true", help="print what would run, in order; change nothing")
    run.add_argument("--force", action="store_true", help="redo work that steps would skip as still valid")
    run.add_argument("-j", "--jobs", type=int, default=4, metavar="N", help="tasks run at once (default 4)")


def _watch(watch: argparse.ArgumentParser) -> None:
    _completes("task", watch.add_argument("tasks", nargs="*", metavar="TASK",
                                          help="task ids to run and keep fresh (default: --trigger postEnvironmentStart)"))
    _completes("trigger", watch.add_argument("--trigger", metavar="EVENT",
                                             help="run and keep fresh every task triggered by EVENT"))
    watch.add_argument("-j", "--jobs", type=int, default=4, metavar="N", help="tasks run at once (default 4)")


def _exec(exec_: argparse.ArgumentParser) -> None:
    exec_.usage = "automations exec [options] [TASK ...] -- COMMAND [ARGS ...]"
    exec_.description = ("Run the tasks (default: those triggered by manual) as `run` does, then COMMAND with the "
                         "variables their steps produce in its environment instead of in files. Its stdout and "
                         "stderr are masked; its exit status is ours.")
    _completes("task", exec_.add_argument("tasks", nargs="*", metavar="TASK",
                                          help="task ids to run first (default: those triggered by manual)"))
    exec_.add_argument("--no-masking", action="store_true",
                       help="give COMMAND the terminal as it is: its output is not masked")
    exec_.add_argument("--profile-files", action="store_true",
                       help="aws-login writes its profile to the AWS files as `run` does, and COMMAND gets AWS_PROFILE "
                            "instead of the keys")
    exec_.add_argument("--force", action="store_true", help="redo work that steps would skip as still valid")
    exec_.add_argument("-j", "--jobs", type=int, default=4, metavar="N", help="tasks run at once (default 4)")


def _nothing(parser: argparse.ArgumentParser) -> None:
    pass


def _logs(logs: argparse.ArgumentParser) -> None:
    _completes("task", logs.add_argument("task", nargs="?", metavar="TASK",
                                         help="the task (default: every task of the last run)"))


def _init(init: argparse.ArgumentParser) -> None:
    init.add_argument("--aws", action="store_true", help="an aws-login task (implied by --role-arn and --secret)")
    init.add_argument("--role-arn", metavar="ARN", help="the role aws-login assumes (default: $AWS_ROLE_ARN at run time)")
    init.add_argument("--region", metavar="REGION", help="the AWS region to write into the profile")
    init.add_argument("--secret", metavar="ID", action="append", default=[],
                      help="a Secrets Manager secret for the secrets task (repeatable)")
    _completes("file", init.add_argument("--env-file", metavar="FILE", default=".env.secrets",
                                         help="where the secrets go (default .env.secrets)"))
    _completes("file", init.add_argument("--file", metavar="FILE", default="automations.yaml",
                                         help="the file to write (default automations.yaml)"))
    init.add_argument("--force", action="store_true", help="overwrite the file if it exists")


def _schema(schema: argparse.ArgumentParser) -> None:
    schema.add_argument("--indent", type=int, default=2, metavar="N", help="JSON indentation (default 2)")


def _demo(demo: argparse.ArgumentParser) -> None:
    _completes("directory", demo.add_argument("--dir", metavar="DIR", default=".demo",
                                              help="where the demo's token, AWS files and env file go (default .demo)"))


def _completion(completion: argparse.ArgumentParser) -> None:
    completion.add_argument("shell", nargs="?", choices=("bash", "zsh"), help="the shell")
    completion.add_argument("--list-tasks", action="store_true", help=argparse.SUPPRESS)


def _token(token: argparse.ArgumentParser) -> None:
    _completes("task", token.add_argument("--task", metavar="TASK",
                                          help="the task whose aws-login step's token source to use"))
    token.add_argument("--step", metavar="ID", help="the aws-login step's id, when the task has several")
    token.add_argument("--audience", metavar="AUD", help="audience to request (default: the step's)")
    _completes("file", token.add_argument("--token-file", metavar="FILE",
                                          help="read the token from this file instead of a task's source"))
    token.add_argument("--decode", action="store_true", help="print the header and claims, not the token")
    token.add_argument("--verify", action="store_true",
                       help="verify signature, issuer, audience and expiry against the issuer's published keys")


def _trust_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--account", metavar="ID", required=True, help="the AWS account id (12 digits)")
    sub.add_argument("--provider", metavar="HOST",
                     help="OIDC provider host (default app.gitpod.io; with --from-token, the token's issuer)")
    sub.add_argument("--audience", metavar="AUD", default="sts.amazonaws.com", help="audience (default sts.amazonaws.com)")
    who = sub.add_mutually_exclusive_group(required=True)
    who.add_argument("--org", metavar="ORG", help="Gitpod organisation id")
    who.add_argument("--sub", metavar="PATTERN", nargs="+", help="sub claim patterns (* and ? wildcards)")
    who.add_argument("--from-token", action="store_true", help="derive the pattern from the current token's claims")
    sub.add_argument("--project", metavar="PRJ", help="with --org: only this project")
    sub.add_argument("--env", metavar="ENV", help="with --org and --project: only this environment")
    _completes("task", sub.add_argument("--task", metavar="TASK",
                                        help="with --from-token: the task whose token source to use"))
    _completes("file", sub.add_argument("--token-file", metavar="FILE",
                                        help="with --from-token: read the token from this file"))


def _aws(aws: argparse.ArgumentParser) -> None:
    common = _common_options()
    aws_commands = aws.add_subparsers(dest="aws_command", metavar="AWS_COMMAND", required=True, parser_class=_Parser)
    process = aws_commands.add_parser("credential-process", parents=[common],
                                      help="credential_process for AWS SDKs: cached, refreshed before expiry")
    which = process.add_mutually_exclusive_group(required=True)
    _completes("file", which.add_argument("--cache", metavar="FILE",
                                          help="the cache the login wrote (what ~/.aws/config names)"))
    _completes("task", which.add_argument("--task", metavar="TASK",
                                          help="the task holding the aws-login step (of -c's config)"))
    process.add_argument("--step", metavar="ID", help="the aws-login step's id, when the task has several")
    trust_policy = aws_commands.add_parser("trust-policy", parents=[common], help="print a least-privilege trust policy")
    _trust_options(trust_policy)
    check = aws_commands.add_parser("check-trust", parents=[common],
                                    help="evaluate a role's trust policy against the token's claims, locally")
    source = check.add_mutually_exclusive_group(required=True)
    _completes("file", source.add_argument("--policy", metavar="FILE", help="trust policy JSON file"))
    source.add_argument("--role", metavar="NAME", help="read the role's trust policy from IAM")
    token_from = check.add_mutually_exclusive_group()
    _completes("task", token_from.add_argument("--task", metavar="TASK", help="the task whose token source to use"))
    _completes("file", token_from.add_argument("--token-file", metavar="FILE", help="read the token from this file"))
    setup = aws_commands.add_parser("setup", parents=[common], help="create the OIDC provider and the role, idempotently")
    setup.add_argument("--role", metavar="NAME", required=True, help="the role to create or update")
    _trust_options(setup)
    setup.add_argument("--secret", metavar="ARN", action="append", default=[], help="allow reading this secret (repeatable)")
    setup.add_argument("--max-session-duration", metavar="S", type=int, default=3600, help="the role's MaxSessionDuration")
    setup.add_argument("--chain-to", metavar="ARN", nargs="+", action="extend", default=[],
                       help="allow the role to assume these roles (aws-assume-role), and print the trust "
                            "statement each of them needs")
    setup.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")


# name -> (help, what adds its arguments). Each is built only when needed: every argparse
# parser costs gettext lookups (stat calls), and `validate` must start fast (issue 2).
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {
    "run": ("run tasks and what they depend on", _run),
    "watch": ("run tasks, then keep their credentials and secrets fresh until stopped", _watch),
    "exec": ("run tasks, then COMMAND with their secrets in its environment, nothing written", _exec),
    "list": ("list tasks, their triggers and dependencies", _nothing),
    "validate": ("check automations.yaml and report every problem", _nothing),
    "steps": ("list every step type, where it comes from, its options", _nothing),
    "status": ("each task's last run, and when the AWS credentials it wrote expire", _nothing),
    "logs": ("the (redacted) output of a task's last run", _logs),
    "init": ("write a commented automations.yaml to start from", _init),
    "schema": ("print the JSON Schema of automations.yaml, with every installed step type", _schema),
    "demo": ("run the Gitpod example end to end against a local AWS (moto) and a local token", _demo),
    "completion": ("print a bash or zsh completion script", _completion),
    "token": ("print the OIDC token an aws-login step would use", _token),
    "aws": ("AWS helpers: credential process, trust policies, IAM setup", _aws),
}
_GLOBAL_OPTIONS_WITH_VALUES = ("-c", "--config", "--output")


def _common_options() -> _Parser:
    common = _Parser(add_help=False)
    _global_options(common, defaults=False)
    return common


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line, or (with `only`) the top level and that one command."""
    parser = _Parser(
        prog="automations",
        description="Run the tasks of automations.yaml: AWS login with the environment's OIDC token, "
                    "secrets into env files, commands.")
    parser.add_argument("--version", action="store_true", help="print the version and the installed step plugins")
    _global_options(parser, defaults=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    common = _common_options()
    for name, (help_text, configure) in COMMANDS.items():
        if only is None or name == only:
            configure(commands.add_parser(name, parents=[common], help=help_text))
    return parser


def _command_in(argv: Sequence[str]) -> str | None:
    """The command word of `argv`, skipping global options (and their values)."""
    skip_next = False
    for word in argv:
        if skip_next:
            skip_next = False
        elif word == "--":
            return None
        elif word.startswith("-"):
            skip_next = word in _GLOBAL_OPTIONS_WITH_VALUES
        else:
            return word if word in COMMANDS else None
    return None


def _split_at_double_dash(argv: list[str]) -> tuple[list[str], list[str]]:
    """`exec`'s own arguments, and COMMAND after the first `--`: argparse is not given COMMAND,
    whose options it would take for ours (and whose own `--` it would drop)."""
    if "--" not in argv:
        return argv, []
    at = argv.index("--")
    return argv[:at], argv[at + 1:]


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            code = _main(argv)
        finally:
            sys.stdout.flush()  # inside the try (also after argparse's exit): a buffered `print` meets a closed pipe here
    except BrokenPipeError:
        # The reader went away (`automations steps | head -1`): what a tool killed by SIGPIPE
        # reports, 128 + 13, and no message. Point stdout at /dev/null so the interpreter's
        # own flush at exit does not fail again and print "Exception ignored".
        _silence_stdout()
        code = EXIT_BROKEN_PIPE
    if argv is None:  # the program itself, not a caller in the same process (tests)
        _exit_without_abandoned_work(code)
    return code


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # not a real file (captured in tests)
        pass


def _exit_without_abandoned_work(code: int) -> None:
    """A step the runner abandoned (past its timeout, or on Ctrl-C) may still run in a thread,
    and any thread pool it started would be joined at interpreter exit: the process would
    wait for what it gave up on (#11). Nothing else runs by now, so leave at once."""
    threading = sys.modules.get("threading")
    if threading is None:  # no thread was started (`list`, `validate`): importing it would only cost time
        return
    if any(thread.is_alive() for thread in threading.enumerate() if thread is not threading.current_thread()):
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


def _main(argv: Sequence[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command_word = _command_in(argv)
    parser = build_parser(only=command_word)
    command_argv = None
    if command_word == "exec":
        argv, command_argv = _split_at_double_dash(argv)
    args = parser.parse_args(argv)
    args.command_argv = command_argv
    verbosity = QUIET if args.quiet else {0: NORMAL, 1: VERBOSE}.get(args.verbose, DEBUG)
    reporter = _reporter(args.output, verbosity, no_color=args.no_color)
    if args.version:
        from automations.cli.commands import version
        return version.run(args, reporter)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    # SIGTERM (what a stopping container sends) stops the run like Ctrl-C does.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        module = args.command if args.command != "aws" else f"aws.{args.aws_command}"
        command = importlib.import_module(f"automations.cli.commands.{module.replace('-', '_')}")
        exit_code: int = command.run(args, reporter)  # every command module's run() returns its exit code
        return exit_code
    except ConfigError as error:
        for problem in error.problems:  # each on its own (a JSON event each, with its position)
            reporter.problem(problem)
            if problem.cause is not None:
                reporter.traceback(problem.cause)
        return error.exit_code
    except FatalError as error:
        reporter.error(str(error))
        return error.exit_code
    except KeyboardInterrupt:
        reporter.error("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        raise  # main() ends quietly
    except Exception as error:  # the last resort: one line, the traceback only at -vv
        reporter.traceback(error)
        reporter.error(f"internal error: {type(error).__name__}: {error} (run with -vv for the traceback)")
        return EXIT_FAILED


def _reporter(output: str, verbosity: int, *, no_color: bool) -> Reporter:
    """The one place the output format is chosen; the JSON reporter (and the json module) is
    imported only when asked for."""
    if output == "json":
        from automations.engine.report.json import JsonReporter

        return JsonReporter(verbosity=verbosity)
    from automations.engine.report.text import TextReporter, use_color

    return TextReporter(verbosity=verbosity, color=use_color(sys.stdout, no_color))


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
