"""The incident report: how many incidents, of what, how fast they were handled, and how
much error budget burned while they were open (``daytwo incidents report``,
``GET /v1/incidents/report``).

Percentiles are **nearest-rank**: the p-th percentile of n sorted samples is the sample at
rank ``ceil(p / 100 * n)`` (1-based), so it is always a time some incident really took, and
p50 of two samples is the smaller one. MTTA is over the incidents acknowledged, MTTR over
those resolved; stage times are the mean, per stage, over the incidents that reached it.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from daytwo._errors import InvalidInput
from daytwo.incidents import _queries as q
from daytwo.incidents._records import Incident
from daytwo.incidents._tables import incident_timeline
from daytwo.incidents._vocabulary import STAGE_ORDER, IncidentStatus, Severity, TimelineKind
from daytwo.store import Store

if TYPE_CHECKING:
    from rich.console import RenderableType

    from daytwo.incidents._incidents import Incidents

__all__ = ["IncidentReport", "Percentiles", "incident_report", "nearest_rank"]

#: Incidents read per query while building a report (keyset pages).
_PAGE = 500
#: Timeline rows whose SLO details say how much budget was left.
_BUDGET_ROWS = (
    TimelineKind.OPENED,
    TimelineKind.TRIGGERED,
    TimelineKind.ALERT_RESOLVED,
    TimelineKind.RESOLVED,
)


def nearest_rank(ordered: Sequence[float], percent: float) -> float:
    """The nearest-rank ``percent``-th percentile of ``ordered`` (sorted, not empty)."""
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class Percentiles:
    """A sample of durations in seconds (None throughout when there is none)."""

    count: int = 0
    p50: float | None = None
    p90: float | None = None
    p95: float | None = None
    max: float | None = None
    mean: float | None = None

    @classmethod
    def of(cls, samples: Iterable[float]) -> Percentiles:
        ordered = sorted(samples)
        if not ordered:
            return cls()
        return cls(
            count=len(ordered),
            p50=nearest_rank(ordered, 50),
            p90=nearest_rank(ordered, 90),
            p95=nearest_rank(ordered, 95),
            max=ordered[-1],
            mean=sum(ordered) / len(ordered),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "p50": self.p50,
            "p90": self.p90,
            "p95": self.p95,
            "max": self.max,
            "mean": self.mean,
        }


@dataclass(frozen=True, slots=True)
class IncidentReport:
    """Incidents opened in ``[since, until)``."""

    since: float
    until: float
    total: int
    by_severity: dict[str, int]
    by_status: dict[str, int]
    by_workflow: dict[str, int]
    by_dependency: dict[str, int]
    mtta: Percentiles
    mttr: Percentiles
    #: Mean seconds in each stage, over the incidents that reached it (stage order).
    time_per_stage: dict[str, float]
    #: Error budget (a fraction of the objective's) consumed while incidents opened by its
    #: SLO alerts were open, summed per objective; objectives without data are left out.
    budget_consumed: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "until": self.until,
            "total": self.total,
            "by_severity": self.by_severity,
            "by_status": self.by_status,
            "by_workflow": self.by_workflow,
            "by_dependency": self.by_dependency,
            "mtta": self.mtta.to_json(),
            "mttr": self.mttr.to_json(),
            "time_per_stage": self.time_per_stage,
            "budget_consumed": self.budget_consumed,
            "percentile_method": "nearest-rank",
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IncidentReport:
        """Back from :meth:`to_json` (``daytwo --server incidents report``)."""
        return cls(
            since=float(data["since"]),
            until=float(data["until"]),
            total=int(data["total"]),
            by_severity=dict(data["by_severity"]),
            by_status=dict(data["by_status"]),
            by_workflow=dict(data["by_workflow"]),
            by_dependency=dict(data["by_dependency"]),
            mtta=Percentiles(**data["mtta"]),
            mttr=Percentiles(**data["mttr"]),
            time_per_stage=dict(data["time_per_stage"]),
            budget_consumed=dict(data.get("budget_consumed") or {}),
        )

    def renderables(self) -> list[RenderableType]:
        """The report for people: a summary line, then tables (Rich)."""
        from rich import box
        from rich.table import Table
        from rich.text import Text

        from daytwo.cli import duration

        def table(title: str, *headers: str) -> Table:
            # The CLI's house style (daytwo.cli print_table), never narrower than its title.
            made = Table(
                title=title, title_justify="left", title_style="bold", header_style="bold",
                box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0),
                min_width=len(title),
            )  # fmt: skip
            for header in headers:
                made.add_column(header, no_wrap=True)
            return made

        out: list[RenderableType] = [
            Text(f"{self.total} incident(s) opened in the period", style="bold")
        ]
        counts = table("Incidents", "BY", "VALUE", "COUNT")
        for by, found in (
            ("severity", self.by_severity),
            ("status", self.by_status),
            ("workflow", self.by_workflow),
            ("dependency", self.by_dependency),
        ):
            for value, count in found.items():
                counts.add_row(by, value, str(count))
        out.append(counts)
        times = table("Response (nearest-rank)", "", "COUNT", "P50", "P90", "P95", "MAX", "MEAN")
        for name, sample in (("MTTA", self.mtta), ("MTTR", self.mttr)):
            times.add_row(
                name,
                str(sample.count),
                *(
                    duration(v) or "-"
                    for v in (sample.p50, sample.p90, sample.p95, sample.max, sample.mean)
                ),
            )
        out.append(times)
        if self.time_per_stage:
            stages = table("Mean time per stage", "STAGE", "MEAN")
            for stage, seconds in self.time_per_stage.items():
                stages.add_row(stage, duration(seconds))
            out.append(stages)
        if self.budget_consumed:
            budget = table("Error budget consumed during incidents", "OBJECTIVE", "CONSUMED")
            for objective, used in self.budget_consumed.items():
                budget.add_row(objective, f"{used * 100:.1f}%")
            out.append(budget)
        return out


def incident_report(
    source: Incidents | Store, since: float, until: float | None = None, *, now: float
) -> IncidentReport:
    """The report over incidents opened from ``since`` until ``until`` (default ``now``);
    an open incident's current stage counts until ``now``."""
    store = source if isinstance(source, Store) else source.store
    end = now if until is None else until
    if end <= since:
        raise InvalidInput(
            f"the report's period is empty (until {end:g} is not after since {since:g}); "
            "give an --until after --since"
        )
    with store.read() as conn:
        # No --until: everything opened so far, one opened this very second too.
        found = _incidents_between(conn, since, until)
        budget = _budget_consumed(conn, found)
    return IncidentReport(
        since=since,
        until=end,
        total=len(found),
        by_severity=_count(str(i.severity) for i in found),
        by_status=_count(str(i.status) for i in found),
        by_workflow=_count(i.workflow for i in found if i.workflow),
        by_dependency=_count(i.dependency for i in found if i.dependency),
        mtta=Percentiles.of(t for i in found if (t := i.time_to_acknowledge) is not None),
        mttr=Percentiles.of(t for i in found if (t := i.time_to_resolve) is not None),
        time_per_stage=_mean_stage_times(found, now),
        budget_consumed=budget,
    )


