"""A bound on how long an in-process call may take: SIGALRM interrupts whatever the main
thread waits in, so a hang fails its test instead of stopping the suite."""
from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def bounded(seconds: float, first: Callable[[], None] = lambda: None) -> Iterator[None]:
    """Raise TimeoutError in this (the main) thread after `seconds`, once `first()` has run
    (e.g. a runner's `cancel`, so that the threads it waits for end too)."""
    def hung(signum: int, frame: object) -> None:
        first()
        raise TimeoutError(f"still running after {seconds:g}s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
