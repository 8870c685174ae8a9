"""`automations watch` as a real process in tests: it lives until a signal ends it."""
from __future__ import annotations

import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from support.cli import AUTOMATIONS


class Watch:
    """`automations watch` as a process, its output in files (a pipe nobody reads would fill)."""

    def __init__(self, config: Path, env: dict[str, str], *args: str) -> None:
        self.directory = config.parent
        self.out = (self.directory / f"watch-{uuid.uuid4().hex[:6]}.out").open("w+")
        self.process = subprocess.Popen([str(AUTOMATIONS), "-c", str(config), "watch", *args], cwd=self.directory,
                                        env=env, stdout=self.out, stderr=subprocess.STDOUT, text=True)

    @property
    def output(self) -> str:
        return Path(self.out.name).read_text()

    def wait_for(self, condition: Callable[[], object], what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            if self.process.poll() is not None:
                raise AssertionError(f"watch ended ({self.process.returncode}) before {what}:\n{self.output}")
            time.sleep(0.1)
        raise AssertionError(f"no {what} within {timeout:g}s:\n{self.output}")

    def watching(self) -> Watch:
        self.wait_for(lambda: "watching" in self.output, "start of watching")
        return self

    def stop(self, signum: int = signal.SIGTERM) -> tuple[int, float]:
        started = time.monotonic()
        self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(f"watch still running 30 s after {signum}:\n{self.output}") from None
        return code, time.monotonic() - started

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.out.close()
