"""Typed step options: a step's `with:` mapping becomes an instance of the step's `Options`
subclass, checked field by field.

A step declares its options as annotated class attributes, each given with `option()`:

    class WarmCacheOptions(Options):
        path: str = option(help="where to write")
        size: int = option(10, minimum=1, help="how many")

        def validate(self) -> None:          # optional: checks across options
            if self.size > 5 and self.path == "/tmp":
                raise OptionError("size", "at most 5 in /tmp")

Supported types: str, int, float, bool, Literal[...], list[T], dict[str, T], T | None, a
nested Options subclass, a union of those, and Any (taken as it is). Problems are returned
with the path of the offending key, so the loader can point at `FILE:LINE:COL`.

Why not dataclasses: creating a dataclass costs about a millisecond and importing the module
several more, and `automations validate` must start about as fast as a bare YAML parse
(issue 2). This base class does the little we need.

Strings may hold `${VAR}` / `${VAR:-default}`, expanded from the environment when the step
runs. Options are therefore converted twice: at load time, where a templated value is
accepted for any scalar field and its checks wait; and at run time, after expansion, with
every check applied. An option declared `expand=False` is passed on as written (only `$${`
becomes `${`): a `run` command, which its shell expands from its environment, so that no
value of a variable lands on the shell's argv (#10).
"""
from __future__ import annotations

import functools
import operator
import re
import sys
import types
import typing
from collections.abc import Callable
from typing import Any, ClassVar, Literal, Union

# Where a value sits: its mapping keys (YAML scalars) and list indices (int), from `with:` or from the top of
# the file (automations.engine.yamltree); a pattern of unexpanded_paths() may hold "*".
KeyPath = tuple[str | int | float, ...]

_MISSING: Any = type("MISSING", (), {"__repr__": lambda self: "MISSING"})()


class TemplateStr(str):
    """A string still holding `${...}`: its value is known only at run time."""


class ExpandedStr(str):
    """A string that came from expanding a template; it may stand for a number or a bool."""


class OptionProblem:
    """One problem with an option, and where it is.

    A plain class, not a typing.NamedTuple: a NamedTuple's annotations (strings, with
    `from __future__ import annotations`) are compiled with compile(), whose first call in a
    process builds the types of the `ast` module, about 2 ms of `automations validate` (a
    twentieth of its start). The same goes for typing.get_type_hints: see _type_hints."""

    __slots__ = ("path", "message", "at_key", "kind")

    def __init__(self, path: KeyPath, message: str, at_key: bool = False, kind: str = "value") -> None:
        self.path = path
        self.message = message
        self.at_key = at_key  # point at the key itself rather than its value
        # What is wrong, for a caller that words problems in its own terms (the loader, for the
        # engine's keys): "type" (wrong kind of value), "value" (right kind, refused: a range, a
        # pattern, a choice, a check), "unknown" (key), "key" (a mapping key refused), "missing",
        # "exclusive" (not exactly one of `exactly_one_of`).
        self.kind = kind

    def below(self, depth: int) -> OptionProblem:
        """The same problem, its path seen from `depth` keys down."""
        return OptionProblem(self.path[depth:], self.message, self.at_key, self.kind)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OptionProblem) and (self.path, self.message, self.at_key, self.kind) == (
            other.path, other.message, other.at_key, other.kind)

    def __repr__(self) -> str:
        return f"OptionProblem({self.path!r}, {self.message!r}, at_key={self.at_key!r}, kind={self.kind!r})"


def option_name(path: KeyPath, root: str = "with") -> str:
    """How the user wrote the option's key: `with.size`, `with.secrets[0].env`. Error messages
    start with it, so a position is never the only clue."""
    name = root
    for part in path:
        name += f"[{part}]" if isinstance(part, int) else f".{part}"
    return name


