"""The shared retry mechanics (automations/retry.py, issue 16): which policy applies to an
error is decided by its class (throttled, transient; anything else is fatal), `retry:`
overrides every class or one, and when a step's errors alternate between classes one
attempts budget and one deadline still bound the whole.

Waits are made exact by taking the top of each full-jitter window (tenacity draws
uniform(0, top)): the waits then say which policy was used."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import tenacity

from automations.engine.step import Step
from automations.errors import Cancelled, StepFailed, ThrottledError, TransientError
from automations.retry import THROTTLED, TRANSIENT, RetryPolicies, RetryPolicy, call_with_retry

POLICIES = RetryPolicies(
    transient=RetryPolicy(attempts=3, initial_delay=0.001, max_delay=0.002, deadline=10.0),
    throttled=RetryPolicy(attempts=5, initial_delay=0.004, max_delay=0.016, deadline=20.0),
)


@pytest.fixture(autouse=True)
def top_of_each_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tenacity.wait.random, "uniform", lambda low, high: high)


class Script:
    """An attempt that raises the given errors in turn, then returns "done"; it records
    what the retry mechanics told it."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors: Iterator[BaseException] = iter(errors)
        self.calls = 0
        self.started: list[float] = []
        self.retries: list[tuple[int, str, float]] = []

    def __call__(self) -> str:
        self.calls += 1
        self.started.append(time.monotonic())
        error = next(self.errors, None)
        if error is not None:
            raise error
        return "done"

    def on_retry(self, attempt: int, error: BaseException, error_class: str, wait: float) -> None:
        self.retries.append((attempt, error_class, round(wait, 6)))


def classify(error: BaseException) -> str | None:
    return Step(None).error_class(error)  # a step type's default classification


def run(script: Script, policies: RetryPolicies | RetryPolicy = POLICIES) -> str:
    return call_with_retry(script, policies, classify, on_retry=script.on_retry)


def alternating(count: int) -> list[BaseException]:
    return [ThrottledError("slow down") if n % 2 == 0 else TransientError("try again") for n in range(count)]


# -- per class ---------------------------------------------------------------------------------

def test_a_throttled_error_waits_as_the_throttled_policy_says() -> None:
    script = Script(ThrottledError("Throttling"), ThrottledError("Throttling"), ThrottledError("Throttling"))

    assert run(script) == "done"
    assert script.retries == [(1, THROTTLED, 0.004), (2, THROTTLED, 0.008), (3, THROTTLED, 0.016)]


def test_a_transient_error_waits_as_the_transient_policy_says() -> None:
    script = Script(TransientError("IDPCommunicationError"), TransientError("IDPCommunicationError"))

    assert run(script) == "done"
    assert script.retries == [(1, TRANSIENT, 0.001), (2, TRANSIENT, 0.002)]


def test_a_fatal_error_is_not_retried() -> None:
    script = Script(StepFailed("AccessDenied"))

    with pytest.raises(StepFailed, match="AccessDenied"):
        run(script)
    assert script.calls == 1 and script.retries == []


def test_a_cancellation_is_never_retried_even_by_a_classifier_that_retries_everything() -> None:
    script = Script(Cancelled("cancelled"))

    with pytest.raises(Cancelled):
        call_with_retry(script, POLICIES, lambda error: TRANSIENT, on_retry=script.on_retry)
    assert script.calls == 1 and script.retries == []


def test_the_retry_callback_is_told_the_error_that_failed() -> None:
    error = TransientError("IDPCommunicationError")
    told: list[BaseException] = []

    call_with_retry(Script(error), POLICIES, classify, on_retry=lambda _n, e, _c, _w: told.append(e))
    assert told == [error]


def test_a_step_type_without_a_policy_tries_once() -> None:
    script = Script(TransientError("t"), TransientError("t"))

    with pytest.raises(TransientError):
        call_with_retry(script, RetryPolicy(), classify)
    assert script.calls == 1


def test_a_policy_says_what_it_does_with_its_defaults() -> None:
    assert RetryPolicy(attempts=3).describe() == "3 attempts, first wait up to 0.5s, at most 20s apart"
    assert (RetryPolicy(attempts=5, initial_delay=0.25, max_delay=2, deadline=15).describe()
            == "5 attempts, first wait up to 0.25s, at most 2s apart, 15s overall")


