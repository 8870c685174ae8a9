"""Files holding secrets are replaced whole, atomically, 0600, never through a symlink."""
from __future__ import annotations

import os
import stat
import threading

import pytest

from automations.atomicfile import locked, write_atomic
from automations.errors import StepFailed


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_file_is_0600_in_a_new_0700_directory(tmp_path):
    target = tmp_path / "new" / "dir" / "creds"
    write_atomic(target, b"data")
    assert target.read_bytes() == b"data"
    assert mode(target) == 0o600
    assert mode(target.parent) == 0o700


def test_an_existing_world_readable_file_becomes_0600(tmp_path):
    target = tmp_path / "creds"
    target.write_text("old")
    target.chmod(0o644)
    write_atomic(target, b"new")
    assert mode(target) == 0o600 and target.read_bytes() == b"new"


def test_a_symlinked_target_is_refused_and_nothing_is_written(tmp_path):
    real = tmp_path / "real"
    real.write_text("untouched")
    link = tmp_path / "link"
    link.symlink_to(real)
    with pytest.raises(StepFailed, match="symbolic link"):
        write_atomic(link, b"secret")
    assert real.read_text() == "untouched"


def test_a_failure_midway_keeps_the_old_file_and_cleans_up(tmp_path, monkeypatch):
    target = tmp_path / "env"
    target.write_text("old")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(StepFailed, match="No space left on device"):
        write_atomic(target, b"new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["env"]


def test_the_lock_serialises_read_modify_write(tmp_path):
    counter = tmp_path / "counter"
    counter.write_text("0")

    def increment() -> None:
        for _ in range(50):
            with locked(counter):
                value = int(counter.read_text())
                write_atomic(counter, str(value + 1).encode())

    threads = [threading.Thread(target=increment) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counter.read_text() == "200"
