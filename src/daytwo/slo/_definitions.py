"""What an SLO is: objectives, their indicators, windows and alerting policies.

Every definition is a frozen Pydantic v2 model, so the same validation applies whether an
objective is written in Python next to its workflow or loaded from YAML (see ``_yaml.py``),
and ``model_dump(mode="json")`` gives a canonical form for storage, versioning and export.

The model in one picture::

    Objective(name, workflow, version?, sli=<indicator>, objective=0.995, window=28d,
              alerting=AlertPolicy(rules=<workbook>, min_events, no_data, runbook, labels))

Indicators (``sli.kind``):

* ``cycle_time`` — an instance is good if it finishes within ``within``; one still running
  past ``within`` is bad at once.
* ``success`` — an ended instance is good if it ended ``SUCCEEDED``.
* ``stuck_ratio`` — an active instance is bad if it has been in its current state longer
  than that state's threshold (explicit, else ``factor`` x the state's historical median
  time-in-state, at least ``floor``, once ``min_samples`` are known).
* ``retry_rate`` / ``compensation_rate`` — retries (compensations), counted when they
  happen, per instance alive in the window (ended in it or active now), of the whole
  workflow or one step or one dependency, must stay under ``max_per_instance``.

For ratio indicators the error budget is ``1 - objective``; for the two rate indicators it
is ``max_per_instance`` (the "error ratio" is then retries per instance). Burn rate is
error ratio / budget in both cases.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from daytwo.slo._vocabulary import Severity
from daytwo.store import CYCLE_TIME_BOUNDS

__all__ = [
    "CYCLE_TIME_BOUNDS",
    "PAGE",
    "TICKET",
    "WORKBOOK_RULES",
    "AlertPolicy",
    "BurnRateRule",
    "CompensationRate",
    "CycleTime",
    "Duration",
    "Indicator",
    "Objective",
    "RetryRate",
    "StuckRatio",
    "Success",
    "Window",
    "format_duration",
    "parse_duration",
]

PAGE = Severity.PAGE
TICKET = Severity.TICKET

_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([wdhms])")


def parse_duration(value: Any) -> timedelta:
    """``timedelta``, seconds, or text such as ``"24h"``, ``"1h30m"``, ``"28d"``, ``"90s"``."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a duration such as '24h', not a boolean")
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    if isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        parts = _DURATION.findall(text)
        if parts and "".join(f"{n}{u}" for n, u in parts) == text:
            return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))
    raise ValueError(
        f"{value!r} is not a duration; write a number and a unit (w, d, h, m, s), e.g. '24h', "
        "'1h30m' or '28d'"
    )


def format_duration(value: timedelta) -> str:
    """The shortest text :func:`parse_duration` reads back as ``value`` (``"1d12h"``)."""
    seconds = value.total_seconds()
    if seconds != int(seconds):
        return f"{seconds:g}s"
    rest, out = int(seconds), ""
    for unit in ("d", "h", "m", "s"):
        count, rest = divmod(rest, _UNITS[unit])
        if count:
            out += f"{count}{unit}"
    return out or "0s"


def _positive(value: timedelta) -> timedelta:
    if value.total_seconds() <= 0:
        raise ValueError("must be a positive duration")
    return value


#: A duration field: accepts ``timedelta``, seconds or ``"24h"``; exports as ``"24h"``.
Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CycleTime(_Model):
    """Instances finish within ``within``; still running past it counts bad at once."""

    kind: Literal["cycle_time"] = "cycle_time"
    within: Duration

    @field_validator("within")
    @classmethod
    def _on_a_bound(cls, within: timedelta) -> timedelta:
        seconds = within.total_seconds()
        if seconds not in CYCLE_TIME_BOUNDS:
            lower = max((b for b in CYCLE_TIME_BOUNDS if b < seconds), default=None)
            upper = min((b for b in CYCLE_TIME_BOUNDS if b > seconds), default=None)
            near = " or ".join(
                format_duration(timedelta(seconds=b)) for b in (lower, upper) if b is not None
            )
            raise ValueError(
                f"{format_duration(within)} is not a bound of the stored cycle-time "
                f"histogram; use {near}"
            )
        return within


class Success(_Model):
    """Ended instances end SUCCEEDED; every other end state is bad."""

    kind: Literal["success"] = "success"


