"""Running the `automations` command in tests: in process (`run_cli`, fast: `main(argv)` with
captured streams) or as a real process (`run_process`, where the process itself is the point:
signals, argv, start-up imports, crashes, concurrency).

An in-process run starts as a fresh process would: the environment and working directory it
is given, an empty redactor, the default signal handlers, no AWS session of an earlier run.
Afterwards everything it may have changed in this process is put back (`process_state`),
so one run cannot leak into the next test.
"""
from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

BIN_DIR = Path(sys.executable).parent
AUTOMATIONS = shutil.which("automations", path=str(BIN_DIR)) or shutil.which("automations")
_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE, signal.SIGALRM)


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_process(*args: str, cwd: Path | str | None = None, env: dict[str, str] | None = None,
                timeout: float = 120) -> Result:
    """Run the installed `automations` command as a process and capture what it printed."""
    assert AUTOMATIONS, "the automations command is not installed (pip install -e '.[test]')"
    proc = subprocess.run([AUTOMATIONS, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    return Result(proc.returncode, proc.stdout, proc.stderr)


class CliTimedOut(BaseException):
    """An in-process run went past its timeout (a BaseException: the CLI's last-resort
    `except Exception` must not turn it into an exit code)."""


def run_cli(*args: str, cwd: Path | str | None = None, env: dict[str, str] | None = None,
            timeout: float = 120, capture: tuple[TextCapture, TextCapture] | None = None) -> Result:
    """`main(argv)` in this process, as `run_process` would run it: in `cwd`, with `env` as the
    whole environment (None: this process's, as a child would inherit it); past `timeout`
    seconds the test fails (a hang must not stop the suite). `capture`: the stdout and stderr
    streams to print into, for a test that reads them while the command runs."""
    from automations.cli.main import main

    out, err = capture or (TextCapture(), TextCapture())
    with process_state():
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
        if cwd is not None:
            os.chdir(cwd)
        signal.signal(signal.SIGALRM, _time_out)
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            with redirect_stdout(out), redirect_stderr(err):
                try:
                    code = main(list(args))
                except SystemExit as exit:  # argparse: usage errors and --help
                    code = _exit_code(exit)
        except CliTimedOut:
            raise AssertionError(f"automations {' '.join(args)} still running after {timeout} s;\n"
                                 f"stdout: {out.text()}\nstderr: {err.text()}") from None
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    return Result(code, out.text(), err.text())


def _time_out(signum: int, frame: object) -> None:
    raise CliTimedOut


@contextmanager
def process_state() -> Iterator[None]:
    """Whatever a CLI run changes in its process, put back afterwards: the environment, the
    working directory, umask, signal handlers, sys.path and the modules a config's `plugins:`
    imported; and what the CLI keeps per process (the redactor's secrets, AWS sessions),
    emptied before and after, as a fresh process would have them."""
    environ = dict(os.environ)
    cwd = os.getcwd()
    umask = os.umask(0o022)
    os.umask(umask)
    handlers = {signum: signal.getsignal(signum) for signum in _SIGNALS}
    path = list(sys.path)
    modules = set(sys.modules)
    forget_cli_process_state()
    try:
        yield
    finally:
        forget_cli_process_state()
        for name in set(sys.modules) - modules:
            if not _installed(sys.modules[name]):
                del sys.modules[name]
        sys.path[:] = path
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        os.umask(umask)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(environ)


def forget_cli_process_state() -> None:
    """Empty what the CLI keeps for the life of its process: the secrets the redactor masks,
    the shared botocore sessions (which cache credentials and the AWS config files), and the
    commands' tracking id and process groups (a fresh id: what an earlier run left running,
    e.g. one a failed test never ended, is not this run's leftover)."""
    if "automations.redaction" in sys.modules:
        sys.modules["automations.redaction"].REDACTOR.clear()
    clients = sys.modules.get("automations.aws.clients")
    if clients is not None:
        clients._PLAIN_SESSIONS.clear()
    childprocess = sys.modules.get("automations.childprocess")
    if childprocess is not None:
        with childprocess._groups_lock:
            childprocess._groups.clear()
            childprocess._TRACKING_ID = f"{os.getpid()}-{os.urandom(4).hex()}"


_INSTALLED = tuple(str(Path(p).resolve()) for p in {sys.prefix, sys.base_prefix, Path(__file__).parents[2]})


def _installed(module: object) -> bool:
    """A module of the installed packages or of this repository (kept), not one a test's
    config brought in from its own directory (forgotten)."""
    file = getattr(module, "__file__", None)
    if not file:
        return True
    resolved = str(Path(file).resolve())
    return resolved.startswith(_INSTALLED)


def _exit_code(exit: SystemExit) -> int:
    if exit.code is None:
        return 0
    if isinstance(exit.code, int):
        return exit.code
    print(exit.code, file=sys.stderr)
    return 1


class TextCapture(io.TextIOWrapper):
    """A text stream with a `.buffer`, like sys.stdout, whose text can be read back."""

    def __init__(self) -> None:
        super().__init__(io.BytesIO(), encoding="utf-8", errors="backslashreplace", write_through=True)

    def text(self) -> str:
        self.flush()
        return self.written()

    def written(self) -> str:
        """What reached the buffer so far (all of it: writes go through), for another thread
        to read while the command still writes (no flush, which is not safe across threads)."""
        return self.buffer.getvalue().decode("utf-8", errors="replace")  # type: ignore[attr-defined]