class OptionError(ValueError):
    """Raised from `Options.validate()` for checks across options."""

    def __init__(self, key: str | KeyPath, message: str) -> None:
        super().__init__(message)
        self.path: KeyPath = (key,) if isinstance(key, str) else tuple(key)
        self.message = message


class OptionSpec:
    """What `option()` declares; becomes an `OptionField` once its class is complete."""

    __slots__ = ("default", "default_factory", "metadata")

    def __init__(self, default: Any, default_factory: Any, metadata: dict[str, Any]) -> None:
        self.default = default
        self.default_factory = default_factory
        self.metadata = metadata


def option(
    default: Any = _MISSING,
    *,
    default_factory: Callable[[], Any] | Any = _MISSING,
    key: str | None = None,
    help: str = "",
    pattern: str | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
    min_items: int | None = None,
    key_pattern: str | None = None,
    problem: str | None = None,
    check: Callable[[Any], str | None] | None = None,
    secret: bool = False,
    expand: bool = True,
    argv: bool = False,
) -> Any:
    """Declare one option. `key` is the YAML key (default: the attribute name); `above` is an
    exclusive minimum; `min_items` the shortest list; `pattern` applies to a string or to each
    string of a list, `key_pattern` to each key of a mapping; `problem` is the one message
    (formatted with `{value!r}`) a caller such as the loader gives for any problem with the
    value (the engine's keys keep their established wording that way); `check`
    returns an error message or None; `secret` values are never shown by `automations steps`;
    `expand=False` leaves `${...}` in the value as written, for the program the value is
    handed to (a shell) to expand from its environment; `argv=True` says the value becomes a
    command line run without a shell, where a step's output (`${{ ...outputs... }}`) is refused:
    it would be on the command's argv. Mutable defaults need `default_factory`."""
    if isinstance(default, (list, dict, set)):
        raise TypeError("use default_factory for a mutable default")
    metadata = {"key": key, "help": help, "pattern": pattern, "minimum": minimum,
                "maximum": maximum, "above": above, "min_items": min_items, "key_pattern": key_pattern, "problem": problem, "check": check, "secret": secret, "expand": expand,
                "argv": argv}
    return OptionSpec(default, default_factory, metadata)


class OptionField:
    """One declared option, as `automations steps` and the converter see it."""

    __slots__ = ("name", "key", "annotation", "default", "default_factory", "metadata", "_owner")

    def __init__(self, name: str, spec: OptionSpec, owner: type) -> None:
        self.name = name
        self.key = spec.metadata.get("key") or name
        self.default = spec.default
        self.default_factory = spec.default_factory
        self.metadata = spec.metadata
        self._owner = owner

    @property
    def required(self) -> bool:
        return self.default is _MISSING and self.default_factory is _MISSING

    def default_value(self) -> Any:
        if self.default_factory is not _MISSING:
            return self.default_factory()
        return None if self.default is _MISSING else self.default

    @property
    def type(self) -> Any:
        # Annotations are strings (from __future__ import annotations): resolved on first use.
        return _type_hints(self._owner)[self.name]

    @property
    def help(self) -> str:
        return self.metadata.get("help") or ""


_HINTS: dict[type, dict[str, Any]] = {}


def _type_hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = _evaluated_annotations(cls)
    return _HINTS[cls]


def _evaluated_annotations(cls: type) -> dict[str, Any]:
    """What typing.get_type_hints(cls) gives, for annotations written as strings (`from
    __future__ import annotations`), evaluated as it does: a name is looked up in the
    declaring class's module, then in the class, then in builtins. Not get_type_hints itself:
    it compiles each string with compile(), whose first call in a process costs about 2 ms of
    `automations validate` (see OptionProblem); eval() of a string does not. Anything else
    (annotations that are objects, which may hold forward references) goes to get_type_hints."""
    hints: dict[str, Any] = {}
    for base in reversed(cls.__mro__):
        annotations = base.__dict__.get("__annotations__", {})
        if not all(isinstance(value, str) for value in annotations.values()):
            return typing.get_type_hints(cls)
        module = sys.modules.get(base.__module__)
        module_names = dict(vars(module)) if module is not None else {}
        class_names = dict(vars(base))
        for name, value in annotations.items():
            try:
                hints[name] = eval(value, class_names, module_names)  # the class's own annotations
            except Exception:
                return typing.get_type_hints(cls)  # its error, as before
    return hints