class StuckRatio(_Model):
    """Active instances are not stuck: in their state no longer than its threshold.

    ``thresholds`` names states explicitly (``{"manager-approval": "4h"}``); any other state
    uses ``factor`` x its historical median time-in-state, but at least ``floor``, once
    ``min_samples`` past visits of that state are known (until then it is never stuck by
    time; waits that are overdue or leases of dead workers are stuck regardless).
    """

    kind: Literal["stuck_ratio"] = "stuck_ratio"
    thresholds: dict[str, Duration] = Field(default_factory=dict)
    factor: float = Field(default=2.0, gt=0)
    floor: Duration = timedelta(minutes=5)
    min_samples: int = Field(default=20, ge=1)

    def __hash__(self) -> int:
        return hash((self.kind, tuple(sorted(self.thresholds.items())), self.factor))


class _Rate(_Model):
    max_per_instance: float = Field(gt=0)
    step: str | None = None
    dependency: str | None = None

    @model_validator(mode="after")
    def _one_scope(self) -> Self:
        if self.step is not None and self.dependency is not None:
            raise ValueError("give step or dependency, not both")
        return self

    def covers(self, step: str, dependencies: Mapping[str, str]) -> bool:
        """Whether a retry or compensation of ``step`` counts (``dependencies``: step → name)."""
        if self.step is not None:
            return step == self.step
        if self.dependency is not None:
            return dependencies.get(step) == self.dependency
        return True

    @property
    def scope(self) -> str:
        """``workflow``, ``step <name>`` or ``dependency <name>``."""
        if self.step is not None:
            return f"step {self.step}"
        if self.dependency is not None:
            return f"dependency {self.dependency}"
        return "workflow"


class RetryRate(_Rate):
    """Retries per instance alive in the window (of the workflow, a step or a dependency)."""

    kind: Literal["retry_rate"] = "retry_rate"


class CompensationRate(_Rate):
    """Compensations run per instance alive in the window (workflow, step or dependency)."""

    kind: Literal["compensation_rate"] = "compensation_rate"


#: The indicator of an objective, told apart by ``kind``.
Indicator = Annotated[
    CycleTime | Success | StuckRatio | RetryRate | CompensationRate, Field(discriminator="kind")
]

RATIO_KINDS = frozenset({"cycle_time", "success", "stuck_ratio"})


class Window(_Model):
    """The SLO window: rolling (``length``) or calendar (``period``, budget resets at start).

    Written as ``"28d"`` (rolling) or ``"month"`` / ``"week"`` (calendar, UTC) in YAML.
    """

    kind: Literal["rolling", "calendar"] = "rolling"
    length: Duration | None = None
    period: Literal["month", "week"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in ("month", "week"):
            return {"kind": "calendar", "period": value.strip().lower()}
        if isinstance(value, str | int | float | timedelta):
            return {"kind": "rolling", "length": value}
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.kind == "rolling":
            if self.length is None or self.period is not None:
                raise ValueError("a rolling window has a length (e.g. '28d') and no period")
            _positive(self.length)
        elif self.period is None or self.length is not None:
            raise ValueError("a calendar window has a period ('month' or 'week') and no length")
        return self

    @classmethod
    def rolling(cls, length: timedelta | str) -> Window:
        """A rolling window of ``length``."""
        return cls(kind="rolling", length=parse_duration(length))

    @classmethod
    def calendar(cls, period: Literal["month", "week"]) -> Window:
        """A calendar window (UTC) whose budget resets at each period start."""
        return cls(kind="calendar", period=period)

    @property
    def nominal(self) -> timedelta:
        """The length burn-rate thresholds are scaled to (a month counts as 30 days)."""
        if self.length is not None:
            return self.length
        return timedelta(days=30 if self.period == "month" else 7)

    def __str__(self) -> str:
        return self.period if self.period is not None else format_duration(self.nominal)


class BurnRateRule(_Model):
    """Alert when both windows burn faster than this rule's threshold.

    The threshold is derived from the share of the SLO window's budget that may be spent in
    ``long_window``: ``budget_fraction x slo_window / long_window`` — 2% of 30 days in 1 h is
    14.4, the Google SRE Workbook's page threshold.
    """

    # Stored as its text (use_enum_values): dumps and digests of definitions stay plain.
    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=True)

    severity: Severity
    long_window: Duration
    short_window: Duration
    budget_fraction: float = Field(gt=0, le=1)

    @model_validator(mode="after")
    def _short_is_shorter(self) -> Self:
        _positive(self.short_window)
        if self.short_window >= self.long_window:
            raise ValueError("short_window must be shorter than long_window")
        return self

    def threshold(self, window: Window) -> float:
        """The burn rate above which this rule fires, for an SLO over ``window``."""
        return self.budget_fraction * window.nominal / self.long_window

    @property
    def name(self) -> str:
        """``page-1h-5m`` and the like: names the rule in alert keys and labels."""
        return (
            f"{self.severity}-{format_duration(self.long_window)}-"
            f"{format_duration(self.short_window)}"
        )


