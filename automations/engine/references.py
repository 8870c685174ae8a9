"""References to the outputs of earlier steps, written as GitHub Actions writes them:

    ${{ steps.ID.outputs.NAME }}                 a step earlier in the same task
    ${{ tasks.TASK.steps.ID.outputs.NAME }}      a step of a task this one depends on

allowed in a step's `with:` values and in a `run` command; `$${{` stands for a literal `${{`,
as `$${` does for `${`. `${VAR}` keeps its meaning; the two are read in one pass
(automations.engine.expand), so the value of one is never read as the other.

Three moments:
- load (automations.engine.config): `reference_problems` checks each reference: the step
  exists and comes earlier, the task is a dependency, the output is declared by the step's
  type (a type that declares none, such as `run`, is checked when the run gets there);
- run (automations.engine.runner): `StepReferences` gives each reference its value from the
  outputs recorded so far. In an option the step's type expands (`with:` values) the value
  replaces the reference. In one it hands to a shell as written (`expand=False`: a `run`
  command) the value is never pasted into the text, where `"; rm -rf ~` would become code:
  the reference becomes `${AUTOMATIONS_REF_n}` and the value goes into the step's
  environment under that name;
- dry run: the references are shown as written.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from automations.errors import StepFailed

if TYPE_CHECKING:
    from automations.engine.options import KeyPath

OPEN = "${{"
CLOSE = "}}"
ID = r"[a-zA-Z0-9_-]{1,128}"
OUTPUT_NAME = r"[A-Za-z_][A-Za-z0-9_-]{0,127}"
_EXPRESSION = re.compile(rf"(?:tasks\.(?P<task>{ID})\.)?steps\.(?P<step>{ID})\.outputs\.(?P<output>{OUTPUT_NAME})")
# In text handed on as written: the escape, or a reference (its closing `}}` checked apart).
_IN_SHELL_TEXT = re.compile(r"\$\$\{|\$\{\{")
VARIABLE_PREFIX = "AUTOMATIONS_REF_"


# The NamedTuples here and in automations.engine.variables are written in the functional
# form, with their types as objects: the class form's annotations are strings (`from __future__
# import annotations`), which typing compiles with compile(), whose first call in a process
# builds the `ast` module's types: about 2 ms of `automations validate` (bench/cli_start.py).
class Reference(NamedTuple("_ReferenceFields", [
    ("task", str | None),   # None: a step of the same task
    ("step", str),
    ("output", str),
    ("text", str),          # as written, `${{ ... }}` included
])):
    def __str__(self) -> str:
        return self.text

    @property
    def key(self) -> str:
        """How the run's outputs are keyed (automations.engine.runner): `step` or `task.step`."""
        return self.step if self.task is None else f"{self.task}.{self.step}"


class ReferenceSyntaxError(StepFailed):
    """`${{` without a well-formed reference after it (found when the file is loaded)."""

    def __init__(self, message: str, written: str) -> None:
        super().__init__(message)
        self.written = written  # from `${{` to its `}}` (or the end of the line), to find it in the file


def parse_reference(text: str, start: int) -> tuple[Reference, int]:
    """The reference starting at `text[start]` (`${{`) and the index after it."""
    end = text.find(CLOSE, start + len(OPEN))
    if end < 0:
        line_end = text.find("\n", start)
        raise ReferenceSyntaxError("`${{` without its closing `}}` (write `$${{` for a literal `${{`)",
                                   text[start:line_end if line_end >= 0 else len(text)])
    expression = text[start + len(OPEN):end].strip()
    match = _EXPRESSION.fullmatch(expression)
    if match is None:
        shown = expression if len(expression) <= 60 else expression[:57] + "..."
        raise ReferenceSyntaxError(f"`${{{{ {shown} }}}}` is not a reference: write `${{{{ steps.ID.outputs.NAME }}}}` "
                                   "or `${{ tasks.TASK.steps.ID.outputs.NAME }}`", text[start:end + len(CLOSE)])
    end += len(CLOSE)
    return Reference(match["task"], match["step"], match["output"], text[start:end]), end


def pass_on(text: str, variable: Callable[[Reference], str] | None) -> str:
    """Text handed to a program as written (`expand=False`): `$${` becomes `${`, and each
    reference `${VARIABLE}` (`variable(reference)` names it), or stays as written without
    `variable` (a dry run)."""
    out = []
    i = 0
    for match in _IN_SHELL_TEXT.finditer(text):
        if match.start() < i:
            continue  # inside a reference already handled
        out.append(text[i:match.start()])
        if match.group() == "$${":
            out.append("${")
            i = match.end()
            continue
        reference, i = parse_reference(text, match.start())
        out.append(reference.text if variable is None else "${" + variable(reference) + "}")
    out.append(text[i:])
    return "".join(out)


def find_references(value: Any, path: KeyPath = ()) -> list[tuple[KeyPath, Reference]]:
    """Every reference in the strings of `value` (options as loaded), with the option path."""
    if isinstance(value, str):
        return [(path, reference) for reference in _references_in(value)]
    if isinstance(value, dict):
        return [found for k, v in value.items() for found in find_references(v, path + (k,))]
    if isinstance(value, list):
        return [found for i, v in enumerate(value) for found in find_references(v, path + (i,))]
    return []