class Options:
    """Base class of every step's options (and of nested option groups)."""

    __option_fields__: ClassVar[dict[str, OptionField]] = {}
    # Keys of which a mapping must hold exactly one (checked by the converter, stated by the schema).
    exactly_one_of: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields: dict[str, OptionField] = {}
        for base in reversed(cls.__mro__[1:]):
            fields.update(getattr(base, "__option_fields__", {}))
        for name, annotation in cls.__dict__.get("__annotations__", {}).items():
            if name.startswith("_") or "ClassVar" in str(annotation):
                continue
            declared = cls.__dict__.get(name, _MISSING)
            spec = declared if isinstance(declared, OptionSpec) else OptionSpec(declared, _MISSING, {})
            fields[name] = OptionField(name, spec, cls)
            if name in cls.__dict__:
                delattr(cls, name)  # the value lives on the instance
        cls.__option_fields__ = fields

    def __init__(self, **values: Any) -> None:
        for name, f in self.__option_fields__.items():
            if name in values:
                setattr(self, name, values.pop(name))
            elif f.required:
                raise TypeError(f"{type(self).__name__}: missing option {f.key!r}")
            else:
                setattr(self, name, f.default_value())
        if values:
            raise TypeError(f"{type(self).__name__}: unknown options {sorted(values)}")
        self.validate()

    def validate(self) -> None:
        """Checks across options; raise OptionError(key, message)."""

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({inner})"


def unexpanded_paths(options_class: type) -> list[KeyPath]:
    """Where in `with:` the options declared `expand=False` are, nested option groups
    included; "*" stands for any list index or mapping key."""
    return _paths_where(options_class, lambda metadata: not metadata.get("expand", True))


def argv_paths(options_class: type) -> list[KeyPath]:
    """Where in `with:` the options declared `argv=True` are (as `unexpanded_paths`)."""
    return _paths_where(options_class, lambda metadata: bool(metadata.get("argv")))


def _paths_where(options_class: type, flagged: Callable[[typing.Mapping[str, Any]], bool]) -> list[KeyPath]:
    paths: list[KeyPath] = []
    for f in fields_of(options_class):
        if flagged(f.metadata):
            paths.append((f.key,))
            continue
        for inner, prefix in _option_groups(f.type):
            paths.extend((f.key, *prefix, *path) for path in _paths_where(inner, flagged))
    return paths


def matches_path(pattern: KeyPath, path: KeyPath) -> bool:
    """Whether `path` is the one `pattern` describes ("*": any key or index)."""
    return len(pattern) == len(path) and all(p == "*" or p == q for p, q in zip(pattern, path, strict=True))


def _option_groups(tp: Any, prefix: KeyPath = ()) -> list[tuple[type, KeyPath]]:
    """The option classes inside a type (through unions, lists and mappings), with the path
    elements leading to them."""
    if _is_options(tp):
        return [(tp, prefix)]
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        return [found for arg in args for found in _option_groups(arg, prefix)]
    if origin in (list, dict) and args:
        return _option_groups(args[-1], prefix + ("*",))
    return []


def fields_of(options_class: type) -> list[OptionField]:
    if "__dataclass_fields__" in vars(options_class):
        return _dataclass_fields(options_class)
    return list(getattr(options_class, "__option_fields__", {}).values())


