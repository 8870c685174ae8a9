"""The watcher's pid lock (automations.files.pidlock) when the file system refuses the pid."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support.cli import run_cli

# `automations watch` with a file-size limit of 0 (a real refusal, as a full disk's: the pid
# cannot be written once the lock is taken); then, in the same process, whether the lock file
# is still open and whether another descriptor can take the lock.
WATCH_UNDER_A_FILE_SIZE_LIMIT = r"""
import fcntl, json, os, resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a core dump
resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
from automations.cli.main import main
code = main(["-c", sys.argv[1], "watch", "a"])
lock = sys.argv[2]
open_fds = [n for n in os.listdir("/proc/self/fd") if os.path.realpath(f"/proc/self/fd/{n}") == lock]
fd = os.open(lock, os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises if the failed watch still held it
print(json.dumps({"code": code, "open_fds": open_fds}))
"""


def test_a_pid_that_cannot_be_written_is_one_line_and_leaves_the_lock_free(write_config, base_env, tmp_path):
    config = write_config("tasks:\n  a:\n    steps:\n      - run: echo built\n")
    state = Path(base_env["XDG_STATE_HOME"])

    first = run_cli("-c", str(config), "run", "a", env=base_env)
    assert first.code == 0, first.output
    [history] = state.rglob("history")  # where the watcher's lock goes: beside the run history
    lock = history.parent / "watch.lock"

    proc = subprocess.run([sys.executable, "-c", WATCH_UNDER_A_FILE_SIZE_LIMIT, str(config), str(lock)],
                          env=base_env, capture_output=True, text=True, timeout=60)

    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"code": 1, "open_fds": []}
    assert proc.stderr.splitlines() == [f"error: cannot write {lock}: File too large"]
    assert "built" not in proc.stdout + proc.stderr  # the run never started
