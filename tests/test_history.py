"""Run history: every `automations run` leaves one JSON-lines record per task and the task's
output, private, bounded, redacted, and complete when runs overlap."""
from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
from support.cli import AUTOMATIONS, run_cli

from automations.engine.report import history as history_module
from automations.engine.report.history import MAX_HISTORY_BYTES, RunHistory

SECRET = "s3cr3t-value-that-must-not-leak"

LEAKY_STEP = f'''
from dataclasses import dataclass
from automations.errors import StepFailed
from automations.engine.step import Step, StepResult

@dataclass
class LeakyOptions:
    pass

class LeakyStep(Step[LeakyOptions]):
    name = "leaky"
    Options = LeakyOptions

    def run(self, ctx):
        ctx.secret("{SECRET}")
        ctx.log.info("fetched {SECRET}")
        ctx.log.output("child printed {SECRET}")
        raise StepFailed("the service refused {SECRET}")
'''


def history_of(config: Path, env: dict[str, str]) -> RunHistory:
    return RunHistory(config, env)


@pytest.fixture
def project(write_config):
    return write_config("""
        tasks:
          hello:
            command: echo hello from the task
          broken:
            command: echo about to fail; exit 3
          after:
            dependsOn: [broken]
            command: echo never
        """)


def test_each_run_appends_one_record_per_task(project: Path, base_env: dict[str, str]) -> None:
    run_cli("run", "hello", cwd=project.parent, env=base_env)
    run_cli("run", "hello", cwd=project.parent, env=base_env)

    records = history_of(project, base_env).records("hello")
    assert [r["status"] for r in records] == ["ok", "ok"]
    assert records[0]["run"] != records[1]["run"]
    assert {"task", "start", "end", "status", "duration", "error", "steps"} <= set(records[0])
    assert records[1]["start"] <= records[1]["end"]


def test_history_lives_under_xdg_state_home(project: Path, base_env: dict[str, str]) -> None:
    run_cli("run", "hello", cwd=project.parent, env=base_env)

    files = list((Path(base_env["XDG_STATE_HOME"]) / "automations").rglob("hello.jsonl"))
    assert len(files) == 1


def test_a_failed_task_records_its_error_and_its_dependents_are_recorded_skipped(
        project: Path, base_env: dict[str, str]) -> None:
    run_cli("run", "after", cwd=project.parent, env=base_env)

    history = history_of(project, base_env)
    broken, after = history.last("broken"), history.last("after")
    assert broken["status"] == "failed"
    assert "exit code 3" in broken["error"]
    assert after["status"] == "skipped"
    assert "dependency 'broken' failed" in after["error"]


def test_the_last_runs_output_is_kept_per_task(project: Path, base_env: dict[str, str]) -> None:
    run_cli("run", "hello", "broken", cwd=project.parent, env=base_env)

    history = history_of(project, base_env)
    assert "hello from the task" in history.log("hello")
    assert "about to fail" in history.log("broken")
    assert "hello from the task" not in history.log("broken")


def test_history_and_logs_are_private(project: Path, base_env: dict[str, str]) -> None:
    run_cli("run", "hello", cwd=project.parent, env=base_env)

    history = history_of(project, base_env)
    for path in (history.history_path("hello"), history.log_path("hello")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_dry_run_records_nothing(project: Path, base_env: dict[str, str]) -> None:
    run_cli("run", "--dry-run", "hello", cwd=project.parent, env=base_env)

    assert history_of(project, base_env).last("hello") is None


def test_two_config_files_keep_separate_histories(write_config, base_env: dict[str, str], tmp_path: Path) -> None:
    first = write_config("tasks:\n  hello:\n    command: echo one\n")
    (tmp_path / "other").mkdir()
    second = write_config("tasks:\n  hello:\n    command: echo two\n", name="other/automations.yaml")
    run_cli("run", "hello", cwd=first.parent, env=base_env)

    assert history_of(first, base_env).last("hello") is not None
    assert history_of(second, base_env).last("hello") is None


def test_secrets_never_reach_the_history_or_the_logs(write_config, base_env: dict[str, str]) -> None:
    config = write_config("""
        plugins: ["leaky_step:LeakyStep"]
        tasks:
          leak:
            steps:
              - uses: leaky
        """)
    (config.parent / "leaky_step.py").write_text(LEAKY_STEP)
    result = run_cli("run", "leak", cwd=config.parent, env=base_env)
    assert result.code == 1

    state = Path(base_env["XDG_STATE_HOME"])
    written = "".join(p.read_text() for p in state.rglob("*") if p.is_file())
    assert "the service refused ***" in written
    assert "child printed ***" in written
    assert SECRET not in written


def test_concurrent_runs_lose_no_record(project: Path, base_env: dict[str, str]) -> None:
    processes = [subprocess.Popen([AUTOMATIONS, "run", "hello"], cwd=project.parent, env=base_env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(8)]
    assert [p.wait(timeout=60) for p in processes] == [0] * 8

    history = history_of(project, base_env)
    lines = history.history_path("hello").read_text().splitlines()
    assert len(lines) == 8
    assert len({json.loads(line)["run"] for line in lines}) == 8


def test_the_history_is_bounded_and_keeps_the_newest_records(tmp_path: Path) -> None:
    history = RunHistory(tmp_path / "automations.yaml", {"XDG_STATE_HOME": str(tmp_path / "state")})
    for number in range(2000):
        history.append({"task": "t", "end": f"{number:06d}", "status": "ok", "padding": "x" * 100})

    path = history.history_path("t")
    assert path.stat().st_size <= MAX_HISTORY_BYTES
    records = history.records("t")
    assert records[-1]["end"] == "001999"
    assert [int(r["end"]) for r in records] == list(range(2000 - len(records), 2000))


def test_the_last_log_is_bounded_and_keeps_the_end(tmp_path: Path) -> None:
    history = RunHistory(tmp_path / "automations.yaml", {"XDG_STATE_HOME": str(tmp_path / "state")})
    history.write_log("t", [f"line {n}" for n in range(100_000)])

    assert history.log_path("t").stat().st_size <= history_module.MAX_LOG_BYTES + 100
    text = history.log("t")
    assert text.startswith("[earlier output cut]\n")
    assert text.endswith("line 99999\n")


def test_a_state_directory_that_cannot_be_written_costs_a_warning_not_the_run(
        project: Path, base_env: dict[str, str], tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    base_env["XDG_STATE_HOME"] = str(blocker)

    result = run_cli("run", "hello", cwd=project.parent, env=base_env)

    assert result.code == 0
    assert "hello from the task" in result.stdout
    assert "cannot record the run history" in result.stderr


def test_a_damaged_history_line_costs_one_record(tmp_path: Path) -> None:
    history = RunHistory(tmp_path / "automations.yaml", {"XDG_STATE_HOME": str(tmp_path / "state")})
    history.append({"task": "t", "end": "1", "status": "ok"})
    with open(history.history_path("t"), "a") as file:
        file.write("{not json\n")
    history.append({"task": "t", "end": "2", "status": "failed"})

    assert [r["end"] for r in history.records("t")] == ["1", "2"]
    os.remove(history.history_path("t"))
    assert history.last("t") is None