def _dataclass_fields(cls: type) -> list[OptionField]:
    """Plain dataclasses work as options too (with `option()` as the field default), for
    plugins written that way; the built-ins use `Options`, which starts faster."""
    import dataclasses

    result = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if isinstance(f.default, OptionSpec):
            spec = f.default
        else:
            spec = OptionSpec(_MISSING if f.default is dataclasses.MISSING else f.default,
                              _MISSING if f.default_factory is dataclasses.MISSING else f.default_factory,
                              dict(f.metadata))
        result.append(OptionField(f.name, spec, cls))
    return result


def _is_options(tp: Any) -> bool:
    return isinstance(tp, type) and (issubclass(tp, Options) or "__dataclass_fields__" in vars(tp))


def describe_type(tp: Any) -> str:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return "any"
    if origin is Literal:
        return " | ".join(repr(a) if not isinstance(a, str) else a for a in args)
    if origin in (Union, types.UnionType):
        return " | ".join(describe_type(a) for a in args if a is not type(None))
    if origin is list:
        return f"list of {describe_type(args[0])}"
    if origin is dict:
        return f"mapping of {describe_type(args[1])}"
    if _is_options(tp):
        keys = ", ".join(f.key for f in fields_of(tp))
        return "{" + keys + "}"
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(tp, getattr(tp, "__name__", str(tp)))


def convert(options_class: type, data: Any, *, load_time: bool) -> tuple[Any, list[OptionProblem]]:
    """Build `options_class` from `data`. Returns (instance or None, problems)."""
    problems: list[OptionProblem] = []
    value = _convert_options(options_class, {} if data is None else data, (), load_time, problems)
    return (value if not problems else None), problems


def _convert(tp: Any, value: Any, path: KeyPath, load_time: bool, problems: list[OptionProblem],
             metadata: typing.Mapping[str, Any] | None = None) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        return _convert_union(tp, args, value, path, load_time, problems, metadata)
    if _is_options(tp):
        return _convert_options(tp, value, path, load_time, problems)
    if origin is list:
        if not isinstance(value, list):
            problems.append(OptionProblem(path, f"expected a list, got {_kind(value)}", kind="type"))
            return None
        item_metadata = {"pattern": (metadata or {}).get("pattern"), "expand": (metadata or {}).get("expand", True)}
        items = [_convert(args[0], item, path + (i,), load_time, problems, item_metadata)
                 for i, item in enumerate(value)]
        check = (metadata or {}).get("check")  # e.g. "list at least one"; scalars check in _convert_scalar
        min_items = (metadata or {}).get("min_items")
        message = check(items) if check else None
        if min_items is not None and len(items) < min_items:
            message = f"expected at least {min_items} item{'s' if min_items != 1 else ''}"
        if message:
            problems.append(OptionProblem(path, message, kind="value"))
        return items
    if origin is dict:
        if not isinstance(value, dict):
            problems.append(OptionProblem(path, f"expected a mapping, got {_kind(value)}", kind="type"))
            return None
        out = {}
        key_pattern = (metadata or {}).get("key_pattern")
        for k, v in value.items():
            if not isinstance(k, str):
                problems.append(OptionProblem(path + (k,), "keys must be strings", at_key=True, kind="key"))
                continue
            if key_pattern and not re.fullmatch(key_pattern, k):
                problems.append(OptionProblem(path + (k,), f"{k!r} does not match {key_pattern}", at_key=True, kind="key"))
                continue
            out[k] = _convert(args[1], v, path + (k,), load_time, problems)
        return out
    return _convert_scalar(tp, value, path, load_time, problems, metadata or {})