def test_policies_are_equal_when_their_settings_are() -> None:
    assert RetryPolicy(attempts=3) == RetryPolicy(attempts=3) and RetryPolicy(attempts=3) != RetryPolicy()
    assert RetryPolicy() != "RetryPolicy()" and POLICIES != RetryPolicy()
    assert POLICIES == RetryPolicies(transient=POLICIES[TRANSIENT], throttled=POLICIES[THROTTLED])
    assert POLICIES != RetryPolicies(transient=POLICIES[TRANSIENT]) and POLICIES != "POLICIES"


def test_each_class_gives_up_at_its_own_attempts() -> None:
    throttled, transient = Script(*[ThrottledError("t")] * 10), Script(*[TransientError("t")] * 10)

    with pytest.raises(ThrottledError):
        run(throttled)
    with pytest.raises(TransientError):
        run(transient)

    assert throttled.calls == 5 and transient.calls == 3


def test_a_single_policy_applies_to_every_class() -> None:
    script = Script(ThrottledError("t"), TransientError("t"), ThrottledError("t"))

    with pytest.raises(ThrottledError):
        run(script, RetryPolicy(attempts=3, initial_delay=0.001, max_delay=0.001))
    assert [c for _, c, _ in script.retries] == [THROTTLED, TRANSIENT]
    assert script.calls == 3


def test_the_step_types_default_classification() -> None:
    class Quiet(TransientError):
        pass

    class Plugin(Step[None]):
        def is_transient(self, error: BaseException) -> bool:  # the older way a plugin says it
            return isinstance(error, TimeoutError)

    assert classify(ThrottledError("x")) == THROTTLED
    assert classify(Quiet("x")) == TRANSIENT
    assert classify(StepFailed("x")) is None and classify(ValueError("x")) is None
    assert Plugin(None).error_class(TimeoutError()) == TRANSIENT
    assert Plugin(None).error_class(ThrottledError("x")) == THROTTLED


def test_a_predicate_still_works_as_the_classifier_true_meaning_transient() -> None:
    script = Script(TimeoutError(), TimeoutError())

    assert call_with_retry(script, POLICIES, lambda e: isinstance(e, TimeoutError), on_retry=script.on_retry) == "done"
    assert [c for _, c, _ in script.retries] == [TRANSIENT, TRANSIENT]


# -- per-class override (the YAML `retry:` mapping) ----------------------------------------------

def test_retry_keys_override_every_class() -> None:
    policies = POLICIES.override({"attempts": 7, "maxDelay": 1})

    assert policies[THROTTLED] == RetryPolicy(attempts=7, initial_delay=0.004, max_delay=1, deadline=20.0)
    assert policies[TRANSIENT] == RetryPolicy(attempts=7, initial_delay=0.001, max_delay=1, deadline=10.0)


def test_a_class_mapping_overrides_that_class_only() -> None:
    policies = POLICIES.override({"throttled": {"initialDelay": 30, "deadline": 600}})

    assert policies[THROTTLED] == RetryPolicy(attempts=5, initial_delay=30, max_delay=0.016, deadline=600)
    assert policies[TRANSIENT] == POLICIES[TRANSIENT]


def test_a_class_mapping_wins_over_the_keys_for_every_class() -> None:
    policies = POLICIES.override({"attempts": 2, "transient": {"attempts": 9}})

    assert policies[THROTTLED].attempts == 2 and policies[TRANSIENT].attempts == 9


def test_an_overridden_class_policy_is_the_one_used() -> None:
    script = Script(ThrottledError("t"), TransientError("t"))

    assert run(script, POLICIES.override({"throttled": {"initialDelay": 0.003}})) == "done"
    assert script.retries == [(1, THROTTLED, 0.003), (2, TRANSIENT, 0.002)]


# -- mixed classes: one attempts budget, one deadline ----------------------------------------------

def test_alternating_classes_share_one_attempts_budget() -> None:
    script = Script(*alternating(20))

    with pytest.raises(StepFailed):
        run(script, POLICIES.override({"attempts": 4}))
    assert script.calls == 4  # not 4 throttled plus 4 transient


