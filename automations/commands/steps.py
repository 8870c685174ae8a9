from __future__ import annotations

import argparse
import os

from automations.config import find_config, load_config
from automations.errors import EXIT_OK, FatalError
from automations.options import describe_type, fields_of
from automations.output import Reporter
from automations.plugins import PluginError, StepRegistry


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    registry = StepRegistry()
    # Also show the `plugins:` of the configuration, when there is one.
    if args.config or os.environ.get("AUTOMATIONS_CONFIG"):
        load_config(find_config(args.config), registry)
    else:
        try:
            load_config(find_config(None), registry)
        except FatalError:
            pass
    status = EXIT_OK
    for name in registry.names():
        source = registry.source(name)
        assert source is not None
        try:
            cls = registry.load(name)
        except PluginError as error:
            reporter.error(str(error))
            status = 2
            continue
        options = [(f.key, describe_type(f.type), f.required, None if f.required else f.default_value(), f.help) for f in fields_of(cls.Options)]
        if reporter.json_output:
            reporter.event("step_type", name=name, origin=source.origin, target=source.target, summary=cls.summary,
                           options=[{"key": k, "type": t, "required": r, "default": d, "help": h}
                                    for k, t, r, d, h in options])
            continue
        reporter.print(f"{name}  ({source.origin}: {source.target})")
        if cls.summary:
            reporter.print(f"  {cls.summary}")
        for key, type_text, required, default, help_text in options:
            flag = "required" if required else "optional" if default is None else f"default {default!r}"
            reporter.print(f"    {key}: {type_text} ({flag}){'  ' + help_text if help_text else ''}")
    return status
