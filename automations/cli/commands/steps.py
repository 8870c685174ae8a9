from __future__ import annotations

import argparse
import os
import types
import typing
from collections.abc import Iterator
from typing import Any, Literal, Union

from automations.engine.config import config_if_any, load_config
from automations.engine.options import OptionField, describe_type, fields_of
from automations.engine.plugins import PluginError, StepRegistry
from automations.engine.report.base import Reporter
from automations.engine.step import Output, declared_outputs
from automations.errors import EXIT_OK, FatalError


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    registry = StepRegistry()
    # Also show the `plugins:` of the configuration, when there is one.
    config = config_if_any(args.config)
    if config is not None:
        try:
            load_config(config, registry)
        except FatalError:
            if args.config or os.environ.get("AUTOMATIONS_CONFIG"):
                raise  # the file asked for must load; the nearest may be half-written
    status = EXIT_OK
    for name in registry.names():
        source = registry.source(name)
        assert source is not None
        try:
            cls = registry.load(name)
        except PluginError as error:
            reporter.traceback(error)
            reporter.error(str(error))
            status = 2
            continue
        fields = fields_of(cls.Options)
        outputs = declared_outputs(cls)
        reporter.result("step_type", _describe(name, source, cls.summary, fields, outputs), name=name,
                        origin=source.origin, target=source.target, summary=cls.summary,
                        options=[{"key": f.key, "type": describe_type(f.type), "required": f.required,
                                  "default": None if f.required else f.default_value(), "help": f.help,
                                  **_limits(f)} for f in fields],
                        # null: not declared, known when the step runs (a `run` step's)
                        outputs=None if outputs is None else [
                            {"name": n, "description": o.description, "secret": o.secret} for n, o in outputs.items()])
    return status


def _describe(name: str, source: Any, summary: str, fields: list[OptionField],
              outputs: dict[str, Output] | None) -> Iterator[str]:
    yield f"{name}  ({source.origin}: {source.target})"
    if summary:
        yield f"  {summary}"
    for f in fields:
        default = None if f.required else f.default_value()
        flags = ["required" if f.required else "optional" if default is None else f"default {default!r}"]
        flags += _describe_limits(_limits(f))
        yield f"    {f.key}: {describe_type(f.type)} ({'; '.join(flags)}){'  ' + f.help if f.help else ''}"
    if outputs is None:
        yield "  outputs: whatever it produces when it runs (${{ steps.ID.outputs.NAME }})"
    elif outputs:
        yield "  outputs (${{ steps.ID.outputs.NAME }}):"
        for output_name, output in outputs.items():
            secret = " (secret: masked)" if output.secret else ""
            yield f"    {output_name}{secret}{'  ' + output.description if output.description else ''}"


def _limits(field: OptionField) -> dict[str, Any]:
    """What the loader enforces beyond the type: minimum, maximum, pattern, choices."""
    limits = {k: field.metadata.get(k) for k in ("minimum", "maximum", "pattern")}
    choices = _choices(field.type)
    if choices:
        limits["choices"] = choices
    return {k: v for k, v in limits.items() if v is not None}


def _choices(tp: Any) -> list[Any] | None:
    if typing.get_origin(tp) is Literal:
        return list(typing.get_args(tp))
    alternatives = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (Union, types.UnionType) and len(alternatives) == 1:
        return _choices(alternatives[0])  # `Literal[...] | None`
    return None


def _describe_limits(limits: dict[str, Any]) -> list[str]:
    text = []
    if "minimum" in limits:
        text.append(f"at least {limits['minimum']:g}")
    if "maximum" in limits:
        text.append(f"at most {limits['maximum']:g}")
    if "pattern" in limits:
        text.append(f"matching {limits['pattern']}")
    # choices: the type already reads `bash | sh`
    return text
