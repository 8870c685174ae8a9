"""What a step sees, built in ONE place: the task's environment (the process environment plus
the task's `env:`, expanded from it), the step's options with `${...}` expanded from that
environment (except options declared `expand=False`) and converted to its `Options` class,
and every problem pointed at where it was written (`FILE:LINE:COL: uses: with.key: message`).

Used by `run` and `--dry-run` (automations.engine.runner), and by the commands that act for
a task's step without running it (`token --task`, `aws check-trust --task`, `aws
trust-policy --from-token`): they must see the same values the step would (issue 13: the
copies had drifted, and `token --task` ignored the task's `env:`).
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from automations.engine.expand import expand
from automations.engine.options import convert, unexpanded_paths
from automations.errors import StepFailed

if TYPE_CHECKING:
    from automations.engine.config import Config, StepSpec, TaskSpec
    from automations.engine.step import Step


def task_env(task: TaskSpec, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The process environment (or `environ`) plus the task's `env:`, whose values are
    expanded from the process environment. Raises StepFailed at the task's location."""
    env = dict(os.environ if environ is None else environ)
    try:
        env.update({name: expand(value, env) for name, value in task.env.items()})
    except StepFailed as error:
        raise StepFailed(f"{task.location}: env: {error}") from None
    return env


def step_options(spec: StepSpec, options_class: type, env: Mapping[str, str],
                 keys: Iterable[str] | None = None) -> Any:
    """The step's `with:` (only `keys` of it, when given), expanded from `env` and converted
    to `options_class`. Raises StepFailed naming the option and its location."""
    raw = spec.options
    if keys is not None:
        written = raw if isinstance(raw, dict) else {}
        raw = {key: written[key] for key in keys if key in written}
    try:
        expanded = expand(raw, env, unexpanded=unexpanded_paths(options_class))
    except StepFailed as error:  # an unset variable, a bad template: at the option holding it
        raise StepFailed(f"{spec.locate(getattr(error, 'path', ()))}: {error}") from None
    options, problems = convert(options_class, expanded, load_time=False)
    if problems:
        raise StepFailed(spec.describe_problem(problems[0]))
    return options


def build_step(config: Config, spec: StepSpec, env: Mapping[str, str]) -> Step[Any]:
    """An instance of the step's type, its options expanded from `env` and converted."""
    step_class = config.step_class(spec)
    return step_class(step_options(spec, step_class.Options, env))
