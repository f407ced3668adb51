"""What an evaluation finds, per objective: SLI, error budget, burn rates, alert rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from daytwo.slo._alerts import Alert
from daytwo.slo._vocabulary import AlertStatus

__all__ = ["Measure", "RuleResult", "SloStatus"]


@dataclass(frozen=True, slots=True)
class Measure:
    """Events of one window: ``bad`` of ``valid`` (for rates: retries or compensations of
    the instances alive in the window)."""

    good: float
    bad: float
    valid: float

    def error_ratio(self) -> float | None:
        """bad / valid, or None without valid events."""
        return self.bad / self.valid if self.valid else None

    def burn(self, budget: float) -> float | None:
        """How fast this window spends the budget (1 = exactly on budget)."""
        ratio = self.error_ratio()
        return None if ratio is None else ratio / budget


@dataclass(frozen=True, slots=True)
class RuleResult:
    """One burn-rate rule at evaluation time."""

    rule: str
    severity: str
    threshold: float
    long_burn: float | None
    short_burn: float | None
    long_events: float
    gated: bool
    firing: bool

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "rule": self.rule,
            "severity": self.severity,
            "threshold": round(self.threshold, 6),
            "long_burn": self.long_burn,
            "short_burn": self.short_burn,
            # Counts are sums of whole events, typed float: printed as floats, as the HTTP
            # API does (so ``daytwo --server ... --json`` prints the same).
            "long_events": float(self.long_events),
            "gated": self.gated,
            "firing": self.firing,
        }


@dataclass(frozen=True, slots=True)
class SloStatus:
    """One objective as evaluated at ``evaluated_at``.

    ``sli`` is good/valid for ratio indicators and bad/valid (per instance) for rates.
    ``budget_total`` is the number of bad events the window allows so far,
    ``budget_consumed`` the share of it spent (may exceed 1), ``budget_remaining`` 1 minus
    that. ``burn`` maps window names (``"1h"``) to burn rates (None: no events).
    ``last_event_at`` is when the SLI last counted a valid event (None: never); ``no_data``
    is true when that is longer ago than the policy's ``no_data``. ``active_instances``
    (rate indicators) is how many of the valid events are instances active now.
    """

    name: str
    workflow: str
    version: str | None
    kind: str
    objective: float | None
    budget: float
    window: str
    definition_version: int
    evaluated_at: float
    window_start: float
    good: float
    bad: float
    valid: float
    sli: float | None
    budget_total: float
    budget_consumed: float
    budget_remaining: float
    burn: dict[str, float | None]
    rules: list[RuleResult]
    no_data: bool
    runbook: str | None
    alerts: list[Alert] = field(default_factory=list)
    #: Gauge indicators (stuck ratio): (good, valid) sampled now; windows sum these samples.
    sample: tuple[float, float] | None = None
    last_event_at: float | None = None
    active_instances: int | None = None

    @property
    def alert_state(self) -> str:
        """``firing (page)``, ``firing (ticket)``, ``no data`` or ``ok``."""
        severities = sorted({a.severity for a in self.alerts if a.status == AlertStatus.FIRING})
        if severities:
            return "firing (" + ", ".join(severities) + ")"
        return "no data" if self.no_data else "ok"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``daytwo slo status --json``)."""
        return {
            "name": self.name,
            "workflow": self.workflow,
            "version": self.version,
            "kind": self.kind,
            "objective": self.objective,
            "budget": float(self.budget),
            "window": self.window,
            "definition_version": self.definition_version,
            "evaluated_at": self.evaluated_at,
            "window_start": self.window_start,
            "good": float(self.good),
            "bad": float(self.bad),
            "valid": float(self.valid),
            "sli": self.sli,
            "budget_total": float(self.budget_total),
            "budget_consumed": float(self.budget_consumed),
            "budget_remaining": float(self.budget_remaining),
            "burn": self.burn,
            "rules": [r.to_json() for r in self.rules],
            "no_data": self.no_data,
            "last_event_at": self.last_event_at,
            "alert_state": self.alert_state,
            "runbook": self.runbook,
            "alerts": [a.to_json() for a in self.alerts],
        }
