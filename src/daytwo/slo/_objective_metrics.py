"""The per-objective ``/metrics`` families (``slo`` label), built from one scrape's reads.

Counters are cumulative since the first bucket (``rate()``/``increase()`` of them give a
window's events); gauges come from the evaluator's own measurement (``Evaluator.status()``),
so they equal ``daytwo slo status``. Values that the engine computes in floating point are
exposed to 12 significant digits: the last bits of ``1 - 0.7`` are noise, not data.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence

import sqlalchemy as sa
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from daytwo.slo._definitions import CycleTime, Objective, StuckRatio
from daytwo.slo._indicators import event_measure
from daytwo.slo._results import SloStatus
from daytwo.store import ACTIVE_STATUSES, Store, instances

__all__ = ["Totals", "clean", "objective_metrics"]

#: (workflow, version, series) -> (events, sum of cycle seconds), since the first bucket.
Totals = dict[tuple[str, str, str], tuple[int, float]]

_ACTIVE = sorted(ACTIVE_STATUSES)
_LABELS = ["slo", "workflow", "sli"]


def clean(value: float) -> float:
    """``value`` to 12 significant digits, for exposition."""
    return float(f"{value:.12g}")


def objective_metrics(
    store: Store,
    now: float,
    objectives: Sequence[Objective],
    statuses: Mapping[str, SloStatus],
    totals: Totals,
    dependencies: Mapping[str, str],
) -> Iterator[Metric]:
    """Every per-objective family; an objective without a status (its measurement failed)
    keeps its counters and definition gauges only."""
    events = CounterMetricFamily(
        "daytwo_slo_events", "Valid events of an event-based objective that closed (rates: "
        "ended instances; add daytwo_slo_active_instances for a window's valid events).",
        labels=_LABELS,
    )  # fmt: skip
    bad = CounterMetricFamily(
        "daytwo_slo_bad_events", "Bad events of an event-based objective (rates: retries or "
        "compensations in scope, counted when they happen).", labels=_LABELS,
    )  # fmt: skip
    active = GaugeMetricFamily(
        "daytwo_slo_active_instances", "Active instances now: valid events of a rate "
        "objective in every window that ends now.", labels=_LABELS,
    )  # fmt: skip
    sample = GaugeMetricFamily(
        "daytwo_slo_sample_events", "Active instances now, for a stuck-ratio objective.",
        labels=_LABELS,
    )  # fmt: skip
    sample_bad = GaugeMetricFamily(
        "daytwo_slo_sample_bad_events", "Stuck instances now, for a stuck-ratio objective.",
        labels=_LABELS,
    )  # fmt: skip
    target = GaugeMetricFamily(
        "daytwo_slo_objective_ratio", "The good share an objective promises (ratio "
        "indicators).", labels=_LABELS,
    )  # fmt: skip
    budget = GaugeMetricFamily(
        "daytwo_slo_error_budget_ratio", "The error budget: 1 - objective, or the rate limit "
        "per instance.", labels=_LABELS,
    )  # fmt: skip
    remaining = GaugeMetricFamily(
        "daytwo_slo_error_budget_remaining_ratio", "Share of the SLO window's error budget "
        "left (1 = untouched, below 0 = overspent).", labels=_LABELS,
    )  # fmt: skip
    burn = GaugeMetricFamily(
        "daytwo_slo_burn_rate", "Error ratio over the window / error budget (1 = on budget).",
        labels=[*_LABELS, "window"],
    )  # fmt: skip
    last = GaugeMetricFamily(
        "daytwo_slo_last_event_timestamp_seconds", "When the objective's SLI last counted a "
        "valid event (Unix time; 0 = never). The no-data alert compares it with time().",
        labels=_LABELS,
    )  # fmt: skip
    for objective in objectives:
        values = [objective.name, objective.workflow, objective.sli.kind]
        budget.add_metric(values, clean(objective.budget))
        if objective.objective is not None:
            target.add_metric(values, clean(objective.objective))
        status = statuses.get(objective.name)
        if status is not None:
            remaining.add_metric(values, clean(status.budget_remaining))
            for window, value in sorted(status.burn.items()):
                if value is not None:
                    burn.add_metric([*values, window], clean(value))
            last.add_metric(values, status.last_event_at or 0.0)
            if status.active_instances is not None:
                active.add_metric(values, status.active_instances)
        if isinstance(objective.sli, StuckRatio):
            if status is not None and status.sample is not None:
                good, valid = status.sample
                sample.add_metric(values, valid)
                sample_bad.add_metric(values, valid - good)
            continue
        total, bad_events = _cumulative(store, objective, now, totals, dependencies)
        events.add_metric(values, total)
        bad.add_metric(values, bad_events)
    yield from (events, bad, active, sample, sample_bad, target, budget, remaining, burn, last)


def _cumulative(
    store: Store,
    objective: Objective,
    now: float,
    totals: Totals,
    dependencies: Mapping[str, str],
) -> tuple[int, int]:
    """(valid, bad) closed events of an event objective since the first bucket."""
    sli = objective.sli
    assert not isinstance(sli, StuckRatio)
    counts: dict[str, int] = defaultdict(int)
    for (workflow, version, series), (count, _seconds) in totals.items():
        if workflow == objective.workflow and objective.version in (None, version):
            counts[series] += count
    late = 0
    if isinstance(sli, CycleTime):
        # Active instances past their target are bad at once; when one ends it moves to
        # the late bins above, so the counter never goes down.
        query = sa.select(sa.func.count()).where(
            instances.c.workflow == objective.workflow,
            instances.c.status.in_(_ACTIVE),
            instances.c.created_at < now - sli.within.total_seconds(),
        )
        if objective.version is not None:
            query = query.where(instances.c.version == objective.version)
        with store.read() as conn:
            late = int(conn.execute(query).scalar_one())
    # Rates: a window's valid events are the ends in it plus the instances active now, which
    # is no counter's increase; the active ones are a gauge of their own. Parked instances
    # are left out of the success counters: one that is retried and succeeds would make the
    # bad counter go down (a counter reset to Prometheus); they are in the stuck gauges.
    measure = event_measure(sli, counts, dependencies, late=late)
    return int(measure.valid), int(measure.bad)
