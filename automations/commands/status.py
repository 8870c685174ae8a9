"""`automations status`: each task's last run, and when the credentials aws-login wrote expire.

What a person opening a terminal after an unattended start wants to know first: did the
start hook work, and if not, what went wrong."""
from __future__ import annotations

import argparse
from datetime import datetime, timezone
from typing import Any

from automations.config import find_config, load_config
from automations.errors import EXIT_OK
from automations.history import RunHistory, parse_iso
from automations.output import Reporter


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    config = load_config(find_config(args.config))
    history = RunHistory(config.path)
    now = datetime.now(timezone.utc)
    last_runs = {task: history.last(task) for task in config.tasks}
    credentials = _credentials(last_runs.values())
    if reporter.json_output:
        for task, record in last_runs.items():
            reporter.event("task_status", task=task, last_run=record)
        for profile, entry in credentials.items():
            reporter.event("credentials", profile=profile, expiration=entry["expiration"], task=entry["task"],
                           expired=_remaining(entry["expiration"], now) <= 0)
        return EXIT_OK
    width = max(len(t) for t in last_runs) if last_runs else 0
    for task, record in last_runs.items():
        reporter.print(f"{task.ljust(width)}  {_describe_run(record, now)}")
        if record and record.get("error"):
            for line in str(record["error"]).splitlines():
                reporter.print(f"{' ' * width}    {line}")
    if credentials:
        reporter.print("")
        reporter.print("AWS credentials written by aws-login:")
        for profile, entry in credentials.items():
            reporter.print(f"  profile {profile}: {_describe_expiry(entry['expiration'], now)} (task {entry['task']})")
    return EXIT_OK


def _describe_run(record: dict[str, Any] | None, now: datetime) -> str:
    if record is None:
        return "never run"
    started = parse_iso(str(record.get("start")))
    when = f"{_ago(now - started)} ({record['start']})" if started else "at an unknown time"
    return f"{record.get('status', '?')}  {when}, took {float(record.get('duration') or 0):.1f}s"


def _credentials(records: Any) -> dict[str, dict[str, str]]:
    """profile -> the newest expiry any task's last run recorded for it."""
    found: dict[str, dict[str, str]] = {}
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


def _remaining(expiration: str, now: datetime) -> float:
    parsed = parse_iso(expiration)
    return (parsed - now).total_seconds() if parsed else 0.0


def _describe_expiry(expiration: str, now: datetime) -> str:
    seconds = _remaining(expiration, now)
    if seconds <= 0:
        return f"EXPIRED {_ago(now - parse_iso(expiration)) if parse_iso(expiration) else ''} ({expiration})" \
               + "; run `automations run` for the aws-login task again"
    return f"valid for {_duration(seconds)} (until {expiration})"


def _ago(delta: Any) -> str:
    return f"{_duration(max(0.0, delta.total_seconds()))} ago"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600}h"