def _incidents_between(conn: sa.Connection, since: float, until: float | None) -> list[Incident]:
    found: list[Incident] = []
    before: int | None = None
    while True:
        page = q.list_incidents(
            conn, q.IncidentFilter(since=since, until=until, before_id=before, limit=_PAGE)
        )
        found += page
        if len(page) < _PAGE:
            return found
        before = page[-1].id


def _count(values: Iterable[str | None]) -> dict[str, int]:
    counted = Counter(v for v in values if v is not None)
    order = {str(s): s.rank for s in Severity} | {str(s): i for i, s in enumerate(IncidentStatus)}
    # Severities and statuses in their own order, names by count then name.
    return dict(sorted(counted.items(), key=lambda kv: (order.get(kv[0], 99), -kv[1], kv[0])))


def _mean_stage_times(found: Sequence[Incident], now: float) -> dict[str, float]:
    spent: dict[str, list[float]] = {}
    for incident in found:
        for stage, seconds in incident.time_in_stages(now).items():
            spent.setdefault(str(stage), []).append(seconds)
    return {str(s): sum(spent[s]) / len(spent[s]) for s in STAGE_ORDER if s in spent}


def _budget_of(data: dict[str, Any]) -> tuple[str, float] | None:
    details = data.get("details")
    if not isinstance(details, dict):
        return None
    remaining, objective = details.get("budget_remaining"), details.get("objective")
    if isinstance(remaining, bool) or not isinstance(remaining, int | float):
        return None
    return (str(objective) if objective else "", float(remaining))


def _budget_consumed(conn: sa.Connection, found: Sequence[Incident]) -> dict[str, float]:
    """Per objective: the budget left at the opening trigger minus that at the last
    resolve row that says (else the latest trigger), summed over the incidents."""
    if not found:
        return {}
    rows = conn.execute(
        sa.select(incident_timeline.c.incident_id, incident_timeline.c.kind,
                  incident_timeline.c.data)
        .where(
            incident_timeline.c.incident_id.in_([i.id for i in found]),
            incident_timeline.c.kind.in_([str(k) for k in _BUDGET_ROWS]),
        )
        .order_by(incident_timeline.c.incident_id, incident_timeline.c.id)
    )  # fmt: skip
    opened: dict[int, tuple[str, float]] = {}
    resolved: dict[int, float] = {}
    latest: dict[int, float] = {}
    for number, kind, data in rows:
        budget = _budget_of(json.loads(data))
        if budget is None:
            continue
        if kind == TimelineKind.OPENED:
            opened.setdefault(number, budget)
        elif kind == TimelineKind.TRIGGERED:
            latest[number] = budget[1]
        else:
            resolved[number] = budget[1]
    consumed: dict[str, float] = {}
    for number, (objective, at_open) in opened.items():
        at_end = resolved.get(number, latest.get(number))
        if at_end is None or not objective:
            continue
        consumed[objective] = consumed.get(objective, 0.0) + (at_open - at_end)
    return dict(sorted(consumed.items()))
