"""`automations schema`: the JSON Schema of automations.yaml with every installed step type
and the step classes the configuration lists under `plugins:` (the one -c or
$AUTOMATIONS_CONFIG names, else the nearest, as `automations steps` does)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from automations.engine.config import config_if_any
from automations.errors import EXIT_OK
from automations.engine.report.base import Reporter
from automations.engine.plugins import PluginError, StepRegistry


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    registry = StepRegistry()
    config = config_if_any(args.config)
    if config is not None:
        _add_listed_plugins(registry, config, reporter)
    step_types = {}
    for name in registry.names():
        try:
            step_types[name] = registry.load(name)
        except PluginError as error:  # one broken plugin must not hide the others' options
            reporter.traceback(error)
            reporter.warning(f"left out of the schema: {error}")
    from automations.engine.schema import build_schema

    print(json.dumps(build_schema(step_types), indent=args.indent or None), file=reporter.out)
    return EXIT_OK


def _add_listed_plugins(registry: StepRegistry, path: Path, reporter: Reporter) -> None:
    """The `plugins:` entries, read without validating the rest: a half-written file still
    gives its plugins' options to the editor."""
    import yaml

    config = path.name
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        reporter.warning(f"cannot read the plugins of {config}: {error}")
        return
    for target in data.get("plugins") or [] if isinstance(data, dict) else []:
        try:
            registry.add_listed(str(target), path.parent, str(config))
        except PluginError as error:
            reporter.warning(f"left out of the schema: {error}")
