"""The exceptions that carry a message meant for the user.

Code below the CLI simply raises one of these; `automations.cli.main` turns them into one line
and an exit code (the pre-commit pattern: one place turns errors into messages).
"""
from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a process Ctrl-C ended
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: stdout's reader went away (`| head`)


class FatalError(Exception):
    """The user asked for something that cannot be done; the message says what to do."""

    exit_code = EXIT_USAGE


class Problem:
    """One thing wrong with a file, at a position (1-based line and column)."""

    __slots__ = ("file", "line", "column", "message", "cause")

    def __init__(self, file: str, line: int, column: int, message: str, cause: BaseException | None = None) -> None:
        self.file, self.line, self.column, self.message = file, line, column, message
        self.cause = cause  # the exception behind it (a plugin's import error): its traceback at -vv

    def __repr__(self) -> str:
        return f"Problem({str(self)!r})"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class ConfigError(FatalError):
    """Every problem found in a configuration file, reported together."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.column))
        super().__init__("\n".join(str(p) for p in self.problems))


class StepFailed(Exception):
    """A step could not do its job. Not retried: the runner reports the message as it is."""


class TransientError(StepFailed):
    """A failure worth another attempt soon (a service not ready yet, a 5xx answer, a dropped
    connection). The runner retries it within the step's `transient` retry policy."""

    error_class = "transient"


class ThrottledError(TransientError):
    """A shared quota said no (throttling, HTTP 429): worth another attempt after spreading
    out. The runner retries it within the step's `throttled` retry policy (issue 16)."""

    error_class = "throttled"


def retryable(error_class: str, message: str) -> TransientError:
    """The error to raise for a failure of `error_class` (automations.retry's THROTTLED or
    TRANSIENT)."""
    return (ThrottledError if error_class == ThrottledError.error_class else TransientError)(message)


class Cancelled(Exception):
    """The run was interrupted (Ctrl-C, SIGTERM) or the step ran past its timeout."""
