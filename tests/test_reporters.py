"""The reporters: one interface (automations.engine.report.base.Reporter), a text and a JSON
reporter chosen once by the CLI, the run history a listener of the same events."""
from __future__ import annotations

import ast
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from automations.engine.report.base import QUIET, Reporter
from automations.engine.report.json import JsonReporter
from automations.engine.report.text import TextReporter

COMMANDS = Path(__file__).resolve().parent.parent / "automations" / "cli" / "commands"


def text_reporter(**kwargs: Any) -> tuple[TextReporter, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    return TextReporter(out=out, err=err, **kwargs), out, err


def json_events(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_commands_result_is_its_wording_in_text() -> None:
    reporter, out, err = text_reporter()

    reporter.result("valid", ["a.yaml: ok", "  second line"], stderr=["a note"], tasks=2)

    assert (out.getvalue(), err.getvalue()) == ("a.yaml: ok\n  second line\n", "a note\n")


def test_a_commands_result_is_one_event_of_its_data_in_json() -> None:
    out = io.StringIO()

    JsonReporter(out=out, err=io.StringIO()).result("valid", ["a.yaml: ok"], stderr=["a note"], tasks=2)

    [event] = json_events(out)
    assert {k: v for k, v in event.items() if k != "time"} == {"event": "valid", "tasks": 2}


def test_the_json_reporter_never_reads_the_wording() -> None:
    def wording() -> Iterator[str]:
        raise AssertionError("the JSON reporter read the text")
        yield ""

    out = io.StringIO()
    JsonReporter(out=out).result("trust", wording(), allowed=True)

    assert json_events(out)[0]["allowed"] is True


class Listener:
    def __init__(self) -> None:
        self.heard: list[tuple[Any, ...]] = []

    def log(self, *args: Any) -> None:
        self.heard.append(("log", *args))

    def output(self, *args: Any) -> None:
        self.heard.append(("output", *args))

    def step_started(self, *args: Any) -> None:
        self.heard.append(("step_started", *args))

    def step_outputs(self, *args: Any) -> None:
        self.heard.append(("step_outputs", *args))

    def step_finished(self, *args: Any) -> None:
        self.heard.append(("step_finished", *args))

    def task_finished(self, *args: Any) -> None:
        self.heard.append(("task_finished", *args))


def a_run(reporter: Reporter) -> None:
    reporter.step_started("t", "run")
    reporter.log("t", "info", "an info")
    reporter.output("t", "a line")
    reporter.step_outputs("t", "run", {"profile": "default"})
    reporter.step_finished("t", "run", "ok", 0.5)
    reporter.task_finished("t", "ok", 0.5)


def test_a_listener_hears_every_run_event_whatever_the_console_shows() -> None:
    reporter, out, err = text_reporter(verbosity=QUIET)
    listener = Listener()
    reporter.listeners.append(listener)

    a_run(reporter)

    assert (out.getvalue(), err.getvalue()) == ("", "")
    assert listener.heard == [("step_started", "t", "run", 1), ("log", "t", "info", "an info"),
                              ("output", "t", "a line"), ("step_outputs", "t", "run", {"profile": "default"}),
                              ("step_finished", "t", "run", "ok", 0.5, "", 1), ("task_finished", "t", "ok", 0.5, "")]


def test_a_listener_hears_the_same_events_from_either_reporter() -> None:
    heard = []
    for reporter in (TextReporter(out=io.StringIO()), JsonReporter(out=io.StringIO())):
        listener = Listener()
        reporter.listeners.append(listener)
        a_run(reporter)
        heard.append(listener.heard)

    assert heard[0] == heard[1]


def test_text_output_imports_neither_the_json_reporter_nor_json(tmp_path: Path) -> None:
    (tmp_path / "automations.yaml").write_text("tasks:\n  hello:\n    steps:\n      - run: echo hi\n")
    # -X importtime: the import log of a real start-up (a test process has imported everything).
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "automations", "list"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)

    assert proc.returncode == 0, proc.stderr
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert "automations.engine.report.text" in imported  # the import log is really there
    assert not imported & {"json", "automations.engine.report.json"}


def test_no_command_asks_which_format_it_reports_in() -> None:
    # The reporter decides how a result looks; a command only says what happened.
    asking = []
    for path in COMMANDS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("json_output", "event", "color"):
                asking.append(f"{path.name}:{node.lineno}: .{node.attr}")
            if isinstance(node, ast.ImportFrom) and node.module in ("automations.engine.report.json",
                                                                    "automations.engine.report.text"):
                asking.append(f"{path.name}:{node.lineno}: imports {node.module}")
    assert asking == []
