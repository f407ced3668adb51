"""A breaker's policy and its window math: count and time windows, minimum calls, slow
calls, the thresholds (a rate that reaches one opens), and the one-line refusals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import daytwo
from daytwo import BreakerPolicy, CallOutcome
from daytwo.store import WindowCounts, classify, count_window, verdict

OUTCOMES = st.sampled_from(list(CallOutcome))


def test_a_policy_names_neither_window_and_judges_the_last_100_calls() -> None:
    policy = BreakerPolicy()
    assert (policy.window, policy.window_seconds, policy.describe_window) == (
        100,
        None,
        "last 100 calls",
    )
    assert BreakerPolicy.from_json(policy.to_json()) == policy
    timed = BreakerPolicy(window_seconds=60)
    assert timed.window is None and BreakerPolicy.from_json(timed.to_json()) == timed


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"failure_rate": -5},
            "failure_rate must be a percentage above 0 and at most 100 (got -5)",
        ),
        ({"failure_rate": 150}, "failure_rate must be a percentage above 0 and at most 100"),
        ({"slow_call_rate": 0}, "slow_call_rate must be a percentage above 0"),
        ({"window": 0}, "window must be a whole number of calls, at least 1 (got 0)"),
        ({"window_seconds": 0}, "window_seconds must be above 0 seconds (got 0)"),
        ({"window": 10, "window_seconds": 60}, "give window (calls) or window_seconds, not both"),
        ({"minimum_calls": 0}, "minimum_calls must be a whole number, at least 1 (got 0)"),
        ({"half_open_calls": -1}, "half_open_calls must be a whole number, at least 1"),
        ({"open_for": 0}, "open_for must be above 0 seconds (got 0)"),
        ({"slow_call_duration": -1}, "slow_call_duration must be above 0 seconds (got -1)"),
        ({"minimum_calls": 2.5}, "minimum_calls must be a whole number"),
    ],
)
def test_a_bad_policy_is_one_line_naming_the_field_and_its_range(
    fields: dict[str, float], message: str
) -> None:
    with pytest.raises(daytwo.InvalidInput, match="invalid breaker policy") as refused:
        BreakerPolicy(**fields)  # type: ignore[arg-type]
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_the_window_is_not_judged_below_the_minimum_number_of_calls() -> None:
    policy = BreakerPolicy(failure_rate=50, window=10, minimum_calls=5)
    four_failures = WindowCounts.of([CallOutcome.FAILURE] * 4)
    assert verdict(policy, four_failures) is None
    five = WindowCounts.of([CallOutcome.FAILURE] * 5)
    assert verdict(policy, five) == "failure rate 100% >= 50% (5 of 5 calls)"


def test_a_rate_that_reaches_the_threshold_opens_and_one_below_does_not() -> None:
    policy = BreakerPolicy(failure_rate=50, window=10, minimum_calls=4)
    at = WindowCounts.of([CallOutcome.FAILURE, CallOutcome.SUCCESS] * 2)
    below = WindowCounts.of([CallOutcome.FAILURE] + [CallOutcome.SUCCESS] * 3)
    assert verdict(policy, at) is not None and verdict(policy, below) is None


def test_slow_calls_open_by_their_own_rate_only_when_a_duration_is_set() -> None:
    policy = BreakerPolicy(window=10, minimum_calls=2, slow_call_duration=5, slow_call_rate=50)
    assert classify(policy, False, 5.0) is CallOutcome.SLOW
    assert classify(policy, True, 9.0) is CallOutcome.SLOW_FAILURE
    assert classify(policy, False, 4.9) is CallOutcome.SUCCESS
    counts = WindowCounts.of([CallOutcome.SLOW, CallOutcome.SUCCESS])
    assert (counts.failure_rate, counts.slow_rate) == (0.0, 50.0)
    assert verdict(policy, counts) == ("slow-call rate 50% >= 50% (1 of 2 calls slower than 5 s)")
    never_slow = BreakerPolicy(window=10, minimum_calls=2)
    assert classify(never_slow, False, 1e9) is CallOutcome.SUCCESS
    assert verdict(never_slow, counts) is None


def test_a_slow_failure_counts_as_failed_and_as_slow() -> None:
    counts = WindowCounts.of([CallOutcome.SLOW_FAILURE, CallOutcome.SUCCESS])
    assert (counts.calls, counts.failures, counts.slow) == (2, 1, 1)


@given(st.lists(OUTCOMES, max_size=60), st.integers(min_value=1, max_value=30))
def test_a_count_window_holds_the_last_n_calls(outcomes: list[CallOutcome], n: int) -> None:
    policy = BreakerPolicy(window=n)
    calls = [(float(i), outcome) for i, outcome in enumerate(outcomes)]
    counts = count_window(policy, calls, now=1e6)
    last = outcomes[-n:]
    assert counts.calls == min(n, len(outcomes))
    assert counts.failures == sum(o.failed for o in last)
    assert counts.slow == sum(o.slow for o in last)


@given(
    st.lists(st.tuples(st.floats(min_value=0, max_value=200), OUTCOMES), max_size=60),
    st.floats(min_value=0.5, max_value=120),
)
def test_a_time_window_holds_the_calls_of_the_last_n_seconds(
    calls: list[tuple[float, CallOutcome]], seconds: float
) -> None:
    policy = BreakerPolicy(window_seconds=seconds)
    now = 200.0
    counts = count_window(policy, sorted(calls), now)
    inside = [outcome for at, outcome in calls if at > now - seconds]
    assert counts == WindowCounts.of(inside)


@given(st.lists(OUTCOMES, min_size=1, max_size=40), st.integers(min_value=1, max_value=40))
def test_the_verdict_is_the_thresholds_on_the_rates(
    outcomes: list[CallOutcome], minimum: int
) -> None:
    policy = BreakerPolicy(
        failure_rate=40, window=100, minimum_calls=minimum, slow_call_duration=1, slow_call_rate=70
    )
    counts = WindowCounts.of(outcomes)
    opens = verdict(policy, counts) is not None
    failed = 100 * counts.failures / counts.calls >= 40
    slow = 100 * counts.slow / counts.calls >= 70
    assert opens == (len(outcomes) >= minimum and (failed or slow))