#: The multiwindow, multi-burn-rate rules of the Google SRE Workbook (chapter 5).
WORKBOOK_RULES: tuple[BurnRateRule, ...] = (
    BurnRateRule(severity=Severity.PAGE, long_window=timedelta(hours=1),
                 short_window=timedelta(minutes=5), budget_fraction=0.02),
    BurnRateRule(severity=Severity.PAGE, long_window=timedelta(hours=6),
                 short_window=timedelta(minutes=30), budget_fraction=0.05),
    BurnRateRule(severity=Severity.TICKET, long_window=timedelta(days=1),
                 short_window=timedelta(hours=2), budget_fraction=0.10),
    BurnRateRule(severity=Severity.TICKET, long_window=timedelta(days=3),
                 short_window=timedelta(hours=6), budget_fraction=0.10),
)  # fmt: skip


class AlertPolicy(_Model):
    """How an objective alerts.

    ``min_events``: a burn-rate rule fires only when its long window holds at least this
    many valid events (low-volume processes do not page on one failure). ``no_data``: when
    set, no valid event for that long raises a ticket of its own. ``runbook`` is linked from
    every alert; ``labels`` are copied onto them.
    """

    rules: tuple[BurnRateRule, ...] = WORKBOOK_RULES
    min_events: int = Field(default=10, ge=0)
    no_data: Duration | None = None
    runbook: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)

    def __hash__(self) -> int:
        return hash((self.rules, self.min_events, self.no_data, self.runbook))


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}\Z")


class Objective(_Model):
    """A service level objective on one workflow (optionally one version of it).

    Example::

        Objective(name="order-fast", workflow="order", objective=0.95,
                  sli=CycleTime(within="24h"), window="28d")
    """

    name: str
    workflow: str
    version: str | None = None
    sli: Indicator
    #: The good share for ratio indicators (0.995); not used by the rate indicators.
    objective: float | None = Field(default=None, gt=0, lt=1)
    window: Window = Window(kind="rolling", length=timedelta(days=28))
    alerting: AlertPolicy = AlertPolicy()
    description: str = ""

    @model_validator(mode="after")
    def _check(self) -> Self:
        if not _NAME.match(self.name):
            raise ValueError(
                f"name {self.name!r} must be 1-128 ASCII letters (a-z, A-Z), digits, '_', "
                "'.', ':' or '-', starting with a letter or digit (objective names become "
                "Prometheus rule groups and OpenSLO names, which take ASCII only)"
            )
        if self.sli.kind in RATIO_KINDS and self.objective is None:
            raise ValueError(f"a {self.sli.kind} objective needs objective: (e.g. 0.99)")
        if self.sli.kind not in RATIO_KINDS and self.objective is not None:
            raise ValueError(
                f"a {self.sli.kind} objective has no objective: ratio; its limit is "
                "sli.max_per_instance"
            )
        return self

    def __hash__(self) -> int:
        return hash(self.digest())

    @property
    def budget(self) -> float:
        """The error budget as a ratio: ``1 - objective``, or the rate limit."""
        if self.objective is not None:
            # In decimal: 1 - 0.999 in binary floats is 0.0010000000000000009, which would
            # show in /metrics and the rules; the objective as written gives 0.001.
            return float(Decimal(1) - Decimal(repr(self.objective)))
        assert isinstance(self.sli, RetryRate | CompensationRate)
        return self.sli.max_per_instance

    @property
    def is_ratio(self) -> bool:
        """True for good/valid indicators, False for per-instance rates."""
        return self.sli.kind in RATIO_KINDS

    def spec(self) -> dict[str, Any]:
        """The canonical JSON form (what is stored as a definition version)."""
        return self.model_dump(mode="json")

    def digest(self) -> str:
        """A hash of :meth:`spec`: a new digest means a new definition version."""
        text = json.dumps(self.spec(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]
