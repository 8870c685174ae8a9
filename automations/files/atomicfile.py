"""Files that are either the old version or the new one, never half of each.

Credential and env files are written here and nowhere else: a temporary file in the same
directory (so the rename cannot cross file systems), created 0600, fsynced, renamed over the
target, and the directory fsynced so the rename survives a crash. A symlinked target is
refused: following it would let whoever planted it choose where our secrets go. So is a
target that is not a regular file: opening a FIFO to read it blocks forever (#11).
"""
from __future__ import annotations

import _thread  # threading.local without the threading module: the CLI's start stays fast
import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from automations.errors import StepFailed

TEMP_PREFIX = ".automations-tmp-"


def ensure_private_dir(directory: Path) -> None:
    """Create `directory` and each missing parent 0700, whatever the umask (under umask 000,
    os.makedirs would make the parents 0777). Existing directories keep their mode: ~/.aws
    may be shared on purpose."""
    if directory.is_dir():
        return
    missing = []
    while not directory.is_dir():
        missing.append(directory)
        if directory.parent == directory:
            break
        directory = directory.parent
    for path in reversed(missing):
        try:
            os.mkdir(path, 0o700)
            os.chmod(path, 0o700)  # the umask may have taken the owner's bits too
        except FileExistsError:
            if not path.is_dir():
                raise StepFailed(f"cannot create directory {path}: it exists and is not a directory") from None
        except OSError as error:
            raise StepFailed(f"cannot create directory {path}: {error.strerror}") from None


def writable_by_others(directory: Path) -> Path | None:
    """The first of `directory` and its parents that someone else could change: owned by
    another user (root aside), or writable by everyone without the sticky bit (which /tmp
    has). Whoever can change one of them can swap our files under it. Group-writable is
    accepted: with per-user groups (umask 002) that group is the owner alone."""
    uid = os.getuid()
    for path in (directory, *directory.parents):
        try:
            info = os.stat(path)
        except OSError:
            continue  # not created yet
        if info.st_uid not in (uid, 0):
            return path
        if info.st_mode & stat.S_IWOTH and not info.st_mode & stat.S_ISVTX:
            return path
    return None


def refuse_shared_dir(directory: Path, what: str | None = None) -> None:
    """StepFailed, saying what to do, when `directory` (holding `what`) could be changed by others."""
    shared = writable_by_others(directory.absolute())
    if shared is not None:
        reason = (f"{shared} can be changed by other users "
                  f"(make it yours and not world-writable, e.g. chmod o-w {shared})")
        raise StepFailed(f"refusing to keep {what} in {directory}: {reason}" if what else reason)


def check_writable(path: Path) -> None:
    """StepFailed unless `write_atomic(path, ...)` could succeed as far as we can tell without
    writing: so a step finds out before it writes anything else (issue 10)."""
    with _os_errors_as_failure(path):
        _check_writable(path)


def _check_writable(path: Path) -> None:
    refuse_symlink(path)
    if path.exists() and not path.is_file():
        raise StepFailed(f"{path} exists and is not a regular file")
    existing = path.parent
    while not existing.is_dir() and existing.parent != existing:
        if existing.exists():
            raise StepFailed(f"cannot create directory {existing}: it exists and is not a directory")
        existing = existing.parent
    if not os.access(existing, os.W_OK | os.X_OK):
        raise StepFailed(f"cannot write {path}: {existing} is not writable")


@contextlib.contextmanager
def _os_errors_as_failure(path: Path) -> Iterator[None]:
    """The file system's refusal (too long a name, no space, no permission) as the step's
    failure, one line naming the file, rather than an unexpected error."""
    try:
        yield
    except OSError as error:
        raise StepFailed(f"cannot write {path}: {error.strerror or error}") from None


def refuse_symlink(path: Path) -> None:
    if path.is_symlink():
        raise StepFailed(f"{path} is a symbolic link; refusing to write secrets through it "
                         "(remove the link or point the option at the real file)")


_KINDS = {stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a character device",
          stat.S_IFBLK: "a block device", stat.S_IFDIR: "a directory"}


