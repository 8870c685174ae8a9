"""Times as the CLI writes and reads them, written once.

- UTC stamps, to the second (`2030-01-31T12:00:00Z`): the credentials' expiry in the AWS files
  and the credential cache, a token's `exp`/`nbf`/`iat` in messages; and with milliseconds
  (`2030-01-31T12:00:00.250Z`) in the run history. Read back by `parse_utc`.
- Spans as people read them: `45s`, `3m`, `1h05m`, `2d3h` ("3m ago", "in 29m").

datetime is imported only where a datetime is made or read: the credential process's answer
path compares stamps as text and must start fast (bench/credential_process.py).
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime

UTC_STAMP = "%Y-%m-%dT%H:%M:%SZ"
# What utc_stamp writes for the years 1000 to 9999: fixed width, so such stamps compare as text.
UTC_STAMP_PATTERN = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def utc_stamp(moment: datetime | float | None = None) -> str:
    """`moment` (a datetime, seconds since the epoch, or now) in UTC, to the second."""
    if moment is None:
        return time.strftime(UTC_STAMP, time.gmtime())
    if isinstance(moment, (int, float)):
        # To the microsecond first, as datetime.fromtimestamp does, then the second it falls in.
        return time.strftime(UTC_STAMP, time.gmtime(round(moment, 6) // 1))
    from datetime import timezone

    return moment.astimezone(timezone.utc).strftime(UTC_STAMP)


def utc_stamp_ms(timestamp: float) -> str:
    """Seconds since the epoch in UTC, to the millisecond (the run history's start and end)."""
    from datetime import datetime, timezone

    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_utc(text: object) -> datetime | None:
    """A stamp written by utc_stamp or utc_stamp_ms (or any ISO 8601 form; UTC when it names no
    zone) as an aware datetime; None for anything else."""
    if not isinstance(text, str) or not text.strip():
        return None
    from datetime import datetime, timezone

    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def span(seconds: float) -> str:
    """A length of time (its sign ignored) as people read it: 45s, 3m, 1h05m, 2d3h."""
    whole = int(abs(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600}h"


def ago(seconds: float) -> str:
    """`3m ago`: how long before now something happened, `seconds` earlier."""
    return f"{span(seconds)} ago"
