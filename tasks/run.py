"""`run`: a shell command, with the task's environment, its output streamed line by line
through the redactor. `- run: CMD` and a task's `command: CMD` are shorthand for it."""
from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Literal

from automations.errors import Cancelled, StepFailed, TransientError
from automations.options import Options, option
from automations.step import Step, StepContext, StepResult

if TYPE_CHECKING:
    import subprocess

# bash exits at the first failing command, including inside a pipeline: what GitHub Actions
# does for `shell: bash`, so a multi-line command cannot fail half-way and report success.
SHELLS = {
    "bash": ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"],
    "sh": ["sh", "-e", "-c"],
}
KILL_GRACE_SECONDS = 5.0


class RunOptions(Options):
    command: str = option(help="the command; `${VAR}` is expanded by the shell from the task's environment")
    cwd: str | None = option(None, help="working directory (default: the directory of automations.yaml)")
    shell: Literal["bash", "sh"] = option("bash", help="bash (-eo pipefail) or sh (-e)")


class CommandFailed(TransientError):
    """A non-zero exit. Transient only in the sense that a `retry:` the user wrote applies
    to it; the default policy makes one attempt."""


class RunStep(Step[RunOptions]):
    name = "run"
    Options = RunOptions
    summary = "Run a shell command with the task's environment"

    def run(self, ctx: StepContext) -> StepResult:
        import shutil
        import subprocess  # here, not at the top: validating a config must not pay for it

        argv = [*SHELLS[self.options.shell], self.options.command]
        if shutil.which(argv[0], path=ctx.env.get("PATH")) is None:
            raise StepFailed(f"{argv[0]} not found on PATH")
        cwd = os.path.join(ctx.config_path.parent, self.options.cwd or "")
        if not os.path.isdir(cwd):
            raise StepFailed(f"working directory {cwd} does not exist")
        process = subprocess.Popen(argv, cwd=cwd, env=dict(ctx.env), stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        finished = threading.Event()
        watcher = threading.Thread(target=_kill_when_cancelled, args=(process, ctx.cancelled, finished), daemon=True)
        watcher.start()
        try:
            assert process.stdout is not None
            for raw in process.stdout:
                ctx.log.output(raw.decode("utf-8", "replace").rstrip("\r\n"))
            code = process.wait()
        finally:
            finished.set()
            watcher.join()
        if ctx.cancelled.is_set():
            raise Cancelled("cancelled")
        if code != 0:
            reason = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
            raise CommandFailed(f"command failed ({reason})")
        return StepResult.ok()

    def is_transient(self, error: BaseException) -> bool:
        return isinstance(error, CommandFailed)

    def describe(self) -> list[str]:
        return [f"$ {line}" for line in self.options.command.strip().splitlines()]


def _kill_when_cancelled(process: subprocess.Popen[bytes], cancelled: threading.Event,
                         finished: threading.Event) -> None:
    while not finished.is_set():
        if cancelled.wait(0.05):
            _kill_group(process)
            return


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the command's whole process group, then SIGKILL what is left after a grace."""
    import signal
    import subprocess

    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(KILL_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
