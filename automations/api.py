"""The plugin API: everything a step type is written against, and nothing else.

A plugin (and every built-in step type in `tasks/`) imports the engine only from here:

    from automations.api import Options, Step, StepContext, StepResult, option

What is not listed in `__all__` is internal and may change in any release. A step type may
also use the domain services (`automations.aws`, `automations.oidc`, `automations.files`), as
the built-ins do: `automations.aws.clients.aws_sessions(ctx)` gives the AWS sessions earlier
steps of the run obtained. The module imports nothing heavy: `automations validate` imports
every step type a file uses.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from automations.engine.options import OptionError, Options, option
from automations.engine.references import OUTPUT_NAME
from automations.engine.step import Output, Step, StepContext, StepLog, StepResult
from automations.engine.variables import Delivery, VariableFile
from automations.errors import Cancelled, StepFailed, ThrottledError, TransientError
from automations.retry import THROTTLED, TRANSIENT, RetryPolicies, RetryPolicy, call_with_retry

if TYPE_CHECKING:
    from automations.files.envfile import EnvFile as EnvFile

__all__ = [
    # a step type
    "Step", "StepContext", "StepLog", "StepResult",
    # its declared outputs (`Step.outputs`), when one is secret; what an output may be named
    # (the pattern `${{ steps.ID.outputs.NAME }}` reads), for outputs known only at run time
    "Output", "OUTPUT_NAME",
    # its options
    "Options", "option", "OptionError",
    # its errors, and the error classes `Step.error_class` returns
    "StepFailed", "TransientError", "ThrottledError", "Cancelled", "THROTTLED", "TRANSIENT",
    # its retries (`call_with_retry` for a retried call inside a step)
    "RetryPolicy", "RetryPolicies", "call_with_retry",
    # the variables it produces: `ctx.deliver(values, EnvFile(path))` writes them (`run`) or
    # hands them to COMMAND (`exec`); a `VariableFile` of its own keeps them its own way
    "Delivery", "VariableFile", "EnvFile",
]


def __getattr__(name: str) -> object:
    # The env-file code (~5 ms) is loaded when a step asks for it, not by every plugin's import.
    if name == "EnvFile":
        from automations.files.envfile import EnvFile

        return EnvFile
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
