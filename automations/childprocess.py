"""Commands we start (a `run` step's shell, a token command) end on time, and so does
everything they leave behind. Written once here; `tasks/run.py` and `automations/oidc/sources.py`
use it.

- Each command runs in a session of its own, so it is the leader of a process group holding
  everything it starts (`server &`, `nohup server &`): one signal reaches them all.
- A command is over when its own process exits. Its output is then drained for a moment and
  the pipes are closed: a background child still holding them cannot hold the step (#11).
- On cancellation or timeout the group gets SIGTERM, then SIGKILL after `GRACE_SECONDS`.
- What a `run` step leaves running lives on until the run ends (a later step may use the
  server an earlier one started, as in a GitHub Actions job); `end_leftovers()` then ends it
  the same way.
- `setsid` leaves the process group. Every command's environment carries
  `AUTOMATIONS_TRACKING_ID`, which holds an id of this process (the GitHub Actions runner finds
  a job's orphans with RUNNER_TRACKING_ID the same way): on Linux `end_leftovers()` also ends
  every process whose environment holds it, wherever it went. Only a process that both leaves
  the group and replaces its environment (`setsid env -i ...`) escapes; the README says so.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Mapping

from automations.errors import Cancelled

GRACE_SECONDS = 2.0   # between SIGTERM and SIGKILL
DRAIN_SECONDS = 0.5   # output still read after the command exited
TRACKING_VARIABLE = "AUTOMATIONS_TRACKING_ID"
_POLL_SECONDS = 0.05
# One id per process; a nested `automations run` appends its own, so each level finds its own.
_TRACKING_ID = f"{os.getpid()}-{os.urandom(4).hex()}"
_groups: set[int] = set()   # process groups started and not yet ended
_started_any = False        # no command started: nothing to look for at the end
_groups_lock = threading.Lock()


class CommandTimedOut(Exception):
    """The command ran past the timeout given to `ChildProcess.communicate`; it was ended."""


class ChildProcess:
    """One command, started in a session of its own, stdin from /dev/null."""

    def __init__(self, argv: list[str], *, cwd: str | os.PathLike[str] | None, env: Mapping[str, str],
                 merge_stderr: bool = False) -> None:
        import subprocess  # here, not at the top: validating a config must not pay for it

        env = dict(env)
        inherited = env.get(TRACKING_VARIABLE, "")
        env[TRACKING_VARIABLE] = f"{inherited}:{_TRACKING_ID}" if inherited else _TRACKING_ID
        self.process = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
                                        start_new_session=True)
        self.pid = self.process.pid
        global _started_any
        with _groups_lock:
            _groups.add(self.pid)
            _started_any = True

    def communicate(self, on_stdout: Callable[[bytes], None], on_stderr: Callable[[bytes], None] | None = None, *,
                    cancelled: threading.Event | None = None, timeout: float | None = None) -> int:
        """Hand the output to the callbacks as it comes, until the command exits; return its
        exit status (negative: killed by that signal). On `cancelled` or past `timeout`, end
        the group and raise Cancelled or CommandTimedOut. The pipes are closed in any case."""
        import selectors

        deadline = None if timeout is None else time.monotonic() + timeout
        selector = selectors.DefaultSelector()
        for stream, sink in ((self.process.stdout, on_stdout), (self.process.stderr, on_stderr or _discard)):
            if stream is not None:
                os.set_blocking(stream.fileno(), False)
                selector.register(stream.fileno(), selectors.EVENT_READ, sink)
        interruption: Exception | None = None
        try:
            while self.process.poll() is None:
                if cancelled is not None and cancelled.is_set():
                    interruption = Cancelled("cancelled")
                elif deadline is not None and time.monotonic() >= deadline:
                    interruption = CommandTimedOut(f"timed out after {timeout:g}s")
                if interruption is not None:
                    break
                _read_ready(selector, _POLL_SECONDS)
        except BaseException:  # KeyboardInterrupt outside the runner: the command must not outlive us
            self.end()
            selector.close()
            self._close_pipes()
            raise
        try:
            if interruption is not None:
                self.end()
            drain_until = time.monotonic() + DRAIN_SECONDS
            while selector.get_map() and time.monotonic() < drain_until:
                _read_ready(selector, min(_POLL_SECONDS, max(0.0, drain_until - time.monotonic())))
        finally:
            selector.close()
            self._close_pipes()
        if interruption is not None:
            raise interruption
        return self.process.wait()

    def _close_pipes(self) -> None:
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()

    def end(self, grace: float = GRACE_SECONDS) -> None:
        """SIGTERM the command's process group; SIGKILL whatever is left after `grace`."""
        end_group(self.pid, grace, self.process.poll)
        self.process.poll()
        with _groups_lock:
            _groups.discard(self.pid)


