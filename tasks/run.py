"""`run`: a shell command, with the task's environment, its output streamed line by line
through the redactor. `- run: CMD` and a task's `command: CMD` are shorthand for it."""
from __future__ import annotations

import os
from typing import Callable, Literal

from automations.api import Cancelled, Options, Step, StepContext, StepFailed, StepResult, TransientError, option

# bash exits at the first failing command, including inside a pipeline: what GitHub Actions
# does for `shell: bash`, so a multi-line command cannot fail half-way and report success.
SHELLS = {
    "bash": ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"],
    "sh": ["sh", "-e", "-c"],
}


class RunOptions(Options):
    # Not expanded by us: bash expands `${VAR}` from its environment, so no value is on its argv (#10).
    command: str = option(expand=False, help="the command, as bash gets it; bash expands `${VAR}` "
                                             "from the task's environment")
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

        from automations.childprocess import ChildProcess

        argv = [*SHELLS[self.options.shell], self.options.command]
        if shutil.which(argv[0], path=ctx.env.get("PATH")) is None:
            raise StepFailed(f"{argv[0]} not found on PATH")
        cwd = os.path.join(ctx.config_path.parent, self.options.cwd or "")
        if not os.path.isdir(cwd):
            raise StepFailed(f"working directory {cwd} does not exist")
        lines = OutputLines(ctx.log.output)
        # The step ends when the shell exits, not when the last holder of its output pipe does
        # (`server &`); what the command leaves running is ended when the run ends (#11).
        try:
            code = ChildProcess(argv, cwd=cwd, env=ctx.env, merge_stderr=True).communicate(
                lines.feed, cancelled=ctx.cancelled)
        finally:
            lines.close()
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


class OutputLines:
    """Bytes as they come from a pipe, handed on a line at a time (decoded, lenient)."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        self._emit = emit
        self._pending = b""

    def feed(self, data: bytes) -> None:
        *complete, self._pending = (self._pending + data).split(b"\n")
        for raw in complete:
            self._emit(raw.decode("utf-8", "replace").rstrip("\r"))

    def close(self) -> None:
        if self._pending:
            self._emit(self._pending.decode("utf-8", "replace").rstrip("\r"))
            self._pending = b""
