"""Times as the CLI writes and reads them (automations/timefmt.py): one helper for UTC stamps
and for spans such as "3m ago", used by the credentials, the token messages, status and the
run history alike."""
from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from automations.timefmt import ago, parse_utc, span, utc_stamp, utc_stamp_ms


def test_a_moment_is_written_in_utc_to_the_second():
    moment = datetime(2030, 1, 31, 13, 0, 5, 999999, tzinfo=timezone(timedelta(hours=1)))

    assert utc_stamp(moment) == "2030-01-31T12:00:05Z"


@pytest.mark.parametrize("timestamp", [0, 1.5, -1.5, 1_700_000_000.999, 1e9 + 0.9999999, -1e-7,
                                       -62135596800, 253402300799])
def test_seconds_since_the_epoch_give_the_stamp_datetime_would(timestamp):
    expected = datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    assert utc_stamp(timestamp) == expected


def test_stamps_of_this_era_compare_as_text_in_time_order():
    stamps = [utc_stamp(t) for t in (1_000_000_000, 1_700_000_000, 4_102_444_800)]

    assert stamps == sorted(stamps) and len({len(s) for s in stamps}) == 1


def test_now_is_the_default():
    before = datetime.now(timezone.utc).replace(microsecond=0)
    stamp = parse_utc(utc_stamp())
    assert stamp is not None and before <= stamp <= datetime.now(timezone.utc)


def test_the_history_stamp_has_milliseconds():
    assert utc_stamp_ms(1_700_000_000.25) == "2023-11-14T22:13:20.250Z"


@pytest.mark.parametrize("text, expected", [
    ("2030-01-31T12:00:05Z", datetime(2030, 1, 31, 12, 0, 5, tzinfo=timezone.utc)),
    ("2023-11-14T22:13:20.250Z", datetime(2023, 11, 14, 22, 13, 20, 250000, tzinfo=timezone.utc)),
    (" 2030-01-31T12:00:05+00:00\n", datetime(2030, 1, 31, 12, 0, 5, tzinfo=timezone.utc)),
    ("2030-01-31T12:00:05", datetime(2030, 1, 31, 12, 0, 5, tzinfo=timezone.utc)),  # no zone: UTC
])
def test_a_stamp_reads_back_as_an_aware_moment(text, expected):
    assert parse_utc(text) == expected


@pytest.mark.parametrize("text", [None, "", "  ", "tomorrow", "2030-13-01T00:00:00Z", 1700000000])
def test_anything_else_reads_as_no_moment(text):
    assert parse_utc(text) is None


@pytest.mark.parametrize("seconds, text", [
    (0, "0s"), (59.9, "59s"), (60, "1m"), (3599, "59m"), (3600, "1h00m"), (3900, "1h05m"),
    (86399, "23h59m"), (86400, "1d0h"), (2 * 86400 + 3 * 3600 + 59, "2d3h"), (-180, "3m"),
])
def test_a_span_reads_the_way_people_say_it(seconds, text):
    assert span(seconds) == text


def test_ago_says_how_long_before_now():
    assert ago(180) == "3m ago"


def test_writing_a_stamp_from_seconds_does_not_import_datetime():
    # The credential process compares stamps as text on every AWS call, and must start fast.
    code = "import sys, automations.timefmt as t; t.utc_stamp(1e9); t.utc_stamp(); print('datetime' in sys.modules)"
    proc = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=60, check=True)

    assert proc.stdout.strip() == "False"
