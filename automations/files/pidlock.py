"""A lock held for as long as a process lives, with the holder's pid in the file: one
`automations watch` per configuration (issue 15).

The lock is the kernel's (flock) on a file that stays in place: it goes when its holder
ends, however it ends (SIGKILL, a crash), so a lock left by a dead process is simply free and
the next process takes it over; the pid written in the file only names the holder in
messages and in `automations status`. The descriptor is not inherited, so a command the
holder starts (an `onChange`) never keeps the lock after the holder is gone.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

from automations.errors import StepFailed
from automations.files.atomicfile import _alive, ensure_private_dir, read_bytes_if_exists, refuse_symlink


class PidLock:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.stale_pid: int | None = None  # the pid a taken-over lock named (its process is gone)
        self._fd: int | None = None

    def acquire(self) -> int | None:
        """Take the lock and write our pid: None. Held by a live process: its pid (0 when it
        has not written it yet), and nothing changed."""
        import fcntl  # here: the CLI's start stays fast

        ensure_private_dir(self.path.parent)
        refuse_symlink(self.path)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as error:
            raise StepFailed(f"cannot lock {self.path}: {error.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _pid_in(os.pread(fd, 32, 0))
            os.close(fd)
            return holder or 0
        except OSError as error:
            os.close(fd)
            raise StepFailed(f"cannot lock {self.path}: {error.strerror}") from None
        try:
            previous = _pid_in(os.pread(fd, 32, 0))
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            os.fchmod(fd, 0o600)
        except OSError as error:  # a full disk, a file-size limit: the lock goes with the descriptor
            os.close(fd)
            raise StepFailed(f"cannot write {self.path}: {error.strerror or error}") from None
        if previous and previous != os.getpid():
            self.stale_pid = previous
        self._fd = fd
        return None

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None


def lock_holder(path: Path | str) -> int | None:
    """The pid in a lock file, if that process is alive (for reports; never for deciding
    who may take the lock, which only flock decides)."""
    try:  # never opened in a way that could block (a FIFO planted in its place)
        pid = _pid_in(read_bytes_if_exists(path) or b"")
    except (StepFailed, OSError):
        return None
    return pid if pid and _alive(pid) else None


def _pid_in(data: bytes) -> int | None:
    text = data.decode("ascii", "replace").strip()
    return int(text) if text.isdigit() and int(text) > 0 else None