def _convert_scalar(tp: Any, value: Any, path: KeyPath, load_time: bool,
                    problems: list[OptionProblem], metadata: typing.Mapping[str, Any]) -> Any:
    if isinstance(value, TemplateStr) and load_time and metadata.get("expand", True):
        return value  # checked at run time, once expanded
    if isinstance(value, ExpandedStr) and tp in (int, float, bool):
        value = _parse_expanded(tp, value)
        if value is None:
            problems.append(OptionProblem(path, f"expected {describe_type(tp)} after expanding ${{...}}", kind="type"))
            return None
    if typing.get_origin(tp) is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            # "type" when no choice is of the value's kind (a number where names are expected)
            kind = "value" if any(type(value) is type(choice) for choice in choices) else "type"
            problems.append(OptionProblem(path, f"expected one of {describe_type(tp)}, got {_show(value)}", kind=kind))
            return None
        return value
    ok = (isinstance(value, tp) and not (tp is int and isinstance(value, bool))) or (
        tp is float and isinstance(value, int) and not isinstance(value, bool))
    if not ok:
        problems.append(OptionProblem(path, f"expected {describe_type(tp)}, got {_kind(value)}", kind="type"))
        return None
    message = _check_constraints(value, metadata)
    if message:
        problems.append(OptionProblem(path, message, kind="value"))
        return None
    return float(value) if tp is float else value


def _check_constraints(value: Any, metadata: typing.Mapping[str, Any]) -> str | None:
    pattern = metadata.get("pattern")
    if pattern and not re.fullmatch(pattern, value):
        return f"{_show(value)} does not match {pattern}"
    above = metadata.get("above")
    if above is not None and value <= above:
        return f"{_show(value)} is out of range: must be more than {above:g}"
    minimum, maximum = metadata.get("minimum"), metadata.get("maximum")
    if minimum is not None and value < minimum or maximum is not None and value > maximum:
        low = "" if minimum is None else f"at least {minimum:g}"
        high = "" if maximum is None else f"at most {maximum:g}"
        return f"{_show(value)} is out of range: must be {' and '.join(x for x in (low, high) if x)}"
    check = metadata.get("check")
    return check(value) if check else None


def _parse_expanded(tp: Any, value: str) -> Any:
    text = value.strip()
    try:
        if tp is int:
            return int(text)
        if tp is float:
            return float(text)
    except ValueError:
        return None
    return {"true": True, "false": False}.get(text.lower()) if tp is bool else None


def _convert_union(tp: Any, args: tuple[Any, ...], value: Any, path: KeyPath, load_time: bool,
                   problems: list[OptionProblem], metadata: typing.Mapping[str, Any] | None) -> Any:
    if value is None and type(None) in args:
        return None
    candidates = [a for a in args if a is not type(None)]
    if len(candidates) == 1:
        return _convert(candidates[0], value, path, load_time, problems, metadata)
    # Try each alternative; the first that fits wins. If none fits but exactly one has the
    # right shape (mapping, list, scalar), its own problems say most precisely what is wrong.
    shaped = []
    for candidate in candidates:
        attempt: list[OptionProblem] = []
        result = _convert(candidate, value, path, load_time, attempt, metadata)
        if not attempt:
            return result
        if _shape_of(candidate) == _kind_shape(value):
            shaped.append(attempt)
    if len(shaped) == 1:
        problems.extend(shaped[0])
    else:
        problems.append(OptionProblem(path, f"expected {describe_type(tp)}, got {_kind(value)}", kind="type"))
    return None


def convert_keys(options_class: type, data: Any) -> tuple[dict[str, Any], list[OptionProblem]]:
    """One mapping checked against its declaration, the way the loader checks the engine's own
    keys (the top level, a task): it goes on past problems, so that a file's problems are all
    reported at once, and it checks what is nested in the mapping (the file's tasks, a task's
    steps) item by item itself. Returns the value of every declared key that has no problem
    (its default when absent), by attribute name, with option groups nested in a value left as
    written; and the problems. Engine keys are never `${...}`-expanded; `validate()` is not run."""
    problems: list[OptionProblem] = []
    if not isinstance(data, dict):
        problems.append(OptionProblem((), f"expected a mapping {describe_type(options_class)}, got {_kind(data)}",
                                      kind="type"))
        return {}, problems
    return _convert_keys(options_class, data, (), False, problems, shallow=True), problems


