"""Retry policies for steps and compensations, and what happens once retries are exhausted."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["FailurePolicy", "Retry", "failure_policy"]


class FailurePolicy(StrEnum):
    """What a step that failed for good (retries exhausted, or a non-retryable error) does
    to its instance: ``on_failure=`` of ``@app.workflow`` and ``@app.step`` (the step's
    beats the workflow's). A :class:`daytwo.Reject` always compensates, whatever the policy:
    it is a business decision, not something an operator can fix."""

    #: The saga: the step is recorded as failed, the workflow sees :class:`StepFailed`,
    #: and the completed steps are compensated if it does not handle it.
    COMPENSATE = "compensate"
    #: The instance stops NEEDS_ATTENTION at the failed step, holding its history, until an
    #: operator retries, skips, resumes, aborts or terminates it.
    PARK = "park"


def failure_policy(value: FailurePolicy | str) -> FailurePolicy:
    """``value`` as a :class:`FailurePolicy`; anything else is refused in one line."""
    from daytwo._errors import InvalidInput

    try:
        return FailurePolicy(value)
    except ValueError:
        choices = ", ".join(repr(str(policy)) for policy in FailurePolicy)
        raise InvalidInput(
            f"unknown failure policy {value!r}; use one of {choices} (daytwo.FailurePolicy)"
        ) from None


@dataclass(frozen=True)
class Retry:
    """How a failing step is retried.

    The delay before attempt ``n + 1`` is ``initial_delay * backoff ** (n - 1)``, capped at
    ``max_delay``, then spread by ``jitter`` (a fraction: 0.1 means ±10%). Every backoff is a
    durable timer: the instance is suspended and holds no thread while it waits.

    ``non_retryable`` lists exception types that fail the step at once; :class:`daytwo.Reject`
    is always non-retryable.
    """

    max_attempts: int = 3
    initial_delay: float = 1.0
    backoff: float = 2.0
    max_delay: float = 60.0
    jitter: float = 0.1
    non_retryable: tuple[type[BaseException], ...] = field(default=())

    def __post_init__(self) -> None:
        problems = []
        if self.max_attempts < 1:
            problems.append(f"max_attempts must be at least 1 (got {self.max_attempts})")
        if self.initial_delay < 0:
            problems.append(f"initial_delay must be >= 0 seconds (got {self.initial_delay})")
        if self.backoff < 1:
            problems.append(f"backoff must be >= 1 (got {self.backoff})")
        if self.max_delay < self.initial_delay:
            problems.append(
                f"max_delay ({self.max_delay}) must be >= initial_delay ({self.initial_delay})"
            )
        if not 0 <= self.jitter <= 1:
            problems.append(f"jitter must be between 0 and 1 (got {self.jitter})")
        if problems:
            raise ValueError("invalid Retry policy: " + "; ".join(problems))

    def delay(self, failed_attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after attempt number ``failed_attempt`` (1-based) failed."""
        base = min(self.initial_delay * self.backoff ** (failed_attempt - 1), self.max_delay)
        if self.jitter and base > 0:
            spread = base * self.jitter
            base += (rng or random).uniform(-spread, spread)
        return max(0.0, min(base, self.max_delay))

    def retryable(self, error: BaseException, attempt: int) -> bool:
        """Whether the step may run again after ``error`` ended attempt ``attempt``."""
        from daytwo._errors import Reject

        if attempt >= self.max_attempts or isinstance(error, Reject):
            return False
        return not isinstance(error, self.non_retryable)


NO_RETRY = Retry(max_attempts=1, initial_delay=0.0, max_delay=0.0, jitter=0.0)
DEFAULT_RETRY = Retry()