def _discard(data: bytes) -> None:
    pass


def _read_ready(selector: object, timeout: float) -> None:
    for key, _ in selector.select(timeout):  # type: ignore[attr-defined]
        try:
            data = os.read(key.fd, 65536)
        except BlockingIOError:
            continue
        if data:
            key.data(data)
        else:
            selector.unregister(key.fd)  # type: ignore[attr-defined]


def end_group(pgid: int, grace: float = GRACE_SECONDS, reap: Callable[[], object] = lambda: None) -> None:
    """SIGTERM process group `pgid`, then SIGKILL it once `grace` passed with any of it alive."""
    if not _signal_group(pgid, signal.SIGTERM):
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        reap()  # our own child stays a zombie, counted as alive, until it is waited for
        if not _group_alive(pgid):
            return
        time.sleep(_POLL_SECONDS)
    _signal_group(pgid, signal.SIGKILL)


def end_leftovers(grace: float = GRACE_SECONDS) -> int:
    """End what the commands of this process left running: their process groups and, on
    Linux, every process carrying our tracking id. SIGTERM, SIGKILL after `grace`. Returns how
    many processes there were."""
    with _groups_lock:
        if not _started_any:
            return 0
        groups = set(_groups)
        _groups.clear()
    pids = _tracked_processes(groups)
    if pids is None:  # no /proc: the groups are all we know of
        for pgid in groups:
            end_group(pgid, grace)
        return 0
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    alive = pids
    while alive and time.monotonic() < deadline:
        time.sleep(_POLL_SECONDS)
        alive = [pid for pid in alive if _running(pid)]
    for pid in alive:
        _signal(pid, signal.SIGKILL)
    return len(pids)


def _signal_group(pgid: int, signum: int) -> bool:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # the group number was reused by someone else's process: not ours to end
    return True


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid: int) -> bool:
    """Whether any process of the group still runs (zombies only wait to be reaped)."""
    processes = _process_table()
    if processes is None:
        return _signal_group(pgid, 0)
    return any(group == pgid for _, group, _ in processes)


def _running(pid: int) -> bool:
    state = _stat(pid)
    return state is not None and state[2] != "Z"


def _tracked_processes(groups: set[int]) -> list[int] | None:
    """Live processes in `groups` or whose environment carries our tracking id (None without /proc)."""
    processes = _process_table()
    if processes is None:
        return None
    marker = _TRACKING_ID.encode()
    me = os.getpid()
    found = []
    for pid, pgid, _ in processes:
        if pid == me:
            continue
        if pgid in groups or _carries(pid, marker):
            found.append(pid)
    return found


def _carries(pid: int, marker: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as environ:
            entries = environ.read().split(b"\0")
    except OSError:
        return False  # gone, or someone else's
    prefix = TRACKING_VARIABLE.encode() + b"="
    return any(entry.startswith(prefix) and marker in entry[len(prefix):].split(b":") for entry in entries)


def _process_table() -> list[tuple[int, int, str]] | None:
    """(pid, process group, state) of every process that is not a zombie; None without /proc."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return None
    table = []
    for name in names:
        if name.isdigit():
            row = _stat(int(name))
            if row is not None and row[2] != "Z":
                table.append(row)
    return table


def _stat(pid: int) -> tuple[int, int, str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            text = stat.read().decode("ascii", "replace")
    except OSError:
        return None
    # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
    fields = text[text.rfind(")") + 2:].split()
    return (pid, int(fields[2]), fields[0]) if len(fields) > 2 else None
