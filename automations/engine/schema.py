"""The JSON Schema (draft 2020-12) of automations.yaml, for editors (`# yaml-language-server:
$schema=...`) and CI.

Built from the declarations of the engine's keys (automations.engine.keys) and of every step type's `Options`
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
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, Union

from automations.engine.keys import FileKeys, StepKeys, TaskKeys
from automations.engine.options import _is_options, fields_of

if TYPE_CHECKING:
    from automations.engine.step import Step

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
TEMPLATE = {"type": "string", "pattern": r"\$\{"}


def build_schema(step_types: Mapping[str, type[Step[Any]]]) -> dict[str, Any]:
    """The whole file's schema; `step_types` maps `uses:` names to step classes."""
    names = sorted(step_types)
    options = {name: _with_outputs(options_schema(step_types[name].Options,
                                                  summary=getattr(step_types[name], "summary", "")), step_types[name])
               for name in names}
    defs: dict[str, Any] = {"task": _task_schema(), "step": _step_schema(names, "run" in step_types)}
    defs["options"] = options
    if "run" in step_types:
        # `run: CMD` is `uses: run` with the command given: `with:` takes the other options.
        shorthand = dict(options["run"])
        shorthand["properties"] = {k: v for k, v in shorthand.get("properties", {}).items() if k != "command"}
        shorthand["required"] = [k for k in shorthand.get("required", []) if k != "command"]
        defs["run-shorthand-options"] = shorthand
    top = options_schema(FileKeys)
    _mapping_in(top["properties"]["tasks"])["additionalProperties"] = {"$ref": "#/$defs/task"}
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "automations.yaml",
        "description": "Tasks to run at environment start: AWS login with the environment's OIDC token, "
                       "secrets into env files, commands.",
        **top,
        "$defs": defs,
    }


def _mapping_in(schema: dict[str, Any]) -> dict[str, Any]:
    """The object schema of a key that may also be null (`tasks:` with nothing under it)."""
    return next((s for s in schema.get("anyOf", []) if s.get("type") == "object"), schema)


def _with_outputs(schema: dict[str, Any], step_type: type) -> dict[str, Any]:
    """The step type's declared outputs, as an annotation (`x-outputs`: name -> description;
    validators ignore it, editors may offer it) and in its description."""
    from automations.engine.step import declared_outputs

    outputs = declared_outputs(step_type)
    if not outputs:
        return schema
    listed = ", ".join(outputs)
    description = schema.get("description", "")
    return {**schema, "description": f"{description} (outputs: {listed})".strip(),
            "x-outputs": {name: output.description for name, output in outputs.items()}}


def _task_schema() -> dict[str, Any]:
    task = options_schema(TaskKeys)
    task["properties"]["steps"]["items"] = {"$ref": "#/$defs/step"}
    return task


def _step_schema(names: list[str], has_run: bool) -> dict[str, Any]:
    """StepKeys, with `uses:` limited to the known step types and `with:` checked against the
    options of the type `uses:` names."""
    dispatch: list[dict[str, Any]] = [
        {"if": {"required": ["uses"], "properties": {"uses": {"const": name}}},
         "then": {"properties": {"with": {"$ref": f"#/$defs/options/{name}"}}}}
        for name in names
    ]
    if has_run:
        dispatch.append({"if": {"required": ["run"]},
                         "then": {"properties": {"with": {"$ref": "#/$defs/run-shorthand-options"}}}})
    step = options_schema(StepKeys)
    step["properties"]["uses"] = {**step["properties"]["uses"], "enum": names}
    step["properties"]["with"] = {"type": "object", "description": step["properties"]["with"]["description"]}
    step["allOf"] = dispatch
    return step


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
            if default is not _NO_DEFAULT and default is not None:
                schema["default"] = default
        else:
            required.append(field.key)
        properties[field.key] = schema
    result: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": properties}
    if summary:
        result = {"description": summary, **result}
    if required:
        result["required"] = required
    exclusive = getattr(options_class, "exactly_one_of", ())
    if exclusive:
        result["oneOf"] = [{"required": [key]} for key in exclusive]
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
        array: dict[str, Any] = {"type": "array",
                                 "items": type_schema(args[0], {"pattern": metadata.get("pattern"),
                                                                "expand": metadata.get("expand", True)})}
        if metadata.get("min_items") is not None:
            array["minItems"] = metadata["min_items"]
        return array
    if origin is dict:
        mapping: dict[str, Any] = {"type": "object"}
        if metadata.get("key_pattern"):
            mapping["propertyNames"] = {"pattern": f"^(?:{metadata['key_pattern']})$"}
        mapping["additionalProperties"] = type_schema(args[1], {"expand": metadata.get("expand", True)})
        return mapping
    if origin is Literal:
        return _or_template({"enum": list(args)}, metadata)
    return _scalar_schema(tp, metadata)


def _or_template(schema: dict[str, Any], metadata: typing.Mapping[str, Any]) -> dict[str, Any]:
    """A `${...}` string is accepted for a value expanded when the step runs, not for one kept
    as written (`expand=False`: engine keys, a shell command)."""
    return {"anyOf": [schema, TEMPLATE]} if metadata.get("expand", True) else schema


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
    if metadata.get("above") is not None and tp in (int, float):
        schema["exclusiveMinimum"] = metadata["above"]
    if tp is str and "pattern" not in schema:
        return schema  # any string, templated or not
    return _or_template(schema, metadata)


_NO_DEFAULT = object()


def _json_default(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, list) and all(isinstance(v, (str, int, float, bool)) for v in value):
        return value
    if isinstance(value, dict) and all(isinstance(v, (str, int, float, bool)) for v in value.values()):
        return value
    return _NO_DEFAULT
