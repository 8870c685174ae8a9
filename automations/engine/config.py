"""Loading automations.yaml: parse, validate everything, and build the task model.

Every problem in the file is collected and reported at once as `FILE:LINE:COL: message`,
using the positions PyYAML's nodes carry. Nothing here talks to AWS or runs anything. One
validation framework (`automations.engine.options`) checks it all: the engine's own keys
against their declarations (automations.engine.keys), a step's options against its step
type's `Options`; this module only words the problems and builds the model.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from automations.engine.expand import TemplateError, mark_templates

# select_tasks and the limits are re-exported: commands and tests import them from the loader.
from automations.engine.graph import TRIGGERS, find_cycles
from automations.engine.graph import select_tasks as select_tasks
from automations.engine.keys import FileKeys, RetryKeys, StepKeys, StepRetryKeys, TaskKeys, known_keys
from automations.engine.options import (
    KeyPath,
    OptionProblem,
    argv_paths,
    convert,
    convert_keys,
    fields_of,
    matches_path,
    option_name,
)
from automations.engine.plugins import PluginError, StepRegistry
from automations.engine.references import Reference, StepOutputs, all_dependencies, find_references, reference_problem
from automations.engine.yamltree import MAX_DEPTH as MAX_DEPTH
from automations.engine.yamltree import MAX_TEXT as MAX_TEXT
from automations.engine.yamltree import MAX_VALUES as MAX_VALUES
from automations.engine.yamltree import Location, TooLarge, YamlTree
from automations.errors import ConfigError, FatalError, Problem
from automations.retry import ERROR_CLASSES

if TYPE_CHECKING:
    from automations.engine.step import Step

CONFIG_NAME = "automations.yaml"
# The engine's keys are declared once, in automations.engine.keys (the schema is built from there too).
TOP_KEYS = set(known_keys(FileKeys))
TASK_KEYS = set(known_keys(TaskKeys))
STEP_KEYS = set(known_keys(StepKeys))
_DECLARED_FILE_KEYS = {f.key: f for f in fields_of(FileKeys)}
_DECLARED_TASK_KEYS = {f.key: f for f in fields_of(TaskKeys)}

Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# The model classes below are plain classes, not dataclasses: creating a dataclass costs
# about a millisecond at import, and `automations validate` must start fast (issue 2).

ON_CHANGE_TIMEOUT_SECONDS = 60.0  # an `onChange` command's time limit (it has no `timeout:` key of its own)


class StepSpec:
    """One step as the file declares it; its options are checked but not yet expanded."""

    def __init__(self, index: int, uses: str, id: str | None, name: str | None, options: Any,
                 retry: dict[str, Any] | None, timeout: float | None, location: Location,
                 option_locations: dict[KeyPath, Location]) -> None:
        self.index = index
        self.uses = uses
        self.id = id
        self.name = name
        self.options = options          # the `with:` data, `${...}` still unexpanded
        self.retry = retry
        self.timeout = timeout
        self.location = location
        self.option_locations = option_locations
        self.option_roots: dict[KeyPath, str] = {}  # an option written elsewhere than `with:` (`run:`)
        self.on_change: StepSpec | None = None  # `onChange: CMD`, a `run` step `automations watch` runs
        self.references: list[tuple[KeyPath, Reference]] = []  # `${{ ...outputs... }}` in its options

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        if self.id:
            return self.id
        if self.uses == "run" and isinstance(self.options, dict):
            command = str(self.options.get("command", "")).strip().splitlines()
            text = command[0] if command else ""
            return "run: " + (text if len(text) <= 50 else text[:47] + "...")
        return self.uses

    def locate(self, path: KeyPath) -> Location:
        """The position of an option (for run-time errors after `${...}` expansion)."""
        while path and path not in self.option_locations:
            path = path[:-1]
        return self.option_locations.get(path, self.location)

    def describe_problem(self, problem: OptionProblem) -> str:
        """`FILE:LINE:COL: uses: with.key: message`, for an option found wrong at run time."""
        return f"{self.locate(problem.path)}: {self.uses}: {_option_name(problem.path, self.option_roots)}: " \
               f"{problem.message}"


class TaskSpec:
    def __init__(self, id: str, name: str | None, description: str | None, triggered_by: list[str],
                 depends_on: list[str], env: dict[str, str], steps: list[StepSpec], location: Location) -> None:
        self.id = id
        self.name = name
        self.description = description
        self.triggered_by = triggered_by
        self.depends_on = depends_on
        self.env = env
        self.steps = steps
        self.location = location


class Config:
    def __init__(self, path: Path, tasks: dict[str, TaskSpec], registry: StepRegistry) -> None:
        self.path = path
        self.tasks = tasks
        self.registry = registry

    def step_class(self, step: StepSpec) -> type[Step[Any]]:
        return self.registry.load(step.uses)


def find_config(explicit: str | None, cwd: Path | None = None) -> Path:
    """-c/--config, else $AUTOMATIONS_CONFIG, else automations.yaml in the working directory
    or its nearest parent."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise FatalError(f"config file {explicit} not found")
        return path.absolute()
    from_env = os.environ.get("AUTOMATIONS_CONFIG")
    if from_env:
        path = Path(from_env)
        if not path.is_file():
            raise FatalError(f"$AUTOMATIONS_CONFIG points to {from_env}, which is not a file")
        return path.absolute()
    here = (cwd or Path.cwd()).absolute()
    for directory in (here, *here.parents):
        candidate = directory / CONFIG_NAME
        if candidate.is_file():
            return candidate
    raise FatalError(f"no {CONFIG_NAME} in {here} or any parent directory "
                     "(create one, or point -c/--config or $AUTOMATIONS_CONFIG at it)")


