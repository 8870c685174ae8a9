"""What a step sees, built in ONE place: the task's environment (the process environment plus
the task's `env:`, expanded from it), the step's options with `${...}` expanded from that
environment and `${{ ...outputs... }}` resolved from the outputs so far (options declared
`expand=False` get `${AUTOMATIONS_REF_n}` instead, automations.engine.references) and converted
to its `Options` class, and every problem pointed at where it was written
(`FILE:LINE:COL: uses: with.key: message`).

Used by `run` and `--dry-run` (automations.engine.runner), and by the commands that act for
a task's step without running it (`token --task`, `aws check-trust --task`, `aws
trust-policy --from-token`): they must see the same values the step would (issue 13: the
copies had drifted, and `token --task` ignored the task's `env:`).
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from automations.engine.expand import expand
from automations.engine.options import convert, unexpanded_paths
from automations.errors import StepFailed

if TYPE_CHECKING:
    from automations.engine.config import Config, StepSpec, TaskSpec
    from automations.engine.references import StepReferences
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
                 keys: Iterable[str] | None = None, references: StepReferences | None = None) -> Any:
    """The step's `with:` (only `keys` of it, when given), expanded from `env` and converted
    to `options_class`. Raises StepFailed naming the option and its location.

    Without `references` (a dry run, a command acting for a step) the references stay as
    written, and options holding one are checked as the loader checks them."""
    raw = spec.options
    if keys is not None:
        written = raw if isinstance(raw, dict) else {}
        raw = {key: written[key] for key in keys if key in written}
    try:
        expanded = expand(raw, env, unexpanded=unexpanded_paths(options_class), references=references)
    except StepFailed as error:  # an unset variable, a bad template or reference: at the option holding it
        raise StepFailed(f"{spec.locate(getattr(error, 'path', ()))}: {error}") from None
    unresolved = references is None and bool(spec.references)
    options, problems = convert(options_class, expanded, load_time=unresolved)
    if problems:
        raise StepFailed(spec.describe_problem(problems[0]))
    if options is None:  # checks across options wait for the references' values
        raise StepFailed(f"{spec.location}: {spec.uses}: its options are known only once "
                         f"{spec.references[0][1]} is")
    return options


def build_step(config: Config, spec: StepSpec, env: Mapping[str, str],
               references: StepReferences | None = None) -> Step[Any]:
    """An instance of the step's type, its options expanded from `env` (and `references`)
    and converted."""
    step_class = config.step_class(spec)
    return step_class(step_options(spec, step_class.Options, env, references=references))
