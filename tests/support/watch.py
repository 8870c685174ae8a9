"""`automations watch` in tests: it lives until a signal ends it.

- In process (`watch_in_process`, most tests): `main(argv)` on this, the main, thread, as
  `run_cli` runs any command (the watcher's signal handlers need the main thread), while the
  test drives it from another thread. The test's signal goes to this process and reaches the
  watcher's own handler, as it would in a process of its own.
- As a process (`Watch`), where the process itself is the point: a signal ends the whole
  program promptly; a second watcher, another process, is refused by the lock.
"""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from support.cli import AUTOMATIONS, Result, TextCapture, run_cli

WATCH_TIMEOUT = 120.0  # seconds a whole in-process watch may take before the test fails


class _Waiting:
    """What both kinds share: waiting for the watcher to do something, or to end."""

    output: str

    def ended(self) -> str | None:
        """How it ended, if it did."""
        raise NotImplementedError

    def wait_for(self, condition: Callable[[], object], what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            ended = self.ended()
            if ended is not None:
                raise AssertionError(f"watch ended ({ended}) before {what}:\n{self.output}")
            time.sleep(0.05)
        raise AssertionError(f"no {what} within {timeout:g}s:\n{self.output}")

    def watching(self) -> _Waiting:
        self.wait_for(lambda: "watching" in self.output, "start of watching")
        return self


class Watch(_Waiting):
    """`automations watch` as a process, its output in files (a pipe nobody reads would fill)."""

    def __init__(self, config: Path, env: dict[str, str], *args: str) -> None:
        self.directory = config.parent
        self.out = (self.directory / f"watch-{uuid.uuid4().hex[:6]}.out").open("w+")
        self.process = subprocess.Popen([str(AUTOMATIONS), "-c", str(config), "watch", *args], cwd=self.directory,
                                        env=env, stdout=self.out, stderr=subprocess.STDOUT, text=True)
        self.pid = self.process.pid

    @property
    def output(self) -> str:
        return Path(self.out.name).read_text()

    def ended(self) -> str | None:
        code = self.process.poll()
        return None if code is None else str(code)

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


class WatchInProcess(_Waiting):
    """The handle a test's `drive` function gets: the output so far, waiting, stopping."""

    def __init__(self) -> None:
        self.stdout, self.stderr = TextCapture(), TextCapture()
        self.pid = os.getpid()
        self.result: Result | None = None
        self.finished = threading.Event()

    @property
    def output(self) -> str:
        return self.stdout.written() + self.stderr.written()

    def ended(self) -> str | None:
        if not self.finished.is_set():
            return None
        return str(self.result.code) if self.result else "failed"

    def watching(self) -> WatchInProcess:
        """Once it says so, and its own signal handler is in (it is in before the first run;
        the check keeps a test honest should that change)."""
        self.wait_for(lambda: "watching" in self.output and _watcher_takes_signals(), "start of watching")
        return self

    def stop(self, signum: int = signal.SIGTERM) -> tuple[int, float]:
        """Send `signum` to this process (the watcher's handler takes it); its exit code and
        how long it took to end."""
        started = time.monotonic()
        os.kill(os.getpid(), signum)
        if not self.finished.wait(30):
            raise AssertionError(f"watch still running 30 s after {signum}:\n{self.output}")
        return (self.result.code if self.result else -1), time.monotonic() - started


def watch_in_process(config: Path, env: dict[str, str], drive: Callable[[WatchInProcess], object],
                     *args: str) -> Result:
    """`automations -c CONFIG watch ARGS` in process; once it is watching, `drive(watch)` runs
    in another thread, then the watch is stopped by SIGTERM (if `drive` did not stop it).
    Returns what it printed and its exit code; a failure in `drive` fails the test."""
    watch = WatchInProcess()
    failures: list[BaseException] = []

    def driver() -> None:
        try:
            drive(watch.watching())
        except BaseException as error:  # raised again on the test's thread
            failures.append(error)
        finally:
            # Until it has ended: the first signal may land before the watcher's handler is in.
            while not watch.finished.is_set():
                os.kill(os.getpid(), signal.SIGTERM)
                watch.finished.wait(5)

    thread = threading.Thread(target=driver, name="watch driver", daemon=True)
    with stray_signals_ignored():
        thread.start()
        try:
            watch.result = run_cli("-c", str(config), "watch", *args, cwd=config.parent, env=env,
                                   timeout=WATCH_TIMEOUT, capture=(watch.stdout, watch.stderr))
        finally:
            watch.finished.set()
            thread.join(30)
    if failures:
        raise failures[0]
    return watch.result


def _watcher_takes_signals() -> bool:
    handler = signal.getsignal(signal.SIGTERM)
    return getattr(handler, "__qualname__", "") == "Wakeup.on_signal"


@contextmanager
def stray_signals_ignored() -> Iterator[None]:
    """A SIGTERM or SIGINT meant for the watcher that lands after it ended (or before the CLI
    took the signals) must not end the test process."""
    previous = {signum: signal.signal(signum, lambda *_: None) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
