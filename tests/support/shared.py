"""Something expensive built once per test session and shared by the pytest-xdist workers
(each would otherwise build its own: the workers are processes of one session)."""
from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """A directory that `build` fills, once per session: the first worker to ask builds it
    under a lock, the others wait for it and use it as it is. It is built under another name
    and renamed when complete: after a failed build the next worker starts again from nothing."""
    if "PYTEST_XDIST_WORKER" not in os.environ:  # one process: nothing to share
        directory = tmp_path_factory.mktemp(name)
        build(directory)
        return directory
    # The workers' temporary directories share this parent, which is the session's own.
    directory = tmp_path_factory.getbasetemp().parent / f"shared-{name}"
    with open(f"{directory}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not directory.exists():
            building = directory.with_name(f"{directory.name}.building")
            shutil.rmtree(building, ignore_errors=True)  # what a failed build left
            building.mkdir()
            build(building)
            building.rename(directory)
    return directory
