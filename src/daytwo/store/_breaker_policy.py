"""A circuit breaker's policy and the arithmetic of its sliding window.

The semantics are resilience4j's, not a consecutive-failure counter: a closed breaker
judges the calls in its window (the last N calls, or the calls of the last N seconds)
once the window holds at least ``minimum_calls``; it opens when the failure rate or the
slow-call rate reaches its threshold. An open breaker holds calls back for ``open_for``
seconds, then half-opens: ``half_open_calls`` probe calls go through, and their rates
close the circuit (both under the thresholds) or open it again.

Everything here is pure (no database), so the window math is tested on its own; the store
(``_breakers.py``) counts the same window in SQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from daytwo._errors import InvalidInput
from daytwo.store._vocabulary import CallOutcome

__all__ = ["BreakerPolicy", "WindowCounts", "classify", "count_window", "verdict"]

#: The count window a policy has when it names neither kind of window.
DEFAULT_WINDOW = 100


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When a dependency's circuit opens, how long it stays open, how it probes.

    ``failure_rate`` and ``slow_call_rate`` are percentages (above 0, at most 100): the
    circuit opens when the share of failed (or slow) calls in the window reaches it. The
    window is ``window`` calls (the last N) or ``window_seconds`` (the calls of the last N
    seconds), one or the other (neither: the last 100 calls); it is judged only once it
    holds ``minimum_calls``. A call slower than ``slow_call_duration`` seconds is slow
    (None: calls are never slow). An open circuit waits ``open_for`` seconds, then lets
    ``half_open_calls`` probe calls through.
    """

    failure_rate: float = 50.0
    window: int | None = None
    window_seconds: float | None = None
    minimum_calls: int = 10
    slow_call_duration: float | None = None
    slow_call_rate: float = 100.0
    open_for: float = 60.0
    half_open_calls: int = 3

    def __post_init__(self) -> None:
        problems = list(_problems(self))
        if problems:
            raise InvalidInput("invalid breaker policy: " + "; ".join(problems))
        if self.window is None and self.window_seconds is None:
            object.__setattr__(self, "window", DEFAULT_WINDOW)

    @property
    def describe_window(self) -> str:
        """The window in words: "last 100 calls", "last 60 s"."""
        if self.window_seconds is not None:
            return f"last {self.window_seconds:g} s"
        return f"last {self.window} calls"

    def to_json(self) -> str:
        """The stored form (``breakers.policy``)."""
        return json.dumps(asdict(self), sort_keys=True)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_json(cls, text: str) -> BreakerPolicy:
        """The policy of a stored row (fields this version does not know are ignored)."""
        values = json.loads(text)
        known = {name: values[name] for name in cls.__dataclass_fields__ if name in values}
        return cls(**known)


def _problems(policy: BreakerPolicy) -> Iterable[str]:
    def number(value: Any) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool)

    for name in ("failure_rate", "slow_call_rate"):
        value = getattr(policy, name)
        if not number(value) or not 0 < value <= 100:
            yield f"{name} must be a percentage above 0 and at most 100 (got {value!r})"
    if policy.window is not None and policy.window_seconds is not None:
        yield "give window (calls) or window_seconds, not both"
    if policy.window is not None and (
        not isinstance(policy.window, int) or isinstance(policy.window, bool) or policy.window < 1
    ):
        yield f"window must be a whole number of calls, at least 1 (got {policy.window!r})"
    if policy.window_seconds is not None and (
        not number(policy.window_seconds) or policy.window_seconds <= 0
    ):
        yield f"window_seconds must be above 0 seconds (got {policy.window_seconds!r})"
    for name in ("minimum_calls", "half_open_calls"):
        value = getattr(policy, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            yield f"{name} must be a whole number, at least 1 (got {value!r})"
    if policy.slow_call_duration is not None and (
        not number(policy.slow_call_duration) or policy.slow_call_duration <= 0
    ):
        yield f"slow_call_duration must be above 0 seconds (got {policy.slow_call_duration!r})"
    if not number(policy.open_for) or policy.open_for <= 0:
        yield f"open_for must be above 0 seconds (got {policy.open_for!r})"


@dataclass(frozen=True, slots=True)
class WindowCounts:
    """The calls of a window: how many, how many failed, how many were slow."""

    calls: int = 0
    failures: int = 0
    slow: int = 0

    @property
    def failure_rate(self) -> float | None:
        """Failed calls in percent (None for an empty window)."""
        return None if not self.calls else 100.0 * self.failures / self.calls

    @property
    def slow_rate(self) -> float | None:
        """Slow calls in percent (None for an empty window)."""
        return None if not self.calls else 100.0 * self.slow / self.calls

    @classmethod
    def of(cls, outcomes: Iterable[CallOutcome | str]) -> WindowCounts:
        """The counts of these outcomes."""
        calls = failures = slow = 0
        for outcome in outcomes:
            member = CallOutcome(outcome)
            calls += 1
            failures += member.failed
            slow += member.slow
        return cls(calls, failures, slow)


def classify(policy: BreakerPolicy, failed: bool, duration: float) -> CallOutcome:
    """The outcome of a call that failed or not and took ``duration`` seconds."""
    slow = policy.slow_call_duration is not None and duration >= policy.slow_call_duration
    if failed:
        return CallOutcome.SLOW_FAILURE if slow else CallOutcome.FAILURE
    return CallOutcome.SLOW if slow else CallOutcome.SUCCESS


def count_window(
    policy: BreakerPolicy, calls: Iterable[tuple[float, CallOutcome | str]], now: float
) -> WindowCounts:
    """The window of ``calls`` ((time, outcome), oldest first) at ``now`` under ``policy``:
    the last ``window`` calls, or those of the last ``window_seconds`` seconds."""
    if policy.window_seconds is not None:
        start = now - policy.window_seconds
        return WindowCounts.of(outcome for at, outcome in calls if at > start)
    assert policy.window is not None
    return WindowCounts.of([outcome for _, outcome in calls][-policy.window :])


def verdict(
    policy: BreakerPolicy, counts: WindowCounts, *, minimum: int | None = None
) -> str | None:
    """Why the circuit opens on these counts, or None while it stays closed.

    A window with fewer than ``minimum`` calls (default the policy's ``minimum_calls``) is
    not judged. A rate opens the circuit when it reaches its threshold.
    """
    needed = policy.minimum_calls if minimum is None else minimum
    if counts.calls < max(needed, 1):
        return None
    failure_rate = counts.failure_rate
    assert failure_rate is not None
    if failure_rate >= policy.failure_rate:
        return (
            f"failure rate {failure_rate:.0f}% >= {policy.failure_rate:g}% "
            f"({counts.failures} of {counts.calls} calls)"
        )
    slow_rate = counts.slow_rate
    assert slow_rate is not None
    if policy.slow_call_duration is not None and slow_rate >= policy.slow_call_rate:
        return (
            f"slow-call rate {slow_rate:.0f}% >= {policy.slow_call_rate:g}% "
            f"({counts.slow} of {counts.calls} calls slower than "
            f"{policy.slow_call_duration:g} s)"
        )
    return None
