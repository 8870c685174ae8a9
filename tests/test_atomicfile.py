"""Files holding secrets are replaced whole, atomically, 0600, never through a symlink."""
from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from automations.errors import StepFailed
from automations.files import atomicfile
from automations.files.atomicfile import (
    check_writable,
    is_private,
    is_private_file_of_ours,
    locked,
    read_bytes_if_exists,
    refuse_shared_dir,
    writable_by_others,
    write_atomic,
)


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
    with pytest.raises(StepFailed) as refused:
        write_atomic(link, b"secret")
    assert str(refused.value) == (f"{link} is a symbolic link; refusing to write secrets through it "
                                  "(remove the link or point the option at the real file)")
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


def test_the_new_contents_are_on_disk_before_the_rename_and_the_rename_after(tmp_path, monkeypatch):
    # A power loss just after the rename must find the new contents, not an empty file: the
    # temporary file is fsynced whole before it takes the target's name, and the directory
    # is fsynced after, so the rename itself survives.
    events: list[tuple[str, int, int]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def recording_fsync(fd: int) -> None:
        info = os.fstat(fd)
        events.append(("fsync", info.st_ino, info.st_size))
        real_fsync(fd)

    def recording_replace(src, dst) -> None:
        events.append(("rename", os.stat(src).st_ino, 0))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    monkeypatch.setattr(os, "replace", recording_replace)
    target = tmp_path / "creds"
    target.write_text("old")

    write_atomic(target, b"new contents")

    new_file, directory = target.stat().st_ino, tmp_path.stat().st_ino
    renamed = events.index(("rename", new_file, 0))
    assert ("fsync", new_file, len(b"new contents")) in events[:renamed], events
    assert any(kind == "fsync" and inode == directory for kind, inode, _ in events[renamed + 1:]), events


# A writer stopped between writing its temporary file and renaming it (the test lets it go on
# by writing a line to its stdin).
PAUSED_WRITER = """
import os, sys
from automations.files.atomicfile import write_atomic
rename = os.replace
def paused(src, dst):
    print(src, flush=True)
    sys.stdin.readline()
    rename(src, dst)
os.replace = paused
write_atomic(sys.argv[1], sys.argv[2].encode())
"""


def paused_writer(target: Path, data: str) -> tuple[subprocess.Popen[str], Path]:
    writer = subprocess.Popen([sys.executable, "-c", PAUSED_WRITER, str(target), data],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None
    temp = Path(writer.stdout.readline().strip())
    assert temp.is_file(), "the writer did not reach its rename"
    return writer, temp


def test_a_live_writers_temporary_file_survives_another_writers_cleanup(tmp_path):
    target = tmp_path / "creds"
    writer, temp = paused_writer(target, "from the other writer")
    try:
        write_atomic(target, b"from this writer")  # removes abandoned temporary files first
        assert temp.is_file()
    finally:
        writer.communicate("go on\n", timeout=60)
    assert writer.returncode == 0
    assert target.read_text() == "from the other writer"


def test_a_dead_writers_temporary_file_is_removed_by_the_next_write(tmp_path):
    target = tmp_path / "creds"
    writer, temp = paused_writer(target, "never renamed")
    writer.kill()
    writer.communicate(timeout=60)

    write_atomic(target, b"new")

    assert [p.name for p in tmp_path.iterdir()] == ["creds"]
    assert target.read_text() == "new"


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



def in_a_thread_within(seconds: float, work) -> bool:
    """Whether `work()` returned within `seconds` (run in a daemon thread: a hang cannot stop
    the suite)."""
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(seconds)
    return not thread.is_alive()


def test_a_thread_holding_the_lock_takes_it_again_without_waiting_for_itself(tmp_path):
    # flock on a second descriptor of the same file waits for the first: nested, for ever.
    target = tmp_path / "cache" / "entry.json"
    (tmp_path / "cache").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "cache")

    def nested() -> None:
        with locked(target), locked(tmp_path / "link" / "entry.json"):
            write_atomic(target, b"inner")

    assert in_a_thread_within(20, nested)
    assert target.read_bytes() == b"inner"
    with locked(target):  # and released with the outer one
        pass


def test_another_thread_waits_for_the_lock_a_thread_holds(tmp_path):
    target = tmp_path / "entry"
    order: list[str] = []

    def wait_for_it() -> None:
        with locked(target):
            order.append("waiter")

    with locked(target):
        waiter = threading.Thread(target=wait_for_it, daemon=True)
        waiter.start()
        waiter.join(0.5)
        order.append("holder")
    waiter.join(20)
    assert order == ["holder", "waiter"]

def swap_in_after_the_check(monkeypatch, path: Path, make) -> None:
    """A hostile peer that replaces `path` (with what `make(path)` creates) right after the
    reader's first look at it, before the reader opens it."""
    real_refuse_special = atomicfile.refuse_special

    def look_then_swap(target, info=None):
        real_refuse_special(target, info)
        if info is None:  # the look before the open
            path.unlink()
            make(path)
    monkeypatch.setattr(atomicfile, "refuse_special", look_then_swap)


def test_a_fifo_swapped_in_after_the_check_cannot_block_the_read(tmp_path, monkeypatch):
    path = tmp_path / "creds"
    path.write_text("old")
    swap_in_after_the_check(monkeypatch, path, os.mkfifo)
    outcome: list[BaseException] = []

    def read() -> None:
        try:
            read_bytes_if_exists(path)
        except BaseException as error:  # noqa: BLE001 (handed to the test thread)
            outcome.append(error)
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(10)
    if reader.is_alive():  # unblock it: a writer opens the FIFO
        with open(path, "wb"):
            pass
        pytest.fail("reading a FIFO swapped in after the check blocked")
    assert len(outcome) == 1 and isinstance(outcome[0], StepFailed)
    assert str(outcome[0]) == f"{path} is a FIFO (named pipe), not a regular file; refusing to use it"


def test_a_symlink_swapped_in_after_the_check_is_not_followed(tmp_path, monkeypatch):
    path, elsewhere = tmp_path / "creds", tmp_path / "elsewhere"
    path.write_text("old")
    elsewhere.write_text("someone else's file")
    swap_in_after_the_check(monkeypatch, path, lambda p: p.symlink_to(elsewhere))

    with pytest.raises(StepFailed) as refused:
        read_bytes_if_exists(path)
    assert str(refused.value) == f"cannot read {path}: Too many levels of symbolic links"


def test_a_new_file_in_a_writable_directory_can_be_written(tmp_path):
    check_writable(tmp_path / "new" / "creds")  # no error: nothing exists yet


def test_a_directory_in_the_way_cannot_be_written(tmp_path):
    (tmp_path / "creds").mkdir()
    with pytest.raises(StepFailed, match="exists and is not a regular file"):
        check_writable(tmp_path / "creds")


def test_a_file_is_private_when_only_its_owner_can_read_or_write_it(tmp_path):
    path = tmp_path / "creds"
    path.write_text("x")
    for private, modes in ((True, [0o600, 0o400, 0o700]), (False, [0o640, 0o604, 0o620, 0o602, 0o666])):
        for file_mode in modes:
            path.chmod(file_mode)
            assert is_private(path) is private, oct(file_mode)
            assert is_private_file_of_ours(path) is private, oct(file_mode)


def test_only_an_existing_regular_file_is_a_private_file_of_ours(tmp_path):
    directory = tmp_path / "dir"
    directory.mkdir(mode=0o700)
    link = tmp_path / "link"
    (tmp_path / "target").write_text("x")
    (tmp_path / "target").chmod(0o600)
    link.symlink_to(tmp_path / "target")
    assert not is_private_file_of_ours(tmp_path / "missing")
    assert not is_private_file_of_ours(directory)
    assert is_private_file_of_ours(link)  # after links: the file it names


@pytest.mark.skipif(os.getuid() != 0, reason="giving a file to another user takes root")
def test_a_private_file_of_another_user_is_not_ours(tmp_path):
    path = tmp_path / "creds"
    path.write_text("x")
    path.chmod(0o600)
    os.chown(path, 12345, -1)
    assert not is_private_file_of_ours(path)


def test_a_directory_the_user_cannot_write_is_found_before_writing(tmp_path):
    locked_dir = tmp_path / "locked"
    locked_dir.mkdir(mode=0o500)
    if os.access(locked_dir, os.W_OK):
        pytest.skip("root writes anywhere: os.access says yes")
    with pytest.raises(StepFailed) as refused:
        check_writable(locked_dir / "new" / "creds")
    assert str(refused.value) == f"cannot write {locked_dir / 'new' / 'creds'}: {locked_dir} is not writable"


def test_a_directory_everyone_may_write_is_one_others_can_change(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    assert writable_by_others(shared / "aws") == shared


def test_a_sticky_directory_everyone_may_write_is_not(tmp_path):
    sticky = tmp_path / "tmp-like"
    sticky.mkdir()
    sticky.chmod(0o1777)  # like /tmp: only a file's owner may remove or rename it
    (sticky / "mine").mkdir(mode=0o700)
    assert writable_by_others(sticky / "mine") is None


def test_a_group_writable_directory_of_ours_is_not_one_others_can_change(tmp_path):
    (tmp_path / "ours").mkdir()
    (tmp_path / "ours").chmod(0o770)
    assert writable_by_others(tmp_path / "ours") is None


@pytest.mark.skipif(os.getuid() != 0, reason="giving a directory to another user takes root")
def test_a_directory_of_another_user_is_one_others_can_change(tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o755)
    os.chown(theirs, 12345, -1)
    assert writable_by_others(theirs / "aws") == theirs


def test_a_file_in_the_way_of_a_directory_to_create_is_named(tmp_path):
    (tmp_path / "aws").write_text("a file, not a directory")
    with pytest.raises(StepFailed) as refused:
        write_atomic(tmp_path / "aws" / "sub" / "creds", b"data")
    assert str(refused.value) == f"cannot create directory {tmp_path / 'aws'}: it exists and is not a directory"


def test_a_shared_directory_is_refused_saying_what_would_be_kept_there(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    reason = f"{shared} can be changed by other users (make it yours and not world-writable, e.g. chmod o-w {shared})"
    with pytest.raises(StepFailed) as refused:
        refuse_shared_dir(shared, "the run history")
    assert str(refused.value) == f"refusing to keep the run history in {shared}: {reason}"
    with pytest.raises(StepFailed) as refused:
        refuse_shared_dir(shared)
    assert str(refused.value) == reason


def test_reading_a_directory_is_refused_naming_what_it_is(tmp_path):
    with pytest.raises(StepFailed) as refused:
        read_bytes_if_exists(tmp_path)
    assert str(refused.value) == f"{tmp_path} is a directory, not a regular file; refusing to use it"


def test_reading_below_a_file_says_why_it_cannot(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StepFailed) as refused:
        read_bytes_if_exists(tmp_path / "file" / "creds")
    assert str(refused.value) == f"cannot read {tmp_path / 'file' / 'creds'}: Not a directory"


def test_a_temporary_name_someone_created_first_is_never_reused(tmp_path, monkeypatch):
    target = tmp_path / "creds"
    taken = tmp_path / f".automations-tmp-creds.{os.getpid()}.{'00' * 6}"
    taken.write_text("planted")
    draws = iter([b"\0" * 6, b"\1" * 6])
    monkeypatch.setattr(os, "urandom", lambda n: next(draws))

    write_atomic(target, b"data")

    assert target.read_bytes() == b"data" and taken.read_text() == "planted"


def test_when_every_temporary_name_is_taken_the_write_fails_in_one_line(tmp_path, monkeypatch):
    target = tmp_path / "creds"
    (tmp_path / f".automations-tmp-creds.{os.getpid()}.{'00' * 6}").write_text("planted")
    monkeypatch.setattr(os, "urandom", lambda n: b"\0" * n)

    with pytest.raises(StepFailed) as refused:
        write_atomic(target, b"data")
    assert str(refused.value) == f"cannot write {target}: could not create a temporary file"
    assert not target.exists()


def test_a_write_the_system_refuses_is_one_line_with_the_reason(tmp_path, monkeypatch):
    def full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "fsync", full_disk)
    target = tmp_path / "creds"

    with pytest.raises(StepFailed) as refused:
        write_atomic(target, b"data")
    assert str(refused.value) == f"cannot write {target}: No space left on device"
    assert list(tmp_path.iterdir()) == []


def test_a_file_in_the_way_of_a_directory_is_found_before_writing(tmp_path):
    (tmp_path / "aws").write_text("a file, not a directory")
    with pytest.raises(StepFailed) as refused:
        check_writable(tmp_path / "aws" / "sub" / "creds")
    assert str(refused.value) == f"cannot create directory {tmp_path / 'aws'}: it exists and is not a directory"


@pytest.mark.parametrize("where", ["file", "directory"])
def test_a_name_longer_than_the_file_system_allows_is_one_line_naming_the_file(tmp_path, where):
    too_long = "n" * 300  # NAME_MAX is 255 bytes on Linux file systems
    path = tmp_path / too_long if where == "file" else tmp_path / too_long / ".env"

    for attempt in (lambda: check_writable(path), lambda: write_atomic(path, b"A=1\n")):
        with pytest.raises(StepFailed) as refused:
            attempt()
        assert str(refused.value) == f"cannot write {path}: File name too long"
    assert list(tmp_path.iterdir()) == []