def _references_in(text: str) -> list[Reference]:
    found = []
    i = 0
    for match in _IN_SHELL_TEXT.finditer(text):
        if match.start() < i or match.group() == "$${":
            continue
        reference, i = parse_reference(text, match.start())
        found.append(reference)
    return found


# -- at load time ------------------------------------------------------------------------------

class StepOutputs(NamedTuple("_StepOutputFields", [
    ("id", str | None),
    ("uses", str),
    ("declared", Mapping[str, Any] | None),   # its type's declared outputs; None: known only when it runs
])):
    """What the loader knows of one step for references to it (a NamedTuple: see Reference)."""


def reference_problem(reference: Reference, task: str, index: int, steps: Mapping[str, list[StepOutputs]],
                      dependencies: Iterable[str]) -> str | None:
    """What is wrong with `reference`, written in step `index` of `task`, or None.
    `steps`: each task's steps in order; `dependencies`: the tasks `task` depends on,
    directly or through others."""
    if reference.task is None:
        own = steps.get(task, [])
        position = next((i for i, step in enumerate(own) if step.id == reference.step), None)
        if position is None:
            known = [step.id for step in own[:index] if step.id]
            return f"{reference}: no step with id {reference.step!r} in task {task!r}" + _choices(known, "earlier step ids")
        if position >= index:
            where = "is this step" if position == index else "comes later"
            return f"{reference}: step {reference.step!r} {where}; a step reads the outputs of earlier steps only"
        return _output_problem(reference, own[position])
    if reference.task == task:
        return f"{reference}: task {task!r} is this task; write `${{{{ steps.{reference.step}.outputs." \
               f"{reference.output} }}}}`"
    if reference.task not in steps:
        return f"{reference}: no task {reference.task!r}"
    if reference.task not in set(dependencies):
        return f"{reference}: task {task!r} does not depend on {reference.task!r} (add it to `dependsOn`)"
    target = next((step for step in steps[reference.task] if step.id == reference.step), None)
    if target is None:
        known = [step.id for step in steps[reference.task] if step.id]
        return f"{reference}: no step with id {reference.step!r} in task {reference.task!r}" + _choices(known, "step ids")
    return _output_problem(reference, target)


def _output_problem(reference: Reference, step: StepOutputs) -> str | None:
    if step.declared is None or reference.output in step.declared:
        return None
    return f"{reference}: {step.uses} has no output {reference.output!r}" + _choices(list(step.declared), "its outputs")


def _choices(names: list[Any], what: str) -> str:
    return f" ({what}: {', '.join(str(n) for n in names)})" if names else ""


def all_dependencies(task: str, depends_on: Mapping[str, list[str]]) -> set[str]:
    """The tasks `task` depends on, directly or through others (cycles tolerated)."""
    found: set[str] = set()
    pending = list(depends_on.get(task, []))
    while pending:
        name = pending.pop()
        if name not in found:
            found.add(name)
            pending.extend(depends_on.get(name, []))
    found.discard(task)
    return found


# -- at run time -------------------------------------------------------------------------------

class UnresolvedReference(StepFailed):
    def __init__(self, message: str, path: KeyPath = ()) -> None:
        super().__init__(message)
        self.path = path


class StepReferences:
    """The values of the references of one step, from the outputs recorded so far (keyed as
    the runner keys them: `step` for this task's steps, `task.step` for any task's), and the
    environment variables a shell command reads them from."""

    def __init__(self, outputs: Mapping[str, Mapping[str, Any]]) -> None:
        self._outputs = outputs
        self.variables: dict[str, str] = {}     # AUTOMATIONS_REF_n -> value
        self._names: dict[Reference, str] = {}

    def value(self, reference: Reference) -> str:
        outputs = self._outputs.get(reference.key)
        if outputs is None:
            raise UnresolvedReference(f"{reference}: step {reference.step!r} has not run in this run")
        if reference.output not in outputs:
            produced = ", ".join(sorted(outputs)) or "none"
            raise UnresolvedReference(f"{reference}: step {reference.step!r} produced no output "
                                      f"{reference.output!r} (its outputs: {produced})")
        return output_text(outputs[reference.output])

    def variable(self, reference: Reference) -> str:
        """The environment variable that holds the reference's value for a shell."""
        key = reference._replace(text="")
        if key not in self._names:
            name = f"{VARIABLE_PREFIX}{len(self._names) + 1}"
            value = self.value(reference)
            if "\0" in value:
                raise UnresolvedReference(f"{reference}: the value holds a NUL character, which no environment "
                                          "variable can hold")
            self.variables[name] = value
            self._names[key] = name
        return self._names[key]

    def environment(self, env: Mapping[str, str]) -> dict[str, str]:
        return {**env, **self.variables} if self.variables else dict(env)


def output_text(value: Any) -> str:
    """An output as a reference gives it: strings as they are, true/false, numbers, and any
    other value as JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    import json  # here: the text CLI's start does not load json (tests/test_reporters.py)

    return json.dumps(value, default=str)
