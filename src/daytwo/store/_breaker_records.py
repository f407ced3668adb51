"""The records of circuit breakers: a stored breaker (:class:`BreakerView`), an admission
(:class:`Admission`) and the state label of the instances waiting at a circuit."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from daytwo.store._breaker_policy import BreakerPolicy
from daytwo.store._vocabulary import BreakerState

__all__ = ["Admission", "BreakerView", "circuit_state"]


def circuit_state(name: str) -> str:
    """The state label of an instance waiting at the circuit of dependency ``name``."""
    return f"circuit open: {name}"


@dataclass(frozen=True, slots=True)
class BreakerView:
    """A breaker as stored: its state, since and until when, its probes, its policy."""

    name: str
    state: BreakerState
    since: float
    until: float | None
    policy: BreakerPolicy
    policy_source: str
    probe_calls: int = 0
    probe_failures: int = 0
    probe_slow: int = 0
    reason: str | None = None
    changed_by: str | None = None
    updated_at: float = 0.0

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> BreakerView:
        """The view of a ``breakers`` row."""
        return cls(
            name=row["name"],
            state=BreakerState(row["state"]),
            since=row["since"],
            until=row["until"],
            policy=BreakerPolicy.from_json(row["policy"]),
            policy_source=row["policy_source"],
            probe_calls=row["probe_calls"],
            probe_failures=row["probe_failures"],
            probe_slow=row["probe_slow"],
            reason=row["reason"],
            changed_by=row["changed_by"],
            updated_at=row["updated_at"],
        )


@dataclass(frozen=True, slots=True)
class Admission:
    """Whether a call may go through now; if not, when to ask again."""

    allowed: bool
    #: The call is one of a half-open circuit's probes (it holds a permit).
    probe: bool = False
    #: When the instance held back asks again (it is woken earlier if the circuit closes).
    retry_at: float | None = None
    state: BreakerState = BreakerState.CLOSED
