"""`automations exec [TASK...] -- COMMAND [ARGS...]`: run the tasks as `run` does, but hand
the variables their steps produce to COMMAND's environment instead of writing them (issue 14).

The story: the tasks run with a `CommandEnvironment` as the steps' destination
(automations.engine.variables), so nothing is written under the project or ~/.aws (but the
kinds of file `--profile-files` keeps). If a task fails, COMMAND is not started. Otherwise
COMMAND starts without a shell, with its arguments as given, stdin inherited, in our process
group (the terminal's Ctrl-C reaches it directly); SIGINT, SIGTERM and SIGHUP sent to us are
forwarded; its exit status becomes ours (128+N when a signal N ended it, as shells report).
Its stdout and stderr pass through the redactor (automations.redaction.MaskedStream) unless
`--no-masking` hands it our terminal. Everything automations itself says goes to stderr:
stdout is COMMAND's.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import IO, Any

from automations.engine.config import find_config, load_config
from automations.engine.graph import select_tasks
from automations.engine.report.base import VERBOSE, Reporter
from automations.engine.variables import CommandEnvironment
from automations.errors import EXIT_FAILED, EXIT_INTERRUPTED, FatalError
from automations.wording import plural

DEFAULT_TRIGGER = "manual"
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
PROMPT_WAIT_SECONDS = 0.05   # a line without its end yet is shown after this pause (a prompt)
DRAIN_SECONDS = 0.5          # output still read after COMMAND exited (a background child may hold the pipes)
EXIT_CANNOT_EXECUTE = 126    # what shells answer for a command found but not executable
EXIT_NOT_FOUND = 127         # and for one not found


class CommandNotStarted(FatalError):
    """COMMAND could not be started: the exit status a shell gives for it."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    command: list[str] = args.command_argv
    if not command:
        raise FatalError("give the command after --: automations exec [TASK...] -- COMMAND [ARGS...]")
    reporter.out = reporter.err  # stdout is COMMAND's
    config = load_config(find_config(args.config))
    order = select_tasks(config, args.tasks, None if args.tasks else DEFAULT_TRIGGER)
    environment = CommandEnvironment(keep=frozenset({"aws-profile"}) if args.profile_files else frozenset())
    if not order:
        reporter.warning(f"no task in {config.path.name} is triggered by {DEFAULT_TRIGGER}; "
                         "COMMAND gets this environment as it is (name the tasks: automations exec TASK... -- ...)")
    else:
        from automations.engine.report.history import record_runs
        from automations.engine.runner import Runner

        record_runs(reporter, config.path, trigger=None if args.tasks else DEFAULT_TRIGGER)
        outcome = Runner(config, reporter, force=args.force, jobs=args.jobs, variables=environment).run(order)
        if outcome.interrupted:
            return EXIT_INTERRUPTED
        if outcome.failed:
            reporter.error("a task failed: COMMAND was not started")
            return EXIT_FAILED
    given = environment.variables()
    _warn_about_overridden(reporter, environment, given)
    reporter.log(None, "info", f"COMMAND gets {plural(len(given), 'variable')}" + (f": {', '.join(sorted(given))}"
                                                                                   if given else ""))
    return run_command(command, {**os.environ, **given}, masking=not args.no_masking)


def _warn_about_overridden(reporter: Reporter, environment: CommandEnvironment, given: Mapping[str, str]) -> None:
    """At -v, each variable of ours that COMMAND gets another value for: by name, never by value."""
    if reporter.verbosity < VERBOSE:
        return
    for name in sorted(given):
        if name in os.environ and os.environ[name] != given[name]:
            reporter.warning(f"${name} is set in this environment; COMMAND gets the value from "
                             f"{environment.source(name)} instead")


