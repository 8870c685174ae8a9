"""Retries, written once: exponential backoff with full jitter, a number of attempts and an
overall deadline, built from tenacity's strategies. Fatal errors are never retried; which
errors are transient is the step's call (`Step.is_transient`)."""
from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Any, Callable, TypeVar

from automations.errors import Cancelled

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 1
    initial_delay: float = 0.5   # seconds; the first wait is random in [0, initial_delay]
    max_delay: float = 20.0      # no single wait is longer
    deadline: float | None = None  # no new attempt starts past this many seconds overall

    def override(self, overrides: dict[str, Any] | None) -> RetryPolicy:
        """The YAML `retry:` mapping (attempts, initialDelay, maxDelay, deadline) over this."""
        if not overrides:
            return self
        names = {"attempts": "attempts", "initialDelay": "initial_delay",
                 "maxDelay": "max_delay", "deadline": "deadline"}
        return replace(self, **{names[k]: v for k, v in overrides.items()})


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