def _convert_options(cls: type, value: Any, path: KeyPath, load_time: bool,
                       problems: list[OptionProblem]) -> Any:
    if not isinstance(value, dict):
        problems.append(OptionProblem(path, f"expected a mapping {describe_type(cls)}, got {_kind(value)}", kind="type"))
        return None
    before = len(problems)
    kwargs = _convert_keys(cls, value, path, load_time, problems, shallow=False)
    if len(problems) > before:
        return None
    try:
        return cls(**kwargs)
    except OptionError as error:
        if load_time and _holds_template(kwargs):
            return None  # cross-field checks wait for the real values
        problems.append(OptionProblem(path + error.path, error.message, kind="value"))
        return None


def _convert_keys(cls: type, value: dict[Any, Any], path: KeyPath, load_time: bool, problems: list[OptionProblem],
                  shallow: bool) -> dict[str, Any]:
    """The converted value of each declared key of `value` that has no problem (the default
    of each absent one), by attribute name; the problems go to `problems`."""
    option_fields = fields_of(cls)
    by_key = {f.key: f for f in option_fields}
    for key in value:
        if key not in by_key:
            known = ", ".join(sorted(by_key)) or "none"
            problems.append(OptionProblem(path + (key,), f"unknown option (known: {known})", at_key=True, kind="unknown"))
    exclusive = getattr(cls, "exactly_one_of", ())
    if exclusive and sum(key in value for key in exclusive) != 1:
        problems.append(OptionProblem(path, "needs exactly one of " + ", ".join(exclusive), kind="exclusive"))
    values = {}
    for f in option_fields:
        if f.key in value:
            before = len(problems)
            tp = _without_option_groups(f.type) if shallow else f.type
            converted = _convert(tp, value[f.key], path + (f.key,), load_time, problems, f.metadata)
            if len(problems) == before:
                values[f.name] = converted
        elif f.required:
            problems.append(OptionProblem(path, f"missing required option {f.key!r}", kind="missing"))
        else:
            values[f.name] = f.default_value()
    return values


_SHALLOW: dict[Any, Any] = {}


def _without_option_groups(tp: Any) -> Any:
    """`tp` with every option group in it (through unions, lists and mappings) taken as it is
    written (Any): for a caller that checks those itself."""
    if tp not in _SHALLOW:
        _SHALLOW[tp] = _shallow(tp)
    return _SHALLOW[tp]


def _shallow(tp: Any) -> Any:
    if _is_options(tp):
        return Any
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        return functools.reduce(operator.or_, (_without_option_groups(arg) for arg in args))
    if origin is list and args:
        return types.GenericAlias(list, (_without_option_groups(args[0]),))
    if origin is dict and args:
        return types.GenericAlias(dict, (args[0], _without_option_groups(args[1])))
    return tp


def _holds_template(value: Any) -> bool:
    if isinstance(value, TemplateStr):
        return True
    if isinstance(value, dict):
        return any(_holds_template(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_holds_template(v) for v in value)
    if isinstance(value, Options) or hasattr(value, "__dataclass_fields__"):
        return any(_holds_template(v) for v in vars(value).values())
    return False


def _shape_of(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if _is_options(tp) or origin is dict:
        return "mapping"
    if origin is list:
        return "list"
    return "scalar"


def _kind_shape(value: Any) -> str:
    return "mapping" if isinstance(value, dict) else "list" if isinstance(value, list) else "scalar"


def _show(value: Any) -> str:
    # A value expanded from the environment may be a secret someone keeps there: never echo it.
    return "the value expanded from ${...}" if isinstance(value, ExpandedStr) else repr(value)


def _kind(value: Any) -> str:
    if isinstance(value, ExpandedStr):
        return "the value expanded from ${...}"
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return f"the string {value!r}" if len(value) <= 40 else "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
