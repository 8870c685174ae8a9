"""Finding step types: the entry-point group `automations.steps` of installed distributions
(the built-ins in `tasks/` are registered the same way) plus the classes a configuration
lists under `plugins:`. A step module is imported only when a configuration uses its step
type (or `automations steps` lists them all), so start-up stays fast.
"""
from __future__ import annotations

import importlib
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from automations.engine.step import Step

ENTRY_POINT_GROUP = "automations.steps"


class PluginError(Exception):
    """A step type cannot be used; the message names the plugin and where it came from."""


class StepSource:
    """Where a step type comes from: an entry point, or a `plugins:` entry of the config."""

    def __init__(self, name: str, target: str, origin: str, loaded: type[Step[Any]] | None = None) -> None:
        self.name = name
        self.target = target        # "module:Class"
        self.origin = origin        # e.g. "automations 0.1.0" or "plugins: in automations.yaml"
        self.loaded = loaded
        self.rivals: list[str] = []  # other origins claiming the same name


class StepRegistry:
    def __init__(self) -> None:
        self._sources: dict[str, StepSource] = {}
        self._discovered = False

    def _discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True
        for name, target, origin in _installed_entry_points():
            self._claim(StepSource(name, target, origin))

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

    def load(self, name: str) -> type[Step[Any]]:
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


def _installed_entry_points() -> list[tuple[str, str, str]]:
    """(name, "module:Class", origin) for every `automations.steps` entry point installed.

    Importing importlib.metadata and scanning every distribution costs more than the rest of
    `automations list` together, so the result is cached, keyed on the modification times
    of the sys.path entries: installing or removing a distribution changes its directory's
    mtime, and with it the key. The cache only says which installed distribution declares a
    name: each row is believed only if that distribution's own entry_points.txt, in a
    sys.path directory, declares the same name and target (issue 10), so an edited row can
    never name a module of its own."""
    search_path = _search_path()
    key = _sys_path_fingerprint(search_path)
    cache = _cache_path(key)
    cached = _read_cache(cache, key, search_path)
    if cached is not None:
        return cached
    from importlib.metadata import distributions

    found: list[tuple[str, str, str, str]] = []
    cacheable = True
    seen = set()
    for dist in distributions(path=search_path):
        # Like importlib.metadata.entry_points(): the first distribution of a name on the path
        # wins, whether or not it declares steps (a newer release earlier on the path that
        # dropped a step hides the older one's). The name comes from the .dist-info directory's
        # name where it can: reading every METADATA (an email parse) was 3/4 of the scan.
        project = getattr(dist, "_normalized_name", None) or re.sub(r"[-_.]+", "_", dist.name or "").lower()
        if project in seen:
            continue
        seen.add(project)
        entry_points = [ep for ep in dist.entry_points if ep.group == ENTRY_POINT_GROUP]
        if not entry_points:
            continue
        origin = f"{dist.name} {dist.version}"
        location = getattr(dist, "_path", None)  # the .dist-info directory (PathDistribution)
        cacheable = cacheable and location is not None
        found.extend((ep.name, ep.value, origin, os.path.abspath(str(location))) for ep in entry_points)
    if cacheable:
        _write_cache(cache, key, found)
    return [row[:3] for row in found]


def _search_path() -> list[str]:
    """Where installed distributions are: sys.path, less the working directory `python -m`
    (or -c) puts first, which holds whatever the directory we run in holds, not what was
    installed (issue 10). A directory also on sys.path for another reason stays."""
    path = list(sys.path)
    if path and not getattr(sys.flags, "safe_path", False) and path[0] in ("", os.getcwd()) \
            and path[0] not in path[1:]:
        path = path[1:]
    return path


def _read_cache(cache: Path, key: str, search_path: list[str]) -> list[tuple[str, str, str]] | None:
    # The cache is text: the key's lines, two blank lines, then "name\ttarget\torigin\tdist-info" lines.
    try:
        if not _trusted_cache_dir(cache.parent) or not _is_ours(cache):
            return None
        stored_key, _, rows = cache.read_text(encoding="utf-8").partition("\n\n\n")
    except (OSError, UnicodeDecodeError):
        return None
    if stored_key != key:
        return None
    parsed = [tuple(row.split("\t")) for row in rows.splitlines()]
    if any(len(row) != 4 for row in parsed):
        return None
    claimed: dict[str, set[tuple[str, str]]] = {}
    for name, target, _, location in parsed:
        claimed.setdefault(location, set()).add((name, target))
    directories = {os.path.abspath(entry or ".") for entry in search_path}
    for location, rows_of_dist in claimed.items():
        declared = _declared_steps(Path(location), directories)
        if declared != rows_of_dist:
            return None  # stale or edited: scan the installed distributions again
    return [(name, target, origin) for name, target, origin, _ in parsed]


def _declared_steps(location: Path, directories: set[str]) -> set[tuple[str, str]] | None:
    """The (name, target) pairs the distribution at `location` declares in its own
    entry_points.txt; None unless it is a .dist-info/.egg-info directory on the search path."""
    if location.suffix not in (".dist-info", ".egg-info") or os.path.abspath(location.parent) not in directories:
        return None
    try:
        text = (location / "entry_points.txt").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    declared, group = set(), None
    for line in text.splitlines():  # the INI-like format importlib.metadata reads
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line[1:-1].strip()
        elif group == ENTRY_POINT_GROUP and "=" in line:
            name, _, target = line.partition("=")
            declared.add((name.strip(), target.strip()))
    return declared


def _write_cache(cache: Path, key: str, found: list[tuple[str, str, str, str]]) -> None:
    try:
        from automations.files.atomicfile import write_atomic

        if not _trusted_cache_dir(cache.parent):
            return
        rows = "\n".join("\t".join(entry) for entry in found)
        write_atomic(cache, f"{key}\n\n\n{rows}\n".encode())
    except Exception:  # a cache that cannot be written only costs speed
        pass


def _trusted_cache_dir(directory: Path) -> bool:
    """A cache in a directory others can change is neither read nor written."""
    from automations.files.atomicfile import writable_by_others

    return writable_by_others(directory) is None


def _is_ours(path: Path) -> bool:
    info = os.stat(path)
    return info.st_uid == os.getuid() and not info.st_mode & 0o022


def _sys_path_fingerprint(search_path: list[str]) -> str:
    parts = [sys.version]
    for entry in search_path:
        try:
            parts.append(f"{entry}\0{os.stat(entry or '.').st_mtime_ns}")
        except OSError:
            parts.append(f"{entry}\0-")
    return "\n".join(parts)


def _cache_path(key: str) -> Path:
    # One file per sys.path: the console script and `python -m automations` (whose sys.path
    # starts with the working directory) would otherwise keep overwriting each other's.
    # binascii's CRC-32 is zlib's, and binascii is loaded already (by yaml): zlib would cost an import.
    import binascii

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "automations" / f"entry-points-{binascii.crc32(key.encode()):08x}.txt"


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
    from automations.engine.step import Step

    if not (isinstance(obj, type) and issubclass(obj, Step)):
        raise PluginError(f"{what}: {target} is not a subclass of automations.engine.step.Step")
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
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "tasks", package_dir / "__init__.py", submodule_search_locations=[str(package_dir)])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["tasks"] = module
    spec.loader.exec_module(module)
