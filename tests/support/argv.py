"""What anyone on the machine sees of a command we start: the argv (/proc/PID/cmdline) of a
shell and of every process under it, read while it runs. A secret must never be there."""
from __future__ import annotations

import time
from pathlib import Path


def argv_of_running_descendants(pidfile: Path, release: Path, seen: list[str]) -> None:
    """While the command runs: the argv of bash and of every process under it."""
    deadline = time.monotonic() + 30
    while not (pidfile.exists() and pidfile.read_text().endswith("\n")):
        if time.monotonic() > deadline:
            return
        time.sleep(0.02)
    shell = int(pidfile.read_text())
    # The shell may be between two of its children (a builtin, a fork not yet done): look
    # again until one is there, so that the argv of a child is always among those seen.
    children = descendants(shell)
    while not children and time.monotonic() < deadline:
        time.sleep(0.01)
        children = descendants(shell)
    pids = [shell, *children]
    for pid in pids:
        try:
            seen.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            pass
    release.touch()


def descendants(pid: int) -> list[int]:
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text() if (task / "children").exists() else ""
        children.extend(int(p) for p in text.split())
    return children + [d for child in children for d in descendants(child)]
