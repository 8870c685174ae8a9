"""The JSON Schema (draft 2020-12) of automations.yaml, for editors (`# yaml-language-server:
$schema=...`) and CI.

Built from the loader's own rules (automations.engine.config) and from every step type's `Options`
(automations.engine.options), so it cannot drift from what `automations validate` accepts: a step's
`with:` is checked against the options of the step type its `uses:` names. What a schema
cannot say (cross-field checks, `check=` callables, dependency cycles) stays the loader's job:
the schema accepts a superset of valid files, never rejects a valid one.

Any string holding `${...}` is accepted wherever a scalar option is expected, as the loader
does: its value is known only when the step runs.
"""
from __future__ import annotations

import types
import typing
from typing import Any, Literal, Union

from automations.engine.config import ID_PATTERN, RETRY_KEYS, TRIGGERS
from automations.engine.options import _is_options, fields_of
from automations.retry import ERROR_CLASSES

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
TEMPLATE = {"type": "string", "pattern": r"\$\{"}
ENV_NAME = "^[A-Za-z_][A-Za-z0-9_]*$"


def build_schema(step_types: dict[str, type]) -> dict[str, Any]:
    """The whole file's schema; `step_types` maps `uses:` names to step classes."""
    options = {name: options_schema(cls.Options, summary=getattr(cls, "summary", "")) for name, cls in
               sorted(step_types.items())}
    defs: dict[str, Any] = {"task": _task_schema(), "step": _step_schema(sorted(step_types), "run" in step_types)}
    defs["options"] = options
    if "run" in step_types:
        # `run: CMD` is `uses: run` with the command given: `with:` takes the other options.
        shorthand = dict(options["run"])
        shorthand["properties"] = {k: v for k, v in shorthand.get("properties", {}).items() if k != "command"}
        shorthand["required"] = [k for k in shorthand.get("required", []) if k != "command"]
        defs["run-shorthand-options"] = shorthand
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "automations.yaml",
        "description": "Tasks to run at environment start: AWS login with the environment's OIDC token, "
                       "secrets into env files, commands.",
        "type": "object",
        "additionalProperties": False,
        "required": ["tasks"],
        "properties": {
            "tasks": {
                "type": "object",
                "description": "task id -> task",
                "propertyNames": {"pattern": ID_PATTERN.pattern},
                "additionalProperties": {"$ref": "#/$defs/task"},
            },
            "plugins": {
                "type": "array",
                "description": "step classes to load from the repository, as 'module:Class'",
                "items": {"type": "string", "pattern": r"^[\w.]+:[\w.]+$"},
            },
        },
        "$defs": defs,
    }


def _task_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "oneOf": [{"required": ["command"]}, {"required": ["steps"]}],
        "properties": {
            "name": {"type": "string"},
            "description": {"type": "string"},
            "triggeredBy": {"type": "array", "items": {"enum": list(TRIGGERS)},
                            "description": "events that start the task (default: manual)"},
            "dependsOn": {"type": "array", "items": {"type": "string", "pattern": ID_PATTERN.pattern},
                          "description": "tasks that must succeed first"},
            "env": {"type": "object", "propertyNames": {"pattern": ENV_NAME},
                    "additionalProperties": {"type": ["string", "number"]},
                    "description": "environment variables for the task's steps (${VAR} expanded)"},
            "command": {"type": "string", "minLength": 1, "pattern": r"\S",
                        "description": "shorthand for one `run:` step"},
            "steps": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/step"}},
        },
    }


