"""The engine's own keys of automations.yaml (the top level, a task, a step, `retry:`),
declared with the same `Options`/`option()` machinery as every step's `with:` options.

One declaration serves two readers: the loader (automations.engine.config) checks the file
against it with the option converter (`convert_keys`, `convert`), as it checks `with:`, and
only words the problems (a declaration's `problem=` is its wording); `automations schema`
(automations.engine.schema) generates the engine's part of the JSON Schema from here, as it
does each step type's options, so the two cannot drift. Engine keys are never `${...}`-expanded
(only `env:` values and `with:` options are), hence `expand=False` throughout: the schema then
offers no template alternative for them.
"""
from __future__ import annotations

from typing import Any, ClassVar, Literal

from automations.engine.options import Options, option

ID = r"[a-zA-Z0-9_-]{1,128}"
ENV_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
PLUGIN_TARGET = r"[\w.]+:[\w.]+"
NOT_BLANK = r"[\s\S]*\S[\s\S]*"  # ECMA and Python regex alike (for the schema)

# automations.engine.graph.TRIGGERS, written out for type checkers; a test holds them equal.
Trigger = Literal["postEnvironmentStart", "postDevcontainerStart", "prebuild", "manual"]

class RetryKeys(Options):
    """One retry policy: `retry: {...}` for every error class, or `retry.<class>: {...}`."""

    attempts: int = option(None, minimum=1, expand=False, help="tries in all, the first included")
    initialDelay: float = option(None, minimum=0, expand=False, help="seconds before the first retry")
    maxDelay: float = option(None, above=0, expand=False, help="the longest wait between tries, seconds")
    deadline: float = option(None, above=0, expand=False, help="give up after this many seconds")

class StepRetryKeys(RetryKeys):
    """`retry:` of a step: these keys for every error class, a class's own mapping for that
    class (the names are automations.retry.ERROR_CLASSES; a test holds them equal)."""

    throttled: RetryKeys | None = option(None, expand=False, help="for throttling answers only")
    transient: RetryKeys | None = option(None, expand=False, help="for transient errors only")

class StepKeys(Options):
    # `run: CMD` is shorthand for `uses: run` with `with: {command: CMD}`.
    exactly_one_of: ClassVar[tuple[str, ...]] = ("uses", "run")

    uses: str = option(None, expand=False, help="the step type", problem="`uses` must be a step type name")
    run: str = option(None, pattern=NOT_BLANK, expand=False, help="a shell command",
                      problem="`run` must be a non-empty command")
    id: str | None = option(None, pattern=ID, expand=False, help="names the step's outputs for later steps: ${{ steps.ID.outputs.NAME }}",
                     problem="invalid step id {value!r}: use 1 to 128 of a-z A-Z 0-9 _ -")
    name: str | None = option(None, expand=False, problem="`name` must be a string")
    with_: dict[str, Any] = option(None, key="with", expand=False, help="the step type's options",
                                   problem="`with` must be a mapping of options")
    retry: StepRetryKeys | None = option(None, expand=False, help="overrides the step type's retries: these keys "
                                  "for every error class, a class's own mapping for that class")
    timeout: float | None = option(None, above=0, expand=False, help="seconds",
                            problem="`timeout` must be a positive number of seconds")
    onChange: str | None = option(None, pattern=NOT_BLANK, expand=False,
                                  help="a shell command `automations watch` runs (like a `run` step) after a "
                                       "refresh of this step changed what it wrote",
                                  problem="`onChange` must be a non-empty command")


class TaskKeys(Options):
    # `problem`: the loader's words for a value of the wrong kind; a list's or a mapping's items
    # are worded by the loader (an unknown trigger, an invalid variable name).
    exactly_one_of: ClassVar[tuple[str, ...]] = ("command", "steps")

    name: str | None = option(None, expand=False, problem="`name` must be a string")
    description: str | None = option(None, expand=False, problem="`description` must be a string")
    triggeredBy: list[Trigger] = option(default_factory=lambda: ["manual"], expand=False,
                                        help="events that start the task (default: manual)",
                                        problem="`triggeredBy` must be a list of strings")
    # The ids are matched against the file's tasks by the loader, whose message names the task.
    dependsOn: list[str] = option(default_factory=list, pattern=ID, expand=False,
                                  help="tasks that must succeed first", problem="`dependsOn` must be a list of strings")
    env: dict[str, str | float] | None = option(None, key_pattern=ENV_NAME, expand=False,
                                                help="environment variables for the task's steps (${VAR} expanded)",
                                                problem="`env` must be a mapping of NAME: value")
    command: str = option(None, pattern=NOT_BLANK, expand=False, help="shorthand for one `run:` step",
                          problem="`command` must be a non-empty string")
    steps: list[StepKeys] = option(None, min_items=1, expand=False, problem="`steps` must be a non-empty list")

class FileKeys(Options):
    """The top level of automations.yaml. (`tasks:` with nothing under it is a file with no tasks.)"""

    tasks: dict[str, TaskKeys] | None = option(key_pattern=ID, expand=False, help="task id -> task",
                                               problem="`tasks` must be a mapping of task id to task")
    plugins: list[str] | None = option(None, pattern=PLUGIN_TARGET, expand=False,
                                       help="step classes to load from the repository, as 'module:Class'",
                                       problem="`plugins` must be a list of 'module:Class' strings")

def known_keys(keys_class: type[Options]) -> list[str]:
    """The YAML keys a class declares, in declaration order."""
    return [f.key for f in keys_class.__option_fields__.values()]