def refuse_special(path: Path, info: os.stat_result | None = None) -> None:
    """Refuse an existing `path` that is not a regular file (its `stat`, unless given)."""
    if info is None:
        try:
            info = os.stat(path)
        except FileNotFoundError:
            return
        except OSError as error:
            raise StepFailed(f"cannot read {path}: {error.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
        raise StepFailed(f"{path} is {kind}, not a regular file; refusing to use it")


def write_atomic(path: Path | str, data: bytes, mode: int = 0o600) -> None:
    """Replace `path` with `data` atomically, with permissions `mode`."""
    path = Path(path)
    with _os_errors_as_failure(path):  # e.g. a name longer than the file system allows
        refuse_symlink(path)
        ensure_private_dir(path.parent)
        refuse_special(path)
        _remove_abandoned_temps(path)
    temp_path = None
    try:
        fd = _create_temp(path)
        temp_path = path.parent / fd[1]
        with os.fdopen(fd[0], "wb") as temp:
            os.fchmod(temp.fileno(), mode)
            temp.write(data)
            temp.flush()
            os.fsync(temp.fileno())
        os.replace(temp_path, path)
        temp_path = None
        _fsync_dir(path.parent)
    except OSError as error:
        raise StepFailed(f"cannot write {path}: {error.strerror or error}") from None
    finally:
        if temp_path is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp_path)


def _create_temp(path: Path) -> tuple[int, str]:
    # O_EXCL with a random name: never follows or reuses anything an attacker pre-created.
    # The writer's pid is in the name, so a later run can tell an abandoned file.
    for _ in range(100):
        name = f"{TEMP_PREFIX}{path.name}.{os.getpid()}.{os.urandom(6).hex()}"
        try:
            fd = os.open(path.parent / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            continue
        return fd, name
    raise OSError(errno.EEXIST, "could not create a temporary file")


def _remove_abandoned_temps(path: Path) -> None:
    """A writer killed (SIGKILL, power loss) between creating its temporary file and the
    rename leaves the file behind; remove those whose writer is gone, so they never pile up.
    A live writer's file is never touched."""
    prefix = f"{TEMP_PREFIX}{path.name}."
    with contextlib.suppress(OSError):
        for entry in os.scandir(path.parent):
            pid, _, suffix = entry.name[len(prefix):].partition(".")
            if entry.name.startswith(prefix) and pid.isdigit() and len(suffix) == 12 and not _alive(int(pid)):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process: alive
    return True


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


_held = _thread._local()  # per thread: the lock files it holds (`locked`)


@contextlib.contextmanager
def locked(path: Path | str) -> Iterator[None]:
    """Hold an exclusive lock for a read-modify-write of `path`, so concurrent runs (two
    tasks, or a manual rerun during the start hook) never lose each other's changes.

    The lock lives on a sibling `.lock` file: the target itself is replaced by rename, so a
    lock on it would be a lock on a file that is about to disappear.

    A thread that already holds the lock gets it again at once: flock on a second descriptor
    of the same file would wait for the first, that is for itself, for ever. Another thread
    or process waits, as it should."""
    import fcntl  # here: `validate` uses this module (the entry-point cache) and never locks

    path = Path(path)
    ensure_private_dir(path.parent)
    lock_path = os.path.join(os.path.realpath(path.parent), f".{path.name}.lock")  # one name per lock file
    held: set[str] | None = getattr(_held, "paths", None)
    if held is None:
        held = _held.paths = set()
    if lock_path in held:
        yield
        return
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as error:
        raise StepFailed(f"cannot lock {path}: {error.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        held.add(lock_path)
        try:
            yield
        finally:
            held.discard(lock_path)
    finally:
        os.close(fd)


def read_text_if_exists(path: Path | str) -> str | None:
    data = read_bytes_if_exists(path)
    return None if data is None else data.decode("utf-8")


def read_bytes_if_exists(path: Path | str) -> bytes | None:
    """The file's bytes; None when it does not exist. A symlink or anything but a regular file
    is refused at once, and nothing is opened in a way that could block."""
    path = Path(path)
    refuse_symlink(path)
    refuse_special(path)
    try:
        # O_NONBLOCK: a FIFO swapped in after the check still cannot block the open.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise StepFailed(f"cannot read {path}: {error.strerror}") from None
    with os.fdopen(fd, "rb") as file:
        refuse_special(path, os.fstat(file.fileno()))
        try:
            return file.read()
        except OSError as error:
            raise StepFailed(f"cannot read {path}: {error.strerror}") from None


def is_private(path: Path | str) -> bool:
    """True when only the owner can read the file (what credential files must be)."""
    return stat.S_IMODE(os.stat(path).st_mode) & 0o077 == 0


def is_private_file_of_ours(path: Path | str) -> bool:
    """A regular file (after links) we own that only we can read or write: what may hold
    secrets, or say which command to run."""
    try:
        info = os.stat(path)
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077 == 0
