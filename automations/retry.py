"""Retries, written once: exponential backoff with full jitter, a number of attempts and an
overall deadline, built from tenacity's strategies, with one policy per error class.

Errors come in three classes (issue 16):
- `throttled` (a shared quota said no: Throttling, HTTP 429): spread out;
- `transient` (not ready yet, a 5xx, a dropped connection): try again soon;
- fatal (anything else): never retried.

Which class an error is, is the step's call (`Step.error_class`). After each failure the
policy of that failure's class decides the wait and whether to stop, counting every attempt
and all the time since the first: so when a step's errors alternate between classes, the
largest `attempts` and `deadline` of its policies still bound the whole.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from automations.errors import Cancelled, ThrottledError, TransientError

if TYPE_CHECKING:  # tenacity itself is imported where it is used: the CLI's start must stay fast
    import threading

    from tenacity import RetryCallState, Retrying
    from tenacity.stop import stop_base
    from tenacity.wait import wait_base

T = TypeVar("T")

THROTTLED = ThrottledError.error_class  # "throttled"
TRANSIENT = TransientError.error_class  # "transient"
ERROR_CLASSES = (THROTTLED, TRANSIENT)

# The YAML `retry:` keys of one policy and the attribute each sets.
POLICY_KEYS = {"attempts": "attempts", "initialDelay": "initial_delay", "maxDelay": "max_delay",
               "deadline": "deadline"}


class RetryPolicy:
    """How often and how patiently to try. (A plain class: imported whenever step types
    load, so it must not pull in dataclasses; see automations.engine.config on speed.)"""

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
        """The YAML `retry:` keys (attempts, initialDelay, maxDelay, deadline) over this; other
        keys (the error classes) are not this policy's."""
        values = {name: getattr(self, name) for name in self.__slots__}
        values.update({POLICY_KEYS[k]: v for k, v in (overrides or {}).items() if k in POLICY_KEYS})
        return RetryPolicy(**values)

    def stop(self) -> stop_base:
        """tenacity's stop strategy: out of attempts, or the next one would start past the deadline."""
        import tenacity

        stop: stop_base = tenacity.stop_after_attempt(max(1, self.attempts))
        if self.deadline is not None:
            stop = stop | tenacity.stop_before_delay(self.deadline)
        return stop

    def wait(self) -> wait_base:
        """tenacity's full jitter: uniform(0, min(max_delay, initial_delay * 2^(n-1))) before attempt n+1."""
        import tenacity

        return tenacity.wait_random_exponential(multiplier=self.initial_delay, max=self.max_delay)

    def delay(self, attempt_number: int) -> float:
        """The wait `wait()` draws after attempt `attempt_number` fails, for a caller that
        schedules its own next attempt (automations watch) instead of sleeping in tenacity."""
        import tenacity

        state = tenacity.RetryCallState(tenacity.Retrying(), None, (), {})
        state.attempt_number = attempt_number
        return float(self.wait()(state))

    def describe(self) -> str:
        deadline = f", {self.deadline:g}s overall" if self.deadline is not None else ""
        return (f"{self.attempts} attempts, first wait up to {self.initial_delay:g}s, "
                f"at most {self.max_delay:g}s apart{deadline}")


class RetryPolicies:
    """A step type's retries: one RetryPolicy per error class."""

    __slots__ = ("by_class",)

    def __init__(self, *, transient: RetryPolicy, throttled: RetryPolicy | None = None) -> None:
        self.by_class = {THROTTLED: throttled or transient, TRANSIENT: transient}

    @classmethod
    def of(cls, policy: RetryPolicy | RetryPolicies) -> RetryPolicies:
        """A single RetryPolicy is the same policy for every class."""
        return policy if isinstance(policy, RetryPolicies) else cls(transient=policy)

    def __getitem__(self, error_class: str) -> RetryPolicy:
        return self.by_class[error_class]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RetryPolicies) and other.by_class == self.by_class

    def __repr__(self) -> str:
        return f"RetryPolicies(transient={self[TRANSIENT]!r}, throttled={self[THROTTLED]!r})"

    @property
    def attempts(self) -> int:
        """At most this many attempts in all, whatever the mix of errors."""
        return max(policy.attempts for policy in self.by_class.values())

    @property
    def deadline(self) -> float | None:
        """No attempt starts later than this, whatever the mix of errors (None: no deadline)."""
        deadlines = [policy.deadline for policy in self.by_class.values()]
        return None if None in deadlines else max(d for d in deadlines if d is not None)

    def override(self, overrides: dict[str, Any] | None) -> RetryPolicies:
        """The YAML `retry:` mapping over these: its policy keys override every class, then
        a class's own mapping (`throttled: {...}`, `transient: {...}`) overrides that class."""
        overrides = overrides or {}
        return RetryPolicies(**{
            error_class: policy.override(overrides).override(overrides.get(error_class))
            for error_class, policy in self.by_class.items()})