def config_if_any(explicit: str | None) -> Path | None:
    """For commands that are useful without a configuration (`steps`, `schema`): the one named
    by -c or $AUTOMATIONS_CONFIG (an error if it is missing), else the nearest, else None."""
    if explicit or os.environ.get("AUTOMATIONS_CONFIG"):
        return find_config(explicit)
    try:
        return find_config(None)
    except FatalError:
        return None


def load_config(path: Path, registry: StepRegistry | None = None) -> Config:
    path = Path(path)
    display = _display_name(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise FatalError(f"cannot read {display}: {getattr(error, 'strerror', None) or error}") from None
    return _Loader(display, path.absolute(), registry or StepRegistry()).load(text)


def _display_name(path: Path) -> str:
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class _Loader:
    def __init__(self, display: str, path: Path, registry: StepRegistry) -> None:
        self.display = display
        self.path = path
        self.registry = registry
        self.tree = YamlTree(display)
        self.text = ""
        self.step_outputs: dict[str, list[StepOutputs]] = {}  # each task's steps, for references

    def fail(self, path: KeyPath, message: str, key: bool = False, cause: BaseException | None = None) -> None:
        self.tree.problem(self.tree.at(path, key), message, cause)

    def load(self, text: str) -> Config:
        self.text = text
        try:
            node = yaml.compose(text, Loader=Loader)
        except RecursionError:  # PyYAML's pure-Python composer (libyaml stops at 1000 levels itself)
            raise ConfigError([Problem(self.display, 1, 1, "YAML syntax error: nested too deeply")]) from None
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
            problem = getattr(error, "problem", None) or str(error)
            line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            raise ConfigError([Problem(self.display, line, column, f"YAML syntax error: {problem}")]) from None
        if node is None:
            raise ConfigError([Problem(self.display, 1, 1, "the file is empty; it needs a `tasks:` mapping")])
        try:
            data = self.tree.build(node, ())
        except TooLarge as error:
            raise ConfigError([error.problem]) from None
        tasks = self.check_root(data)
        if self.tree.problems:
            raise ConfigError(self.tree.problems)
        return Config(self.path, tasks, self.registry)

    def check_root(self, data: Any) -> dict[str, TaskSpec]:
        keys, problems = convert_keys(FileKeys, data)  # the tasks themselves are checked one by one below
        for problem in problems:
            self.fail(problem.path, _file_problem(problem, data), key=problem.at_key)
        if not isinstance(data, dict):
            return {}
        self.check_plugins(data.get("plugins"), problems)
        raw_tasks = data.get("tasks")
        if not isinstance(raw_tasks, dict):
            return {}
        invalid_ids = {p.path[1] for p in problems if p.path[:1] == ("tasks",) and p.kind == "key"}
        tasks = {}
        for task_id, raw in raw_tasks.items():
            task = self.check_task(task_id, raw, valid_id=task_id not in invalid_ids)
            if task is not None:
                tasks[task.id] = task
        self.check_dependencies(raw_tasks, tasks)
        self.check_references(tasks)
        return tasks

    def check_plugins(self, plugins: Any, problems: list[OptionProblem]) -> None:
        """Load the step classes `plugins:` lists (its entries were checked with the other top-level keys)."""
        refused = {p.path[:2] for p in problems if p.path[:1] == ("plugins",)}
        if not isinstance(plugins, list) or ("plugins",) in refused:
            return
        for i, target in enumerate(plugins):
            if ("plugins", i) in refused:
                continue
            try:
                self.registry.add_listed(target, self.path.parent, self.display)
            except PluginError as error:
                self.fail(("plugins", i), str(error), cause=error)

    def check_task(self, task_id: Any, raw: Any, valid_id: bool = True) -> TaskSpec | None:
        path = ("tasks", task_id)
        keys, problems = convert_keys(TaskKeys, raw)  # its steps are checked one by one in check_steps
        exclusive = any(p.kind == "exclusive" for p in problems)
        for problem, message, at_key in _task_problems(task_id, raw, problems):
            if not (exclusive and problem.path[:1] in (("command",), ("steps",))):  # one problem: use one of them
                self.fail(path + problem.path, message, key=at_key)
        if not isinstance(raw, dict):
            return None
        depends_on = keys.get("dependsOn")
        if depends_on is None:
            # Ids of no task are worded by check_dependencies; any other problem was reported above.
            refused = [p for p in problems if p.path[:1] == ("dependsOn",)]
            depends_on = list(raw["dependsOn"]) if all(p.kind == "value" and len(p.path) == 2 for p in refused) else []
        env = self.check_env(path, raw.get("env"), problems)
        steps = self.check_steps(path, task_id, raw, keys, exclusive)
        if not valid_id:
            return None
        return TaskSpec(task_id, keys.get("name"), keys.get("description"), keys.get("triggeredBy", []), depends_on,
                        env, steps, self.tree.at(path, key=True))

    def check_env(self, path: KeyPath, env: Any, problems: list[OptionProblem]) -> dict[str, str]:
        """The task's `env:` as text, each value's `${...}` syntax checked (the keys and the kinds
        of the values were checked with the task's other keys)."""
        refused = {p.path[:2] for p in problems if p.path[:1] == ("env",)}
        if not isinstance(env, dict) or ("env",) in refused:
            return {}
        result = {}
        for key, value in env.items():
            if ("env", key) in refused:
                continue
            try:
                mark_templates(str(value))
                if find_references(str(value)):
                    # `env:` is set before any step runs: no output exists yet.
                    self.fail(path + ("env", key), f"env {key}: a step's outputs cannot be read in `env:` "
                              "(use the reference in the step's `with:` or `run:`)")
            except TemplateError as error:
                self.fail(path + ("env", key), str(error))
            result[key] = str(value)  # as written: `8080`, not the 8080.0 a number option would give
        return result

    def check_steps(self, path: KeyPath, task_id: Any, raw: dict[Any, Any], keys: dict[str, Any],
                    exclusive: bool) -> list[StepSpec]:
        """The task's steps, one by one; `keys` are its keys that passed (check_task reported the rest)."""
        if exclusive:
            return []
        if "command" in raw:
            command = keys.get("command")
            if command is None:
                return []
            return [s for s in [self.check_step(path + ("command",), 0, {"run": command}, shorthand=True)] if s]
        raw_steps = keys.get("steps")
        if raw_steps is None:
            return []
        steps = []
        seen_ids: dict[str, int] = {}
        self.step_outputs[task_id] = outputs = []
        for i, raw_step in enumerate(raw_steps):
            step = self.check_step(path + ("steps", i), i, raw_step)
            outputs.append(self.outputs_of(raw_step, step))
            if step is None:
                continue
            if step.id is not None:
                if step.id in seen_ids:
                    self.fail(path + ("steps", i, "id"), f"duplicate step id {step.id!r} in task {task_id!r}")
                seen_ids[step.id] = i
            steps.append(step)
        return steps

    def check_step(self, path: KeyPath, index: int, raw: Any, shorthand: bool = False) -> StepSpec | None:
        if not isinstance(raw, dict):
            self.fail(path, "a step must be a mapping with `uses:` or `run:`")
            return None
        before = len(self.tree.problems)
        if not self.check_step_keys(path, raw):
            return None
        options = raw.get("with", {})
        option_base = path + ("with",)
        # Where each option came from: `run: X` is shorthand for `uses: run` + `with: {command: X}`.
        remap: dict[KeyPath, KeyPath] = {}
        if "run" in raw:
            uses = "run"
            if "command" in options:
                self.fail(option_base + ("command",), "`run:` already gives the command", key=True)
            options = {**options, "command": raw["run"]}
            remap[("command",)] = path if shorthand else path + ("run",)
        else:
            uses = raw["uses"]
        step_id = raw.get("id")
        name = raw.get("name")
        retry = raw.get("retry")
        timeout = raw.get("timeout")
        try:
            options = mark_templates(options)
        except TemplateError as error:
            location = self.tree.at(_option_source(error.path, option_base, remap))
            self.tree.problem(_within(self.text, location, error.written) if error.written else location, str(error))
            return None
        uses_path = path + ("uses",) if "uses" in raw else remap[("command",)]
        self.check_options(uses_path, uses, options, option_base, remap)
        if len(self.tree.problems) > before:
            return None
        locations = {}
        for opt_path in _paths(options):
            locations[opt_path] = self.tree.at(_option_source(opt_path, option_base, remap))
        spec = StepSpec(index, uses, step_id, name, options, retry, timeout, self.tree.at(path), locations)
        spec.option_roots = _option_roots(remap)
        spec.references = find_references(options)
        self.check_argv_references(spec)
        if isinstance(raw.get("onChange"), str) and raw["onChange"].strip():
            # Shorthand for a `run` step, checked and located like one (`run: CMD`).
            spec.on_change = self.check_step(path + ("onChange",), index,
                                             {"run": raw["onChange"], "name": f"{spec.label}: onChange"},
                                             shorthand=True)
            if spec.on_change is not None and spec.on_change.timeout is None:
                # The watcher waits for it before the next refresh: a command that never ends
                # (a dev server started without `&`) must not stop every refresh after it.
                spec.on_change.timeout = ON_CHANGE_TIMEOUT_SECONDS
        return spec

    def check_argv_references(self, spec: StepSpec) -> None:
        """No reference in an option that becomes a command's argv: its value (a secret, maybe)
        would be on the command line, for anyone on the machine to read (`ps`)."""
        forbidden = argv_paths(self.registry.load(spec.uses).Options) if spec.references else []
        for option_path, reference in spec.references:
            if any(matches_path(pattern, option_path) for pattern in forbidden):
                location = _within(self.text, spec.locate(option_path), reference.text)
                self.tree.problem(location, f"{spec.uses}: {_option_name(option_path, spec.option_roots)}: "
                                            f"{reference}: a step's output cannot be used here: the command runs "
                                            "without a shell, so the value would be on its command line")

    def outputs_of(self, raw: Any, spec: StepSpec | None) -> StepOutputs:
        """What references to a step may name: its id even when the step is wrong otherwise
        (its own problem is reported; a reference to it is not a second one)."""
        step_id = raw.get("id") if isinstance(raw, dict) else None
        step_id = step_id if isinstance(step_id, str) else None
        if spec is None:
            return StepOutputs(step_id, "", None)
        from automations.engine.step import declared_outputs

        return StepOutputs(step_id, spec.uses, declared_outputs(self.registry.load(spec.uses)))

    def check_references(self, tasks: dict[str, TaskSpec]) -> None:
        """Each `${{ ...outputs... }}` names an earlier step of its task, or a step of a task
        it depends on, and an output that step's type declares (automations.engine.references)."""
        depends_on = {task.id: task.depends_on for task in tasks.values()}
        for task in tasks.values():
            dependencies = all_dependencies(task.id, depends_on)
            for spec in [s for step in task.steps for s in (step, step.on_change) if s is not None]:
                for option_path, reference in spec.references:
                    problem = reference_problem(reference, task.id, spec.index, self.step_outputs, dependencies)
                    if problem is not None:
                        location = _within(self.text, spec.locate(option_path), reference.text)
                        self.tree.problem(location, f"{spec.uses}: {_option_name(option_path, spec.option_roots)}: "
                                                    f"{problem}")

    def check_step_keys(self, path: KeyPath, raw: dict[Any, Any]) -> bool:
        """The step's own keys against their declaration (StepKeys), each problem in the
        wording the declaration gives; False if `uses`/`run`/`with` are unusable, so that the
        step type's options cannot be checked."""
        _, problems = convert(StepKeys, raw, load_time=False)
        declared = {f.key: f for f in fields_of(StepKeys)}
        usable = True
        for problem in problems:
            key = problem.path[0] if problem.path else None
            if key == "retry":
                self.fail(path + problem.path, _retry_message(problem.below(1)),
                          key=problem.at_key)
            elif problem.kind == "unknown":
                self.fail(path + problem.path, f"unknown key {key!r} in step; expected one of: "
                          + ", ".join(sorted(declared)), key=True)
            elif problem.kind == "exclusive":
                self.fail(path, "a step needs exactly one of `uses:` and `run:`")
                usable = False
            elif len(problem.path) == 1:  # below `with:` is the step type's business
                self.fail(path + problem.path, declared[key].metadata["problem"].format(value=raw[key]))
                usable = usable and key not in ("uses", "run", "with")
        return usable

    def check_options(self, uses_path: KeyPath, uses: str, options: dict[Any, Any], option_base: KeyPath,
                      remap: dict[KeyPath, KeyPath]) -> None:
        try:
            step_class = self.registry.load(uses)
        except PluginError as error:
            self.fail(uses_path, str(error), cause=error)
            return
        problems: list[OptionProblem]
        _, problems = convert(step_class.Options, options, load_time=True)
        for problem in problems:
            name = _option_name(problem.path, _option_roots(remap))
            self.fail(_option_source(problem.path, option_base, remap), f"{uses}: {name}: {problem.message}",
                      key=problem.at_key)

    def check_dependencies(self, raw_tasks: dict[Any, Any], tasks: dict[str, TaskSpec]) -> None:
        for task in tasks.values():
            for i, dependency in enumerate(task.depends_on):
                if dependency not in raw_tasks:
                    self.fail(("tasks", task.id, "dependsOn", i),
                              f"task {task.id!r} depends on unknown task {dependency!r}")
                elif dependency == task.id:
                    self.fail(("tasks", task.id, "dependsOn", i), f"task {task.id!r} depends on itself")
        for cycle in find_cycles({t.id: [d for d in t.depends_on if d in tasks and d != t.id] for t in tasks.values()}):
            first = cycle[0]
            index = tasks[first].depends_on.index(cycle[1])
            self.fail(("tasks", first, "dependsOn", index), "dependency cycle: " + " -> ".join(cycle))


def _file_problem(problem: OptionProblem, data: Any) -> str:
    """The loader's words for a problem with the top level of the file (FileKeys)."""
    path = problem.path
    if not path:
        return "missing `tasks:`" if problem.kind == "missing" else "the top level must be a mapping with a `tasks:` key"
    key = path[0]
    if problem.kind == "unknown":
        hint = " (Gitpod services are not supported)" if key == "services" else ""
        return f"unknown top-level key {key!r}{hint}; expected one of: {', '.join(known_keys(FileKeys))}"
    if key == "tasks" and len(path) == 2:  # a task id
        return f"invalid task id {path[1]!r}: use 1 to 128 of a-z A-Z 0-9 _ -"
    if key == "plugins" and len(path) == 2:
        return f"expected 'module:Class', got {data['plugins'][path[1]]!r}"
    return str(_DECLARED_FILE_KEYS[str(key)].metadata["problem"])


def _task_problems(task_id: Any, raw: Any, problems: list[OptionProblem]) -> list[tuple[OptionProblem, str, bool]]:
    """The loader's words for the problems with a task's own keys (TaskKeys), and whether each
    points at the key: a list that holds anything but strings is one problem, not one per item."""
    worded: list[tuple[OptionProblem, str, bool]] = []
    lists_refused = {p.path[0] for p in problems if len(p.path) == 2 and p.kind == "type"
                     and p.path[0] in ("triggeredBy", "dependsOn")}
    for problem in problems:
        path, key = problem.path, problem.path[0] if problem.path else None
        if not path:
            if problem.kind == "exclusive":
                use = "has both `command` and `steps`; use one" if "command" in raw else "needs `command` or `steps`"
                worded.append((problem, f"task {task_id!r} {use}", True))
            else:
                worded.append((problem, f"task {task_id!r} must be a mapping", False))
        elif problem.kind == "unknown":
            worded.append((problem, f"unknown key {key!r} in task {task_id!r}; expected one of: "
                           + ", ".join(sorted(TASK_KEYS)), True))
        elif key in lists_refused:
            whole = OptionProblem(path[:1], problem.message)
            if not any(w[0].path == whole.path for w in worded):
                worded.append((whole, str(_DECLARED_TASK_KEYS[str(key)].metadata["problem"]), False))
        elif key == "triggeredBy" and len(path) == 2:
            worded.append((problem, f"unknown trigger {raw[key][path[1]]!r}; expected one of: " + ", ".join(TRIGGERS),
                           False))
        elif key == "dependsOn" and len(path) == 2:
            pass  # an id of no task: check_dependencies says which
        elif key == "env" and len(path) == 2:
            name = path[1]
            if problem.kind == "key":
                worded.append((problem, f"invalid environment variable name {name!r}", True))
            else:
                worded.append((problem, f"env {name}: expected a string or number (quote yes/no/true/false)", False))
        elif len(path) == 1:
            worded.append((problem, str(_DECLARED_TASK_KEYS[str(key)].metadata["problem"]), False))
        # deeper: a step's keys, which check_step words
    return worded


def _retry_message(problem: OptionProblem) -> str:
    """The engine's wording of a problem in `retry:` (the converter's says `with.` and `option`)."""
    error_class = next((part for part in problem.path[:1] if part in ERROR_CLASSES), None)
    declaration = RetryKeys if error_class else StepRetryKeys
    expected = ", ".join(known_keys(declaration))
    name = ".".join(str(part) for part in problem.path)
    if problem.kind == "unknown":
        return f"unknown retry key {name!r}; expected one of: {expected}"
    if problem.kind == "type" and len(problem.path) == (1 if error_class else 0):
        return f"{'`retry.' + name + '`' if name else '`retry`'} must be a mapping: {{{expected}}}"
    declared = {f.key: f for f in fields_of(RetryKeys)}[str(problem.path[-1])]
    if problem.kind == "type":
        return f"retry {name} must be {'an integer' if declared.type is int else 'a number'}"
    minimum = declared.metadata.get("minimum")
    return f"retry {name} must be {f'at least {minimum:g}' if minimum is not None else 'positive'}"


def _option_source(path: KeyPath, option_base: KeyPath, remap: dict[KeyPath, KeyPath]) -> KeyPath:
    """Where in the file an option at `path` (below `with:`) was written."""
    head = path[:1]
    base = remap.get(head, option_base + head) if head else option_base
    return base + path[1:]


def _option_roots(remap: dict[KeyPath, KeyPath]) -> dict[KeyPath, str]:
    """For options written outside `with:`, the key the user wrote (`run`, or a task's `command`)."""
    return {head: str(source[-1]) for head, source in remap.items()}


def _option_name(path: KeyPath, roots: dict[KeyPath, str]) -> str:
    head = path[:1]
    return option_name(path[1:], roots[head]) if head in roots else option_name(path)


def _within(text: str, start: Location, snippet: str) -> Location:
    """Where `snippet` is written in the file at or after `start` (the value holding it), so
    that a problem with a reference points at the reference, not at the start of a long
    command; `start` if it is not written as it reads (an escape inside a quoted scalar)."""
    lines = text.split("\n")
    if not 0 < start.line <= len(lines):
        return start
    offset = sum(len(line) + 1 for line in lines[:start.line - 1]) + start.column - 1
    found = text.find(snippet, offset)
    if found < 0:
        return start
    line = text.count("\n", 0, found) + 1
    return Location(start.file, line, found - (text.rfind("\n", 0, found) + 1) + 1)


def _paths(value: Any, prefix: KeyPath = ()) -> list[KeyPath]:
    result = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            result.extend(_paths(v, prefix + (k,)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            result.extend(_paths(v, prefix + (i,)))
    return result
