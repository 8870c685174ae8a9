"""Retries, written once: exponential backoff with full jitter, a number of attempts and an
overall deadline, built from tenacity's strategies. Fatal errors are never retried; which
errors are transient is the step's call (`Step.is_transient`)."""
from __future__ import annotations

import threading
from typing import Any, Callable, TypeVar

from automations.errors import Cancelled

T = TypeVar("T")


class RetryPolicy:
    """How often and how patiently to try. (A plain class: imported whenever step types
    load, so it must not pull in dataclasses; see automations.config on speed.)"""

    __slots__ = ("attempts", "initial_delay", "max_delay", "deadline")

    def __init__(self, attempts: int = 1, initial_delay: float = 0.5, max_delay: float = 20.0,
                 deadline: float | None = None) -> None:
        self.attempts = attempts            # tries in all, the first included
        self.initial_delay = initial_delay  # seconds; the first wait is random in [0, initial_delay]
        self.max_delay = max_delay          # no single wait is longer
        self.deadline = deadline            # no new attempt starts past this many seconds overall

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RetryPolicy) and all(
            getattr(self, name) == getattr(other, name) for name in self.__slots__)

    def __repr__(self) -> str:
        return (f"RetryPolicy(attempts={self.attempts}, initial_delay={self.initial_delay}, "
                f"max_delay={self.max_delay}, deadline={self.deadline})")

    def override(self, overrides: dict[str, Any] | None) -> RetryPolicy:
        """The YAML `retry:` mapping (attempts, initialDelay, maxDelay, deadline) over this."""
        if not overrides:
            return self
        names = {"attempts": "attempts", "initialDelay": "initial_delay",
                 "maxDelay": "max_delay", "deadline": "deadline"}
        values = {name: getattr(self, name) for name in self.__slots__}
        values.update({names[k]: v for k, v in overrides.items()})
        return RetryPolicy(**values)


def call_with_retry(
    attempt: Callable[[], T],
    policy: RetryPolicy,
    is_transient: Callable[[BaseException], bool],
    *,
    cancelled: threading.Event | None = None,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
) -> T:
    """Call `attempt` until it returns, raises a fatal error, or the policy gives up (the
    last error is re-raised). `on_retry(attempt_number, error, wait_seconds)` is told before
    each wait; waits end early when `cancelled` is set."""
    import tenacity  # imported here: the CLI's start must stay fast

    cancelled = cancelled or threading.Event()

    def sleep(seconds: float) -> None:
        if cancelled.wait(seconds):
            raise Cancelled("interrupted")

    stop = tenacity.stop_after_attempt(max(1, policy.attempts))
    if policy.deadline is not None:
        stop = stop | tenacity.stop_before_delay(policy.deadline)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        if on_retry and state.outcome is not None and state.next_action is not None:
            on_retry(state.attempt_number, state.outcome.exception(), state.next_action.sleep)

    retrying = tenacity.Retrying(
        stop=stop,
        wait=tenacity.wait_random_exponential(multiplier=policy.initial_delay, max=policy.max_delay),
        retry=tenacity.retry_if_exception(lambda e: not isinstance(e, Cancelled) and is_transient(e)),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    return retrying(attempt)