Classify = Callable[[BaseException], str | bool | None]


def _error_class(classify: Classify, error: BaseException | None) -> str | None:
    if error is None or isinstance(error, Cancelled):
        return None
    found = classify(error)
    # A predicate (the old `is_transient` shape) still works: True means transient.
    return TRANSIENT if found is True else (found or None)


class _ByErrorClass:
    """A tenacity strategy (stop or wait) that asks the strategy of the class of the error
    just met. tenacity's state (attempt number, time since the first attempt) is the whole
    call's, so every class's bounds count every attempt."""

    def __init__(self, strategies: dict[str, Any], classify: Classify) -> None:
        self.strategies = strategies
        self.classify = classify

    def __call__(self, state: RetryCallState) -> Any:
        # tenacity asks only after an error it retries, which always has a class.
        error_class = _error_class(self.classify, state.outcome.exception() if state.outcome else None)
        return self.strategies[error_class or TRANSIENT](state)


def retrying(policy: RetryPolicy | RetryPolicies, classify: Classify, **settings: Any) -> Retrying:
    """A tenacity `Retrying` for these policies: retry what `classify` puts in a class
    (THROTTLED, TRANSIENT; None: fatal), wait and stop as that class's policy says.
    (bench/fleet.py's model uses the same stop and wait.)"""
    import tenacity  # imported here: the CLI's start must stay fast

    policies = RetryPolicies.of(policy)
    return tenacity.Retrying(
        stop=_ByErrorClass({c: p.stop() for c, p in policies.by_class.items()}, classify),
        wait=_ByErrorClass({c: p.wait() for c, p in policies.by_class.items()}, classify),
        retry=tenacity.retry_if_exception(lambda e: _error_class(classify, e) is not None),
        reraise=True,
        **settings,
    )


def call_with_retry(
    attempt: Callable[[], T],
    policy: RetryPolicy | RetryPolicies,
    classify: Classify,
    *,
    cancelled: threading.Event | None = None,
    on_retry: Callable[[int, BaseException, str, float], None] | None = None,
) -> T:
    """Call `attempt` until it returns, raises a fatal error, or the policy of the class of
    its last error gives up (that error is re-raised). `classify(error)` names the class
    (THROTTLED, TRANSIENT) or returns None for fatal. `on_retry(attempt_number, error,
    error_class, wait_seconds)` is told before each wait; waits end early when `cancelled`
    is set."""
    if cancelled is None:
        import threading  # here: `list` and `validate` import this module and start no threads

        cancelled = threading.Event()

    def sleep(seconds: float) -> None:
        if cancelled.wait(seconds):
            raise Cancelled("interrupted")

    def before_sleep(state: RetryCallState) -> None:
        if on_retry and state.outcome is not None and state.next_action is not None:
            error = state.outcome.exception()
            error_class = _error_class(classify, error)
            if error is not None and error_class is not None:  # always so: tenacity retried it
                on_retry(state.attempt_number, error, error_class, state.next_action.sleep)

    return retrying(policy, classify, sleep=sleep, before_sleep=before_sleep)(attempt)


def retry_message(attempt: int, attempts: int, error: str, error_class: str, wait: float) -> str:
    """The warning before a retry: `attempt 1 of 10 failed: ...; throttled; retrying in 6.2s`."""
    return f"attempt {attempt} of {attempts} failed: {error}; {error_class}; retrying in {wait:.1f}s"