def _step_schema(names: list[str], has_run: bool) -> dict[str, Any]:
    retry = {name: ({"type": "integer", "minimum": 1} if kind is int else
                    {"type": "number", "minimum": 0} if name == "initialDelay" else
                    {"type": "number", "exclusiveMinimum": 0}) for name, kind in RETRY_KEYS.items()}
    dispatch: list[dict[str, Any]] = [
        {"if": {"required": ["uses"], "properties": {"uses": {"const": name}}},
         "then": {"properties": {"with": {"$ref": f"#/$defs/options/{name}"}}}}
        for name in names
    ]
    if has_run:
        dispatch.append({"if": {"required": ["run"]},
                         "then": {"properties": {"with": {"$ref": "#/$defs/run-shorthand-options"}}}})
    return {
        "type": "object",
        "additionalProperties": False,
        "oneOf": [{"required": ["uses"]}, {"required": ["run"]}],
        "properties": {
            "uses": {"enum": names, "description": "the step type"},
            "run": {"type": "string", "minLength": 1, "pattern": r"\S", "description": "a shell command"},
            "id": {"type": "string", "pattern": ID_PATTERN.pattern,
                   "description": "names the step's outputs for later steps"},
            "name": {"type": "string"},
            "with": {"type": "object", "description": "the step type's options"},
            "retry": {"type": "object", "additionalProperties": False,
                      "description": "overrides the step type's retries: these keys for every error class, "
                                     "a class's own mapping for that class",
                      "properties": {**retry, **{error_class: {"type": "object", "additionalProperties": False,
                                                               "properties": retry}
                                                 for error_class in ERROR_CLASSES}}},
            "timeout": {"type": "number", "exclusiveMinimum": 0, "description": "seconds"},
        },
        "allOf": dispatch,
    }


def options_schema(options_class: type, summary: str = "") -> dict[str, Any]:
    """An `Options` class (or an option dataclass) as an object schema."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field in fields_of(options_class):
        schema = type_schema(field.type, field.metadata)
        help_text = field.metadata.get("help") or ""
        if help_text:
            schema = {"description": help_text, **schema}
        if not field.required:
            default = _json_default(field.default_value())
            if default is not _NO_DEFAULT:
                schema["default"] = default
        else:
            required.append(field.key)
        properties[field.key] = schema
    result: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": properties}
    if summary:
        result = {"description": summary, **result}
    if required:
        result["required"] = required
    return result


def type_schema(tp: Any, metadata: typing.Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One option type (as `automations.engine.options` converts it) as a schema."""
    metadata = metadata or {}
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return {}
    if origin in (Union, types.UnionType):
        alternatives = [type_schema(a, metadata) for a in args if a is not type(None)]
        if type(None) in args:
            alternatives.append({"type": "null"})
        return alternatives[0] if len(alternatives) == 1 else {"anyOf": alternatives}
    if _is_options(tp):
        return options_schema(tp)
    if origin is list:
        return {"type": "array", "items": type_schema(args[0])}
    if origin is dict:
        return {"type": "object", "additionalProperties": type_schema(args[1])}
    if origin is Literal:
        return {"anyOf": [{"enum": list(args)}, TEMPLATE]}
    return _scalar_schema(tp, metadata)


def _scalar_schema(tp: Any, metadata: typing.Mapping[str, Any]) -> dict[str, Any]:
    kind = {str: "string", int: "integer", float: "number", bool: "boolean"}.get(tp)
    if kind is None:
        return {}
    schema: dict[str, Any] = {"type": kind}
    if metadata.get("pattern") and tp is str:
        schema["pattern"] = f"^(?:{metadata['pattern']})$"  # the loader uses re.fullmatch
    if metadata.get("minimum") is not None and tp in (int, float):
        schema["minimum"] = metadata["minimum"]
    if metadata.get("maximum") is not None and tp in (int, float):
        schema["maximum"] = metadata["maximum"]
    if tp is str and "pattern" not in schema:
        return schema  # any string, templated or not
    return {"anyOf": [schema, TEMPLATE]}


_NO_DEFAULT = object()


def _json_default(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, list) and all(isinstance(v, (str, int, float, bool)) for v in value):
        return value
    if isinstance(value, dict) and all(isinstance(v, (str, int, float, bool)) for v in value.values()):
        return value
    return _NO_DEFAULT
