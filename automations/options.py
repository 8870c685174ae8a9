"""Typed step options: a step's `with:` mapping becomes an instance of the step's options
dataclass, checked field by field.

A step declares its options as a plain dataclass whose fields use `option()`:

    @dataclass
    class Options:
        path: str = option(help="where to write")
        size: int = option(10, minimum=1, help="how many")

Supported field types: str, int, float, bool, Literal[...], list[T], dict[str, T], T | None,
a nested options dataclass, a union of those, and Any (taken as it is). Problems are returned
with the path of the offending key, so the loader can point at `FILE:LINE:COL`.

Strings may hold `${VAR}` / `${VAR:-default}`, expanded from the environment when the step
runs. Options are therefore converted twice: at load time, where a templated value is
accepted for any scalar field and its checks wait; and at run time, after expansion, with
every check applied.
"""
from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import MISSING, dataclass, field
from typing import Any, Callable, Literal, Union

Path = tuple  # a path of mapping keys (str) and list indices (int) inside `with:`


class TemplateStr(str):
    """A string still holding `${...}`: its value is known only at run time."""


class ExpandedStr(str):
    """A string that came from expanding a template; it may stand for a number or a bool."""


@dataclass(frozen=True)
class OptionProblem:
    path: Path
    message: str
    at_key: bool = False  # point at the key itself rather than its value


class OptionError(ValueError):
    """Raised from an options dataclass's __post_init__ for checks across fields."""

    def __init__(self, key: str | Path, message: str) -> None:
        super().__init__(message)
        self.path: Path = (key,) if isinstance(key, str) else tuple(key)
        self.message = message


def option(
    default: Any = MISSING,
    *,
    default_factory: Callable[[], Any] | Any = MISSING,
    key: str | None = None,
    help: str = "",
    pattern: str | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    check: Callable[[Any], str | None] | None = None,
    secret: bool = False,
) -> Any:
    """Declare one option. `key` is the YAML key (default: the field name); `check` returns
    an error message or None; `secret` values are never shown by `automations steps`."""
    metadata = {"key": key, "help": help, "pattern": pattern, "minimum": minimum,
                "maximum": maximum, "check": check, "secret": secret}
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class OptionField:
    """What `automations steps` (and the JSON schema) show of one option."""

    name: str
    key: str
    type: Any
    required: bool
    default: Any
    metadata: typing.Mapping[str, Any]

    @property
    def help(self) -> str:
        return self.metadata.get("help") or ""


def fields_of(options_class: type) -> list[OptionField]:
    hints = typing.get_type_hints(options_class)
    result = []
    for f in dataclasses.fields(options_class):
        if not f.init:
            continue
        required = f.default is MISSING and f.default_factory is MISSING
        default = f.default if f.default is not MISSING else (
            f.default_factory() if f.default_factory is not MISSING else None)
        result.append(OptionField(f.name, f.metadata.get("key") or f.name, hints[f.name],
                                  required, default, f.metadata))
    return result


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
    if dataclasses.is_dataclass(tp):
        keys = ", ".join(f.key for f in fields_of(tp))
        return "{" + keys + "}"
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(tp, getattr(tp, "__name__", str(tp)))


def convert(options_class: type, data: Any, *, load_time: bool) -> tuple[Any, list[OptionProblem]]:
    """Build `options_class` from `data`. Returns (instance or None, problems)."""
    problems: list[OptionProblem] = []
    value = _convert_dataclass(options_class, {} if data is None else data, (), load_time, problems)
    return (value if not problems else None), problems


