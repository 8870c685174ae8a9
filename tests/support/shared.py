"""Something expensive built once per test session and shared by the pytest-xdist workers
(each would otherwise build its own: the workers are processes of one session)."""
from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path

import pytest


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """A directory that `build` fills, once per session: the first worker to ask builds it
    under a lock, the others wait for it and use it as it is."""
    if "PYTEST_XDIST_WORKER" not in os.environ:  # one process: nothing to share
        directory = tmp_path_factory.mktemp(name)
        build(directory)
        return directory
    # The workers' temporary directories share this parent, which is the session's own.
    directory = tmp_path_factory.getbasetemp().parent / f"shared-{name}"
    with open(f"{directory}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        built = directory / ".built"
        if not built.exists():
            directory.mkdir(exist_ok=True)
            build(directory)
            built.touch()
    return directory
