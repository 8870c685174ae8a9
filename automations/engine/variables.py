"""Where the variables a step produces go: the step says what they are and which file would
keep them; the command that runs the step decides (issue 14).

- `automations run` keeps them in their files (`KeptInFiles`): each `VariableFile` writes
  itself, atomically, 0600, all or nothing, leaving an unchanged file untouched.
- `automations exec` hands them to COMMAND's environment (`CommandEnvironment`) and writes
  nothing, except the kinds of file it was told to keep (`--profile-files`).

A step never asks which it is: it calls `ctx.variables.deliver(values, file)` and words its
message with the `Delivery` it gets back. A `VariableFile` is anything with the few members
below: an env file (automations.files.envfile.EnvFile), an AWS profile
(automations.aws.login.AwsProfileFile), or a plugin's own.
"""
from __future__ import annotations

import _thread  # threading.Lock is _thread.allocate_lock; threading itself waits for a run (start-up)
from collections.abc import Callable, Mapping
from typing import NamedTuple, Protocol

from automations.errors import StepFailed


class VariableFile(Protocol):
    """A file that keeps a step's variables when the run keeps them on disk."""

    @property
    def kind(self) -> str:
        """Which kind of file: "env-file", "aws-profile" (what `exec --profile-files` keeps)."""
        ...

    @property
    def name(self) -> str:
        """How messages name it: the path as automations.yaml wrote it, "profile 'dev'"."""
        ...

    @property
    def points_to(self) -> Mapping[str, str]:
        """Variables that lead a program to the kept file instead of the values (AWS_PROFILE)."""
        ...

    def check(self) -> None:
        """Raise StepFailed now for what `write` would refuse (an unwritable path), before the
        step does its work; change nothing on disk that holds a secret."""
        ...

    def write(self, values: Mapping[str, str]) -> bool:
        """Keep `values` in the file's own form; False when it already held exactly them."""
        ...


class Delivery(NamedTuple("_DeliveryFields", [
    ("where", str),             # "in .env", "in COMMAND's environment"
    ("file", str | None),       # the file written (None: no file)
    ("changed", bool),          # the file's contents changed
])):
    """Where a step's variables went, for its message and outputs. (A NamedTuple in the
    functional form, its types as objects: see automations.engine.references.Reference.)"""

    @property
    def unchanged(self) -> bool:
        """A file that already held exactly these values (and was left untouched)."""
        return self.file is not None and not self.changed


class VariableDestination(Protocol):
    """What the engine gives a step as `ctx.variables`."""

    def check(self, file: VariableFile) -> None: ...

    def deliver(self, values: Mapping[str, str], file: VariableFile, *, source: str = "",
                log: Callable[[str], None] = lambda message: None) -> Delivery: ...


class KeptInFiles:
    """`automations run`: every file keeps its variables."""

    def check(self, file: VariableFile) -> None:
        file.check()

    def deliver(self, values: Mapping[str, str], file: VariableFile, *, source: str = "",
                log: Callable[[str], None] = lambda message: None) -> Delivery:
        changed = file.write(values)
        return Delivery(f"in {file.name}", file.name, changed)


COMMAND_ENVIRONMENT = "COMMAND's environment"


class CommandEnvironment:
    """`automations exec`: the variables of every step, collected for COMMAND's environment;
    nothing written but the kinds of file in `keep`. Steps of concurrent tasks deliver at
    once: a lock guards the collection."""

    def __init__(self, keep: frozenset[str] = frozenset()) -> None:
        self.keep = keep
        self._variables: dict[str, str] = {}
        self._sources: dict[str, str] = {}
        self._lock = _thread.allocate_lock()

    def check(self, file: VariableFile) -> None:
        if file.kind in self.keep:
            file.check()

    def deliver(self, values: Mapping[str, str], file: VariableFile, *, source: str = "",
                log: Callable[[str], None] = lambda message: None) -> Delivery:
        """Add `values` (or, for a kept file, what points to it); a later step's value for a
        name replaces an earlier one's (a chained login's credentials replace the first's),
        said at -v by name, never by value."""
        if file.kind in self.keep:
            changed = file.write(values)
            given, delivery = dict(file.points_to), Delivery(f"in {file.name}", file.name, changed)
        else:
            given, delivery = dict(values), Delivery(f"in {COMMAND_ENVIRONMENT}", None, False)
        for name, value in given.items():
            if "\0" in value:  # execve cannot carry it; a file could (json), an environment cannot
                raise StepFailed(f"{name} holds a NUL character, which no process environment can carry")
        with self._lock:
            for name, value in given.items():
                earlier = self._sources.get(name)
                if earlier is not None and self._variables[name] != value:
                    log(f"{name} for COMMAND now comes from {source or 'this step'}, replacing the value from {earlier}")
                self._variables[name] = value
                self._sources[name] = source or "a step"
        return delivery

    def variables(self) -> dict[str, str]:
        with self._lock:
            return dict(self._variables)

    def source(self, name: str) -> str:
        with self._lock:
            return self._sources.get(name, "")
