"""`run`: a shell command, with the task's environment, its output streamed line by line
through the redactor. `- run: CMD` and a task's `command: CMD` are shorthand for it.

Its outputs, as in GitHub Actions: `NAME=value` lines and `NAME<<DELIMITER` heredocs the
command appends to the file named by `$AUTOMATIONS_OUTPUT` (private to the step, removed after
it); a line `::add-mask::VALUE` on its output makes VALUE a secret, masked from then on (the
line itself is not shown)."""
from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable
from typing import Literal

from automations.api import (
    OUTPUT_NAME,
    Cancelled,
    Options,
    Step,
    StepContext,
    StepFailed,
    StepResult,
    TransientError,
    option,
)

# bash exits at the first failing command, including inside a pipeline: what GitHub Actions
# does for `shell: bash`, so a multi-line command cannot fail half-way and report success.
SHELLS = {
    "bash": ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"],
    "sh": ["sh", "-e", "-c"],
}
OUTPUT_VARIABLE = "AUTOMATIONS_OUTPUT"
MAX_OUTPUT_BYTES = 1024 * 1024  # GitHub Actions allows 1 MiB of outputs per job; one step gets as much
ADD_MASK = "::add-mask::"


class RunOptions(Options):
    # Not expanded by us: bash expands `${VAR}` from its environment, so no value is on its argv (#10).
    command: str = option(expand=False, help="the command, as bash gets it; bash expands `${VAR}` "
                                             "from the task's environment, and a `${{ ...outputs... }}` "
                                             "from a variable holding its value")
    cwd: str | None = option(None, help="working directory (default: the directory of automations.yaml)")
    shell: Literal["bash", "sh"] = option("bash", help="bash (-eo pipefail) or sh (-e)")


class CommandFailed(TransientError):
    """A non-zero exit. Transient only in the sense that a `retry:` the user wrote applies
    to it; the default policy makes one attempt."""


class RunStep(Step[RunOptions]):
    name = "run"
    Options = RunOptions
    summary = "Run a shell command with the task's environment (outputs: NAME=value lines in $AUTOMATIONS_OUTPUT)"
    outputs = None  # whatever the command writes to $AUTOMATIONS_OUTPUT: references are checked when it ran

    def run(self, ctx: StepContext) -> StepResult:
        import tempfile

        # 0600, and a new one per attempt: what a failed attempt wrote is not an output.
        fd, output_file = tempfile.mkstemp(prefix="automations-output-")
        os.close(fd)
        try:
            self.run_command(ctx, {**ctx.env, OUTPUT_VARIABLE: output_file})
            return StepResult("ok", read_outputs(output_file))
        finally:
            with contextlib.suppress(FileNotFoundError):  # the command may have removed it
                os.unlink(output_file)

    def run_command(self, ctx: StepContext, env: dict[str, str]) -> None:
        import shutil

        from automations.childprocess import ChildProcess

        argv = [*SHELLS[self.options.shell], self.options.command]
        if shutil.which(argv[0], path=ctx.env.get("PATH")) is None:
            raise StepFailed(f"{argv[0]} not found on PATH")
        cwd = os.path.join(ctx.config_path.parent, self.options.cwd or "")
        if not os.path.isdir(cwd):
            raise StepFailed(f"working directory {cwd} does not exist")
        lines = OutputLines(lambda line: show_unless_mask(line, ctx))
        # The step ends when the shell exits, not when the last holder of its output pipe does
        # (`server &`); what the command leaves running is ended when the run ends (#11).
        try:
            code = ChildProcess(argv, cwd=cwd, env=env, merge_stderr=True).communicate(
                lines.feed, cancelled=ctx.cancelled)
        finally:
            lines.close()
        if ctx.cancelled.is_set():
            raise Cancelled("cancelled")
        if code != 0:
            reason = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
            raise CommandFailed(f"command failed ({reason})")

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


def show_unless_mask(line: str, ctx: StepContext) -> None:
    """A line of the command's output, shown; `::add-mask::VALUE` registers VALUE instead."""
    if line.startswith(ADD_MASK):
        ctx.secret(line[len(ADD_MASK):])
        return
    ctx.log.output(line)


def read_outputs(path: str) -> dict[str, str]:
    """The outputs the command appended to `path`, as GitHub Actions reads $GITHUB_OUTPUT:
    `NAME=value` (the first `=` ends the name) or `NAME<<DELIMITER`, the lines up to one that
    is DELIMITER alone, DELIMITER not included. A later line for a name wins. Problems name the
    line, never its value (it may be a secret)."""
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_OUTPUT_BYTES + 1)
    except FileNotFoundError:
        raise StepFailed(f"${OUTPUT_VARIABLE} was removed by the command") from None
    if len(data) > MAX_OUTPUT_BYTES:
        raise StepFailed(f"${OUTPUT_VARIABLE} holds more than {MAX_OUTPUT_BYTES // 1024 // 1024} MiB")
    lines = data.decode("utf-8", "replace").replace("\r\n", "\n").split("\n")
    outputs: dict[str, str] = {}
    number = 0
    while number < len(lines):
        line = lines[number]
        number += 1
        start = number
        if not line:
            continue
        equals, heredoc = line.find("="), line.find("<<")
        if equals >= 0 and (heredoc < 0 or equals < heredoc):
            name, value = line[:equals], line[equals + 1:]
        elif heredoc >= 0:
            name, delimiter = line[:heredoc], line[heredoc + 2:]
            _check_output_name(name, number)  # before a message could show a value line taken for a name
            if not delimiter:
                raise StepFailed(f"${OUTPUT_VARIABLE} line {number}: `{name}<<` needs a delimiter after `<<`")
            try:
                end = lines.index(delimiter, number)
            except ValueError:
                raise StepFailed(f"${OUTPUT_VARIABLE} line {number}: no line {delimiter!r} ends the value of "
                                 f"{name!r}") from None
            value = "\n".join(lines[number:end])
            number = end + 1
        else:
            raise StepFailed(f"${OUTPUT_VARIABLE} line {number}: expected NAME=value or NAME<<DELIMITER")
        _check_output_name(name, start)
        outputs[name] = value
    return outputs


def _check_output_name(name: str, line: int) -> None:
    if not re.fullmatch(OUTPUT_NAME, name):  # what `${{ steps.ID.outputs.NAME }}` can name
        raise StepFailed(f"${OUTPUT_VARIABLE} line {line}: an output name is 1 to 128 of A-Z a-z 0-9 _ -, "
                         "not starting with a digit or -")