def _convert(tp: Any, value: Any, path: Path, load_time: bool, problems: list[OptionProblem],
             metadata: typing.Mapping[str, Any] | None = None) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        return _convert_union(tp, args, value, path, load_time, problems, metadata)
    if dataclasses.is_dataclass(tp):
        return _convert_dataclass(tp, value, path, load_time, problems)
    if origin is list:
        if not isinstance(value, list):
            problems.append(OptionProblem(path, f"expected a list, got {_kind(value)}"))
            return None
        return [_convert(args[0], item, path + (i,), load_time, problems) for i, item in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            problems.append(OptionProblem(path, f"expected a mapping, got {_kind(value)}"))
            return None
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                problems.append(OptionProblem(path + (k,), "keys must be strings", at_key=True))
                continue
            out[k] = _convert(args[1], v, path + (k,), load_time, problems)
        return out
    return _convert_scalar(tp, value, path, load_time, problems, metadata or {})


def _convert_scalar(tp: Any, value: Any, path: Path, load_time: bool,
                    problems: list[OptionProblem], metadata: typing.Mapping[str, Any]) -> Any:
    if isinstance(value, TemplateStr) and load_time:
        return value  # checked at run time, once expanded
    if isinstance(value, ExpandedStr) and tp in (int, float, bool):
        value = _parse_expanded(tp, value)
        if value is None:
            problems.append(OptionProblem(path, f"expected {describe_type(tp)} after expanding ${{...}}"))
            return None
    if typing.get_origin(tp) is Literal:
        if value not in typing.get_args(tp):
            problems.append(OptionProblem(path, f"expected one of {describe_type(tp)}, got {_show(value)}"))
            return None
        return value
    ok = (isinstance(value, tp) and not (tp is int and isinstance(value, bool))) or (
        tp is float and isinstance(value, int) and not isinstance(value, bool))
    if not ok:
        problems.append(OptionProblem(path, f"expected {describe_type(tp)}, got {_kind(value)}"))
        return None
    message = _check_constraints(value, metadata)
    if message:
        problems.append(OptionProblem(path, message))
        return None
    return float(value) if tp is float else value


def _check_constraints(value: Any, metadata: typing.Mapping[str, Any]) -> str | None:
    pattern = metadata.get("pattern")
    if pattern and not re.fullmatch(pattern, value):
        return f"{_show(value)} does not match {pattern}"
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


def _convert_union(tp: Any, args: tuple, value: Any, path: Path, load_time: bool,
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
        problems.append(OptionProblem(path, f"expected {describe_type(tp)}, got {_kind(value)}"))
    return None


def _convert_dataclass(cls: type, value: Any, path: Path, load_time: bool,
                       problems: list[OptionProblem]) -> Any:
    if not isinstance(value, dict):
        problems.append(OptionProblem(path, f"expected a mapping {describe_type(cls)}, got {_kind(value)}"))
        return None
    option_fields = fields_of(cls)
    by_key = {f.key: f for f in option_fields}
    before = len(problems)
    for key in value:
        if key not in by_key:
            known = ", ".join(sorted(by_key)) or "none"
            problems.append(OptionProblem(path + (key,), f"unknown option {key!r} (known: {known})", at_key=True))
    kwargs = {}
    for f in option_fields:
        if f.key in value:
            kwargs[f.name] = _convert(f.type, value[f.key], path + (f.key,), load_time, problems, f.metadata)
        elif f.required:
            where = ".".join(str(p) for p in path)
            problems.append(OptionProblem(path, f"missing required option {f.key!r}" + (f" in {where}" if where else "")))
    if len(problems) > before:
        return None
    try:
        return cls(**kwargs)
    except OptionError as error:
        if load_time and _holds_template(kwargs):
            return None  # cross-field checks wait for the real values
        problems.append(OptionProblem(path + error.path, error.message))
        return None


def _holds_template(value: Any) -> bool:
    if isinstance(value, TemplateStr):
        return True
    if isinstance(value, dict):
        return any(_holds_template(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_holds_template(v) for v in value)
    if dataclasses.is_dataclass(value):
        return any(_holds_template(getattr(value, f.name)) for f in dataclasses.fields(value))
    return False


def _shape_of(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) or origin is dict:
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