def test_a_class_met_late_does_not_start_a_fresh_budget() -> None:
    # Three throttled failures, then a transient one: transient allows 3 attempts in all, and
    # 4 have been made, so the step stops there.
    script = Script(ThrottledError("t"), ThrottledError("t"), ThrottledError("t"), TransientError("t"))

    with pytest.raises(TransientError):
        run(script)
    assert script.calls == 4


def test_alternating_classes_share_one_deadline() -> None:
    policies = RetryPolicies(transient=RetryPolicy(attempts=1000, initial_delay=0.05, max_delay=0.05, deadline=0.5),
                             throttled=RetryPolicy(attempts=1000, initial_delay=0.05, max_delay=0.05, deadline=0.5))
    script = Script(*alternating(1000))

    with pytest.raises(StepFailed):
        run(script, policies)
    assert script.started[-1] - script.started[0] < 0.5
    assert {c for _, c, _ in script.retries} == {THROTTLED, TRANSIENT}
    assert script.calls < 1000


def test_the_whole_is_bounded_by_the_largest_attempts_and_deadline() -> None:
    assert POLICIES.attempts == 5 and POLICIES.deadline == 20.0
    assert RetryPolicies(transient=RetryPolicy(deadline=None), throttled=RetryPolicy(deadline=5)).deadline is None


# -- the deadline, in virtual time -------------------------------------------------------------

class Clock:
    """Virtual time for the retry mechanics: attempts and waits move it on, nothing sleeps.
    It reads as tenacity's clock and stands in for the `cancelled` event, whose wait() is
    how call_with_retry sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.now += seconds
        return False  # not cancelled

    def is_set(self) -> bool:
        return False


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(tenacity, "time", clock)  # tenacity reads time.monotonic() for its state
    return clock


def failing_attempts(clock: Clock, error: BaseException, taking: float = 0.0) -> tuple[Callable[[], str], list[float]]:
    """An attempt that takes `taking` seconds and fails with `error`; and when each started."""
    started: list[float] = []

    def attempt() -> str:
        started.append(clock.now)
        clock.now += taking
        raise error

    return attempt, started


def test_no_attempt_starts_past_the_deadline(clock: Clock) -> None:
    attempt, started = failing_attempts(clock, TransientError("t"))
    policy = RetryPolicy(attempts=100, initial_delay=0.25, max_delay=0.25, deadline=0.9)

    with pytest.raises(TransientError):
        call_with_retry(attempt, policy, classify, cancelled=clock)  # type: ignore[arg-type]

    # The fifth attempt would start at 1.0 s, past the deadline: the fourth is the last.
    assert started == [0.0, 0.25, 0.5, 0.75]


def test_time_spent_in_attempts_counts_toward_the_deadline(clock: Clock) -> None:
    attempt, started = failing_attempts(clock, TransientError("t"), taking=0.4)
    policy = RetryPolicy(attempts=100, initial_delay=0.1, max_delay=0.1, deadline=1.2)

    with pytest.raises(TransientError):
        call_with_retry(attempt, policy, classify, cancelled=clock)  # type: ignore[arg-type]

    assert started == pytest.approx([0.0, 0.5, 1.0])


def test_each_class_gives_up_at_its_own_deadline(clock: Clock) -> None:
    policies = RetryPolicies(transient=RetryPolicy(attempts=100, initial_delay=1, max_delay=1, deadline=3),
                             throttled=RetryPolicy(attempts=100, initial_delay=1, max_delay=1, deadline=10))
    transient, transient_started = failing_attempts(clock, TransientError("t"))
    with pytest.raises(TransientError):
        call_with_retry(transient, policies, classify, cancelled=clock)  # type: ignore[arg-type]
    clock.now = 100.0
    throttled, throttled_started = failing_attempts(clock, ThrottledError("t"))
    with pytest.raises(ThrottledError):
        call_with_retry(throttled, policies, classify, cancelled=clock)  # type: ignore[arg-type]

    assert len(transient_started) == 3 and len(throttled_started) == 10


def test_the_delay_after_an_attempt_is_the_wait_tenacity_would_draw() -> None:
    # Taking the top of each window: 0.5, 1, 2, 4 ... capped at max_delay.
    policy = RetryPolicy(attempts=10, initial_delay=0.5, max_delay=3.0)
    assert [policy.delay(n) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert type(policy.delay(1)) is float
