"""Run history: what every `automations run` did, for `automations status` and `logs`.

A start hook runs with nobody watching, so each run leaves, per task, one JSON-lines record
(start, end, status, duration, the error, the credentials it wrote and when they expire) and
the task's output of that run. Both live under $XDG_STATE_HOME/automations (default
~/.local/state/automations), one directory per configuration file, so two projects with a
task called `aws-login` never mix:

    <state>/automations/projects/<hash of the config path>/
        config                  the config path, for people looking around
        history/<task>.jsonl    one record per run, the newest last, bounded in size
        logs/<task>.log         the task's output in its last run

Everything is redacted before it is written: a later `automations logs` runs in another
process, whose redactor knows no secrets. Concurrent runs (the start hook and a manual rerun)
append under a lock; a file is trimmed (atomically) once it passes its size bound.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from automations.engine.report.base import Reporter, after_attempts
from automations.files.atomicfile import locked, read_text_if_exists, refuse_shared_dir, write_atomic
from automations.redaction import REDACTOR
from automations.timefmt import utc_stamp_ms

MAX_HISTORY_BYTES = 64 * 1024   # per task: a few hundred runs
MAX_LOG_BYTES = 256 * 1024      # per task: the end of its last run's output
MAX_MESSAGE_CHARS = 2000        # one error message in a record


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "automations"


def _clip(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class RunHistory:
    """The history and last logs of one configuration file's tasks."""

    def __init__(self, config_path: Path, env: Mapping[str, str] | None = None) -> None:
        self.config_path = Path(config_path).absolute()
        key = hashlib.sha256(str(self.config_path).encode()).hexdigest()[:16]
        self.directory = state_dir(env) / "projects" / key

    def history_path(self, task: str) -> Path:
        return self.directory / "history" / f"{task}.jsonl"

    def log_path(self, task: str) -> Path:
        return self.directory / "logs" / f"{task}.log"

    # -- writing ---------------------------------------------------------------------------

    def append(self, record: Mapping[str, Any]) -> None:
        """Add one record (redacted) to its task's history, trimming the oldest past the bound."""
        # Redacted value by value, before JSON escapes a secret out of the redactor's sight.
        line = (json.dumps(REDACTOR.redact_value(record), separators=(",", ":"), default=str) + "\n").encode()
        path = self.history_path(str(record["task"]))
        self._refuse_shared_dir()
        self._remember_config()
        with locked(path):
            # O_APPEND: a reader (status) never sees half a record of a concurrent writer.
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            try:
                os.write(fd, line)
                size = os.fstat(fd).st_size
            finally:
                os.close(fd)
            if size > MAX_HISTORY_BYTES:
                write_atomic(path, _newest_lines(path.read_bytes(), MAX_HISTORY_BYTES // 2))

    def write_log(self, task: str, lines: list[str]) -> None:
        text = "".join(REDACTOR.redact(line) + "\n" for line in lines).encode()
        if len(text) > MAX_LOG_BYTES:
            text = b"[earlier output cut]\n" + _newest_lines(text, MAX_LOG_BYTES)
        self._refuse_shared_dir()
        write_atomic(self.log_path(task), text)

    def _refuse_shared_dir(self) -> None:
        # Others could swap or read what we record there: the run goes on unrecorded, with a warning.
        refuse_shared_dir(self.directory)  # the warning says "cannot record the run history in ..."

    def _remember_config(self) -> None:
        marker = self.directory / "config"
        if not marker.exists():
            write_atomic(marker, f"{self.config_path}\n".encode())

    # -- reading ---------------------------------------------------------------------------

    def records(self, task: str) -> list[dict[str, Any]]:
        text = read_text_if_exists(self.history_path(task)) or ""
        result = []
        for line in text.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a damaged line costs one record, not the history
            if isinstance(record, dict):
                result.append(record)
        return result

    def last(self, task: str) -> dict[str, Any] | None:
        records = self.records(task)
        return records[-1] if records else None

    def tasks(self) -> list[str]:
        directory = self.directory / "history"
        return sorted(p.name[: -len(".jsonl")] for p in directory.glob("*.jsonl")) if directory.is_dir() else []

    def log(self, task: str) -> str | None:
        return read_text_if_exists(self.log_path(task))


def _newest_lines(data: bytes, limit: int) -> bytes:
    """The last whole lines of `data` that fit in `limit` bytes."""
    if len(data) <= limit:
        return data
    tail = data[-limit:]
    newline = tail.find(b"\n")
    return tail[newline + 1:] if newline >= 0 else b""


class TaskRecorder:
    """What one task did in this run: its steps, its output, the credentials it wrote."""

    def __init__(self, task: str, run_id: str) -> None:
        self.task = task
        self.run_id = run_id
        self.steps: list[dict[str, Any]] = []
        self.credentials: list[dict[str, str]] = []
        self.lines: list[str] = []

    def line(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        for part in text.splitlines() or [""]:
            self.lines.append(f"{stamp} {part}")

    def record(self, status: str, seconds: float, message: str, trigger: str | None, config: Path) -> dict[str, Any]:
        end = time.time()
        failed = [s for s in self.steps if s["status"] in ("failed", "cancelled")]
        error = message or (f"{failed[-1]['step']}: {failed[-1]['message']}" if failed else "")
        return {
            "task": self.task, "run": self.run_id, "config": str(config), "trigger": trigger,
            "start": utc_stamp_ms(end - seconds), "end": utc_stamp_ms(end), "status": status,
            "duration": round(seconds, 3), "error": _clip(error) if status != "ok" else "",
            "steps": self.steps, "credentials": self.credentials,
        }


class RunRecorder:
    """A listener of a real run (`RunListener`): records each task's steps and output (at info
    level, whatever the console shows) into the history.

    Recording never fails a run: a history that cannot be written costs one warning."""

    def __init__(self, history: RunHistory, trigger: str | None, warn: Callable[[str], None]) -> None:
        self.history = history
        self.trigger = trigger
        self.run_id = os.urandom(6).hex()
        self._warn = warn
        self._tasks: dict[str, TaskRecorder] = {}
        self._tasks_lock = threading.Lock()
        self._warned = False

    def _task(self, task: str) -> TaskRecorder:
        with self._tasks_lock:
            if task not in self._tasks:
                self._tasks[task] = TaskRecorder(task, self.run_id)
            return self._tasks[task]

    def log(self, task: str | None, level: str, message: str) -> None:
        if task and level in ("warning", "info"):
            self._task(task).line(f"{'warning: ' if level == 'warning' else ''}{REDACTOR.redact(message)}")

    def output(self, task: str, line: str) -> None:
        self._task(task).line(f"| {REDACTOR.redact(line)}")

    def step_started(self, task: str, step: str, attempt: int) -> None:
        self._task(task).line(f"{step}: started")

    def step_outputs(self, task: str, step: str, outputs: Mapping[str, Any]) -> None:
        # Only what `status` shows, never the whole outputs: a plugin may output a secret.
        profile, expiration = outputs.get("profile"), outputs.get("expiration")
        if isinstance(profile, str) and isinstance(expiration, str):
            self._task(task).credentials.append({"profile": profile, "expiration": expiration, "step": step})

    def step_finished(self, task: str, step: str, status: str, seconds: float, message: str,
                      attempts: int) -> None:
        recorder = self._task(task)
        recorder.steps.append({"step": step, "status": status, "duration": round(seconds, 3),
                               "message": _clip(REDACTOR.redact(message)), "attempts": attempts})
        recorder.line(f"{step}: {status}{after_attempts(attempts)} ({seconds:.1f}s)"
                      + (f": {REDACTOR.redact(message)}" if message else ""))

    def task_finished(self, task: str, status: str, seconds: float, message: str) -> None:
        recorder = self._task(task)
        recorder.line(f"{task} {status} in {seconds:.1f}s" + (f": {REDACTOR.redact(message)}" if message else ""))
        try:
            self.history.append(recorder.record(status, seconds, REDACTOR.redact(message), self.trigger,
                                                self.history.config_path))
            self.history.write_log(task, recorder.lines)
        except Exception as error:  # the run matters more than its record
            if not self._warned:
                self._warned = True
                self._warn(f"cannot record the run history in {self.history.directory}: {error}")


def record_runs(reporter: Reporter, config_path: Path, trigger: str | None = None) -> RunRecorder:
    """Record what `reporter` is told about this run into `config_path`'s history."""
    recorder = RunRecorder(RunHistory(config_path), trigger, warn=reporter.warning)
    reporter.listeners.append(recorder)
    return recorder


def newest_run(history: RunHistory, tasks: Iterator[str] | list[str]) -> str | None:
    """The id of the most recent run that recorded any of `tasks`."""
    newest: tuple[str, str] | None = None
    for task in tasks:
        record = history.last(task)
        if record and isinstance(record.get("end"), str):
            candidate = (record["end"], str(record.get("run")))
            if newest is None or candidate > newest:
                newest = candidate
    return newest[1] if newest else None

