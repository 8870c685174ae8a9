"""`automations status`: each task's last run, and when the credentials aws-login wrote expire.

What a person opening a terminal after an unattended start wants to know first: did the
start hook work, and if not, what went wrong."""
from __future__ import annotations

import argparse
import os
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from automations.engine.config import find_config, load_config
from automations.engine.report.base import Reporter
from automations.engine.report.history import RunHistory
from automations.errors import EXIT_OK
from automations.timefmt import ago, parse_utc, span


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    config = load_config(find_config(args.config))
    history = RunHistory(config.path)
    now = datetime.now(timezone.utc)
    last_runs = {task: history.last(task) for task in config.tasks}
    credentials = _credentials(last_runs.values())
    _read_back(credentials)
    width = max(len(t) for t in last_runs) if last_runs else 0
    for task, record in last_runs.items():
        reporter.result("task_status", _describe_task(task, record, width, now), task=task, last_run=record)
    for number, (profile, entry) in enumerate(credentials.items()):
        heading = ["", "AWS credentials written by aws-login and aws-assume-role:"] if number == 0 else []
        reporter.result("credentials", heading + [_describe_credentials(profile, entry, now)], profile=profile,
                        expiration=entry["expiration"], task=entry["task"],
                        expired=_remaining(entry["expiration"], now) <= 0 and not entry.get("refreshed"),
                        credential_process=bool(entry.get("refreshed")))
    _report_watcher(history, reporter, now)
    return EXIT_OK


def _report_watcher(history: RunHistory, reporter: Reporter, now: datetime) -> None:
    """The `automations watch` of this configuration, from the state file it keeps: running
    (its lock held by the pid it names) or not, and each item's next refresh."""
    import json

    from automations.engine.watcher import lock_path, state_path
    from automations.errors import StepFailed
    from automations.files.atomicfile import read_text_if_exists
    from automations.files.pidlock import lock_holder

    try:
        state = json.loads(read_text_if_exists(state_path(history)) or "null")
    except (ValueError, UnicodeDecodeError, StepFailed, OSError):  # not JSON, not a regular file, not readable
        state = None
    if not isinstance(state, dict):
        return
    running = state.get("pid") is not None and lock_holder(lock_path(history)) == state.get("pid")
    items = [i for i in state.get("items") or [] if isinstance(i, dict)]
    reporter.result("watcher", _describe_watcher(state, running, items, now), running=running, pid=state.get("pid"),
                    since=state.get("since"), stopped=state.get("stopped"), items=items)


def _describe_watcher(state: dict[str, Any], running: bool, items: list[dict[str, Any]], now: datetime) -> Iterator[str]:
    yield ""
    since = _seconds(str(state.get("since")))
    if running:
        yield f"watcher: running (pid {state.get('pid')}, since {since})"
    else:
        ended = f"stopped {_seconds(str(state['stopped']))}" if state.get("stopped") else \
            f"gone without stopping cleanly; last seen {_seconds(str(state.get('updated')))}"
        yield f"watcher: not running (pid {state.get('pid')} {ended}); start it with `automations watch`"
        return
    for item in items:
        due = parse_utc(str(item.get("next")))
        when = "due now" if due is None or due <= now else f"in {span((due - now).total_seconds())}"
        yield f"  {item.get('name')}: next refresh {when} ({_seconds(str(item.get('next')))})"
        failure = item.get("last_failure")
        if isinstance(failure, dict):
            failed = parse_utc(str(failure.get("time")))
            yield f"    last failure {_ago(now - failed) if failed else ''}: {failure.get('message')}"


def _describe_task(task: str, record: dict[str, Any] | None, width: int, now: datetime) -> Iterator[str]:
    yield f"{task.ljust(width)}  {_describe_run(record, now)}"
    if record and record.get("error"):
        for line in str(record["error"]).splitlines():
            yield f"{' ' * width}    {line}"


def _describe_credentials(profile: str, entry: dict[str, Any], now: datetime) -> str:
    how = _describe_expiry(entry["expiration"], now)
    if entry.get("refreshed"):  # an expired last issue is no problem: the next SDK call renews it
        how = f"refreshed on demand by credential_process (last issued until {entry['expiration']})"
    return f"  profile {profile}: {how} (task {entry['task']})"


def _describe_run(record: dict[str, Any] | None, now: datetime) -> str:
    if record is None:
        return "never run"
    started = parse_utc(str(record.get("start")))
    when = f"{_ago(now - started)} ({_seconds(str(record['start']))})" if started else "at an unknown time"
    return f"{record.get('status', '?')}  {when}, took {float(record.get('duration') or 0):.1f}s"


def _credentials(records: Any) -> dict[str, dict[str, Any]]:
    """profile -> the newest expiry any task's last run recorded for it."""
    found: dict[str, dict[str, Any]] = {}
    for record in records:
        for entry in (record or {}).get("credentials") or []:
            profile, expiration = entry.get("profile"), entry.get("expiration")
            if not isinstance(profile, str) or not isinstance(expiration, str):
                continue
            current = found.get(profile)
            if current is None or str(record.get("end")) > current["end"]:
                found[profile] = {"expiration": expiration, "task": str(record.get("task")),
                                  "end": str(record.get("end"))}
    return {profile: found[profile] for profile in sorted(found)}


def _seconds(iso: str) -> str:
    return re.sub(r"\.\d+(?=Z$)", "", iso)


def _read_back(credentials: dict[str, dict[str, Any]]) -> None:
    """The profile as it is now: a later run (or another tool) may have renewed it, and a
    `credential_process` profile renews itself whenever an SDK asks."""
    from automations.errors import StepFailed
    from automations.files.credentials_file import EXPIRES, SharedAwsFiles

    files = SharedAwsFiles(os.environ)
    for profile, entry in credentials.items():
        try:
            current = files.read(profile)
        except StepFailed:
            continue
        if "credential_process" in current.config:
            entry["refreshed"] = True
        expires = current.credentials.get(EXPIRES)
        if expires and (parse_utc(expires) or now_utc()) > (parse_utc(entry["expiration"]) or now_utc()):
            entry["expiration"] = expires


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def _remaining(expiration: str, now: datetime) -> float:
    parsed = parse_utc(expiration)
    return (parsed - now).total_seconds() if parsed else 0.0


def _describe_expiry(expiration: str, now: datetime) -> str:
    seconds = _remaining(expiration, now)
    if seconds <= 0:
        expired = parse_utc(expiration)
        return f"EXPIRED {_ago(now - expired) if expired else ''} ({expiration})" \
               + "; run `automations run` for the aws-login task again"
    return f"valid for {span(seconds)} (until {expiration})"


def _ago(delta: Any) -> str:
    return ago(max(0.0, delta.total_seconds()))  # a start in the future (a clock set back) is "0s ago"