def run_command(argv: Sequence[str], env: Mapping[str, str], *, masking: bool) -> int:
    """Start COMMAND, wait for it, return its exit status as a shell would report it."""
    import subprocess

    out, err = _binary(sys.stdout), _binary(sys.stderr)
    pipe = subprocess.PIPE if masking else None
    # The handlers come first: a signal arriving while COMMAND starts is forwarded once it has.
    with _forwarding_signals() as forward_to:
        try:
            # No shell: the arguments reach COMMAND as given. Not a session of its own: it stays
            # in our process group, the terminal's foreground, so it may read the terminal.
            process = subprocess.Popen(list(argv), env=dict(env), stdout=pipe, stderr=pipe)
        except FileNotFoundError:
            raise CommandNotStarted(f"{argv[0]}: command not found", EXIT_NOT_FOUND) from None
        except PermissionError:
            raise CommandNotStarted(f"{argv[0]}: permission denied", EXIT_CANNOT_EXECUTE) from None
        except OSError as error:
            raise CommandNotStarted(f"{argv[0]}: cannot execute: {error.strerror}", EXIT_CANNOT_EXECUTE) from None
        forward_to(process)
        if masking:
            _pump(process, {process.stdout: out, process.stderr: err})
        code = process.wait()
    return 128 - code if code < 0 else code


def _binary(stream: IO[str]) -> IO[bytes]:
    stream.flush()  # what the reporter said comes first
    return stream.buffer  # type: ignore[attr-defined,no-any-return]


def _pump(process: Any, targets: dict[Any, IO[bytes]]) -> None:
    """COMMAND's output, masked, to our streams until it exits (and its pipes are drained)."""
    import selectors
    import time

    from automations.redaction import MaskedStream

    selector = selectors.DefaultSelector()
    streams = {}
    for pipe, target in targets.items():
        os.set_blocking(pipe.fileno(), False)
        streams[pipe.fileno()] = (pipe, MaskedStream(_writer(target)))
        selector.register(pipe.fileno(), selectors.EVENT_READ)
    deadline = None
    try:
        while streams:
            if deadline is None and process.poll() is not None:
                deadline = time.monotonic() + DRAIN_SECONDS
            if deadline is not None and time.monotonic() >= deadline:
                break
            events = selector.select(PROMPT_WAIT_SECONDS)
            if not events:
                for _, stream in streams.values():
                    stream.flush_partial()
                continue
            for key, _ in events:
                pipe, stream = streams[key.fd]
                try:
                    data = os.read(key.fd, 65536)
                except BlockingIOError:
                    continue
                try:
                    if data:
                        stream.feed(data)
                        continue
                    stream.close()
                except BrokenPipeError:
                    pass  # our reader went away: closing the pipe tells COMMAND (SIGPIPE), as a pipe would
                selector.unregister(key.fd)
                pipe.close()
                del streams[key.fd]
    finally:
        for pipe, stream in streams.values():
            try:
                stream.close()
            except BrokenPipeError:
                pass
            pipe.close()
        selector.close()


def _writer(target: IO[bytes]) -> Any:
    def write(data: bytes) -> None:
        if data:
            target.write(data)
            target.flush()
    return write


@contextmanager
def _forwarding_signals() -> Iterator[Callable[[Any], None]]:
    """SIGINT, SIGTERM and SIGHUP sent to us reach COMMAND (given to the function this yields,
    once started; what came before is forwarded then); we wait for it to end. Ctrl-C at the
    terminal already reached COMMAND (our process group): it is not sent twice."""
    target: list[Any] = []
    early: list[int] = []

    def send(process: Any, signum: int) -> None:
        try:
            process.send_signal(signum)
        except ProcessLookupError:
            pass

    def forward(signum: int, frame: object) -> None:
        if signum == signal.SIGINT and _terminal_foreground():
            return
        if target:
            send(target[0], signum)
        else:
            early.append(signum)

    def started(process: Any) -> None:
        target.append(process)
        for signum in early:
            send(process, signum)

    previous = {signum: signal.signal(signum, forward) for signum in FORWARDED_SIGNALS}
    try:
        yield started
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _terminal_foreground() -> bool:
    """Whether our process group is the foreground of a terminal we hold (so the terminal's
    signals reach COMMAND too)."""
    for fd in (0, 1, 2):
        try:
            if os.isatty(fd):
                return os.tcgetpgrp(fd) == os.getpgrp()
        except OSError:
            continue
    return False
