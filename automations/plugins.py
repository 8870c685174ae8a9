"""Finding step types: the entry-point group `automations.steps` of installed distributions
(the built-ins in `tasks/` are registered the same way) plus the classes a configuration
lists under `plugins:`. A step module is imported only when a configuration uses its step
type (or `automations steps` lists them all), so start-up stays fast.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from automations.step import Step

ENTRY_POINT_GROUP = "automations.steps"


class PluginError(Exception):
    """A step type cannot be used; the message names the plugin and where it came from."""


@dataclass
class StepSource:
    """Where a step type comes from: an entry point, or a `plugins:` entry of the config."""

    name: str
    target: str                 # "module:Class"
    origin: str                 # e.g. "automations 0.1.0" or "plugins: in automations.yaml"
    loaded: type[Step] | None = None
    rivals: list[str] = field(default_factory=list)  # other origins claiming the same name


class StepRegistry:
    def __init__(self) -> None:
        self._sources: dict[str, StepSource] = {}
        self._discovered = False

    def _discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True
        from importlib.metadata import entry_points

        for ep in entry_points(group=ENTRY_POINT_GROUP):
            dist = getattr(ep, "dist", None)
            origin = f"{dist.name} {dist.version}" if dist is not None else "an installed distribution"
            self._claim(StepSource(ep.name, ep.value, origin))

    def _claim(self, source: StepSource) -> None:
        existing = self._sources.get(source.name)
        if existing is None:
            self._sources[source.name] = source
        elif existing.target != source.target:
            existing.rivals.append(f"{source.origin} ({source.target})")

    def names(self) -> list[str]:
        self._discover()
        return sorted(self._sources)

    def source(self, name: str) -> StepSource | None:
        self._discover()
        return self._sources.get(name)

    def add_listed(self, target: str, config_dir: Path, config_name: str) -> str:
        """Import a class a configuration lists under `plugins:`; return its step name."""
        self._discover()
        cls = _import_target(target, f"plugin {target!r} listed in {config_name}", config_dir)
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            raise PluginError(f"plugin {target!r} has no step name (set the class attribute `name`)")
        source = StepSource(name, target, f"plugins: in {config_name}", loaded=cls)
        existing = self._sources.get(name)
        if existing is not None and existing.target != target:
            raise PluginError(f"plugin {target!r} claims the step name {name!r}, "
                              f"already provided by {existing.origin} ({existing.target})")
        self._sources[name] = source
        return name

    def load(self, name: str) -> type[Step]:
        source = self.source(name)
        if source is None:
            raise PluginError(f"unknown step type {name!r} (known: {', '.join(self.names()) or 'none'})")
        if source.rivals:
            claims = [f"{source.origin} ({source.target})", *source.rivals]
            raise PluginError(f"step type {name!r} is claimed by more than one plugin: "
                              + "; ".join(claims) + " (uninstall one of them)")
        if source.loaded is None:
            if source.target.split(".")[0].split(":")[0] == "tasks":
                _ensure_builtin_tasks_package()
            cls = _import_target(source.target, f"step plugin {name!r} from {source.origin}", None)
            if getattr(cls, "name", None) != name:
                raise PluginError(f"step plugin {name!r} from {source.origin}: class {source.target} "
                                  f"says its name is {getattr(cls, 'name', None)!r}")
            source.loaded = cls
        return source.loaded


def _import_target(target: str, what: str, search_dir: Path | None) -> Any:
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise PluginError(f"{what}: expected 'module:Class', got {target!r}")
    added = False
    if search_dir is not None and str(search_dir) not in sys.path:
        sys.path.insert(0, str(search_dir))
        added = True
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # a plugin's import can fail in any way; name the plugin
        raise PluginError(f"{what} failed to import: {type(error).__name__}: {error}") from error
    finally:
        if added:
            sys.path.remove(str(search_dir))
    obj: Any = module
    for part in attribute.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise PluginError(f"{what}: module {module_name!r} has no attribute {attribute!r}")
    from automations.step import Step

    if not (isinstance(obj, type) and issubclass(obj, Step)):
        raise PluginError(f"{what}: {target} is not a subclass of automations.step.Step")
    return obj


def _ensure_builtin_tasks_package() -> None:
    """Make `tasks` mean our built-in package, not a `tasks.py` in the working directory
    (invoke's convention) that Python may find first when the cwd is on sys.path."""
    import automations

    package_dir = Path(automations.__file__).resolve().parent.parent / "tasks"
    current = sys.modules.get("tasks")
    if current is not None and Path(getattr(current, "__file__", "") or "").resolve().parent == package_dir:
        return
    for name in [m for m in sys.modules if m == "tasks" or m.startswith("tasks.")]:
        del sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        "tasks", package_dir / "__init__.py", submodule_search_locations=[str(package_dir)])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["tasks"] = module
    spec.loader.exec_module(module)
