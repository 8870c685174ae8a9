"""Where a step's variables go (automations.engine.variables): the step hands them over with
the file that would keep them; `run` has the file write them, `exec` collects them for
COMMAND and writes nothing but the kinds of file it was told to keep."""
from __future__ import annotations

from collections.abc import Mapping

import pytest

from automations.engine.variables import CommandEnvironment, KeptInFiles
from automations.errors import StepFailed
from automations.files.envfile import EnvFile


class RecordingFile:
    """A VariableFile that remembers what it was asked to do."""

    name = "recorded"
    points_to: Mapping[str, str] = {"WHERE": "recorded"}

    def __init__(self, kind: str = "env-file") -> None:
        self.kind = kind
        self.checked = 0
        self.written: list[Mapping[str, str]] = []

    def check(self) -> None:
        self.checked += 1

    def write(self, values: Mapping[str, str]) -> bool:
        self.written.append(dict(values))
        return True


def test_run_has_the_file_write_the_values_and_says_where():
    file = RecordingFile()
    delivery = KeptInFiles().deliver({"A": "1"}, file)

    assert file.written == [{"A": "1"}]
    assert delivery == ("in recorded", "recorded", True)


def test_run_leaves_an_env_file_holding_the_same_values_untouched(tmp_path):
    path = tmp_path / ".env"
    first = KeptInFiles().deliver({"A": "one"}, EnvFile(path, name=".env"))
    mtime = path.stat().st_mtime_ns
    again = KeptInFiles().deliver({"A": "one"}, EnvFile(path, name=".env"))

    assert first.changed and again.unchanged
    assert path.stat().st_mtime_ns == mtime and path.stat().st_mode & 0o777 == 0o600


def test_exec_collects_the_values_and_writes_nothing():
    file = RecordingFile()
    environment = CommandEnvironment()
    environment.check(file)
    delivery = environment.deliver({"A": "1", "B": "2"}, file, source="t/s")

    assert file.written == [] and file.checked == 0
    assert environment.variables() == {"A": "1", "B": "2"}
    assert delivery.file is None and not delivery.changed and not delivery.unchanged
    assert delivery.where == "in COMMAND's environment"


def test_exec_writes_a_kind_it_keeps_and_gives_what_points_to_it():
    file = RecordingFile(kind="aws-profile")
    environment = CommandEnvironment(keep=frozenset({"aws-profile"}))
    environment.check(file)
    delivery = environment.deliver({"KEY": "secret"}, file)

    assert file.checked == 1 and file.written == [{"KEY": "secret"}]
    assert environment.variables() == {"WHERE": "recorded"}
    assert delivery.file == "recorded"


def test_a_later_value_replaces_an_earlier_one_said_by_name_only():
    said: list[str] = []
    environment = CommandEnvironment()
    environment.deliver({"KEY": "first-value"}, RecordingFile(), source="boot/login", log=said.append)
    environment.deliver({"KEY": "second-value"}, RecordingFile(), source="boot/assume", log=said.append)
    environment.deliver({"KEY": "second-value"}, RecordingFile(), source="boot/again", log=said.append)

    assert environment.variables() == {"KEY": "second-value"}
    assert said == ["KEY for COMMAND now comes from boot/assume, replacing the value from boot/login"]
    assert environment.source("KEY") == "boot/again"


def test_a_value_no_environment_can_carry_fails_naming_the_variable():
    with pytest.raises(StepFailed, match="^KEY holds a NUL character") as raised:
        CommandEnvironment().deliver({"KEY": "a\0b-secret"}, RecordingFile())
    assert "secret" not in str(raised.value)
