"""Prometheus ``/metrics``: the store's cluster-wide truth, read at scrape time.

:class:`StoreCollector` keeps no in-process counters: each scrape reads the SLO aggregates
(``slo_buckets``) and a few indexed counts of the active instances, so every process that
serves ``/metrics`` (``daytwo metrics serve``, any worker with ``--metrics-port``) reports
the same values. Counters are sums of the hour buckets, which are never pruned (only minute
buckets are); the sums of hours that closed long ago are cached, so a scrape reads the
buckets of the last couple of hours whatever the length of the history.

Metric families (all prefixed ``daytwo_``; see ``docs/architecture.md`` for the table):

* ``instances_started_total``, ``instances_completed_total{outcome}``,
  ``instance_cycle_time_seconds`` (histogram, bounds of :data:`CYCLE_TIME_BOUNDS`),
  ``step_retries_total{step}``, ``compensations_total{step}`` — from the aggregates;
* ``instances{status,state}``, ``instances_stuck{state}`` — active instances now;
* per objective (``slo`` label): ``slo_events_total`` / ``slo_bad_events_total`` (event
  indicators; ``rate()`` of the two gives the error ratio), ``slo_sample_events`` /
  ``slo_sample_bad_events`` (the stuck ratio, a gauge), ``slo_objective``,
  ``slo_error_budget``, ``slo_error_budget_remaining``, ``slo_burn_rate{window}``.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from daytwo.engine._clock import Clock
from daytwo.slo._definitions import (
    CYCLE_TIME_BOUNDS,
    CycleTime,
    Objective,
    StuckRatio,
)
from daytwo.slo._indicators import event_measure
from daytwo.slo._stuck import _stuck_condition, state_thresholds, stuck_configs
from daytwo.store import ACTIVE_STATUSES, Store
from daytwo.store._schema import instances, slo_buckets
from daytwo.store._workers import coverage

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from daytwo.app import App
    from daytwo.slo._evaluator import Evaluator

__all__ = ["MetricsService", "StoreCollector", "serve_metrics"]

log = logging.getLogger("daytwo.slo")

_HOUR = 3600
#: Hour buckets are cached once they closed this long ago (no write can still add to them).
_SETTLED = 2 * _HOUR
#: How long per-state stuck thresholds (medians of recent instances) are reused.
_THRESHOLDS_TTL = 300.0
_ACTIVE = sorted(ACTIVE_STATUSES)
_BOUNDS = tuple(f"{bound:g}" for bound in CYCLE_TIME_BOUNDS)  # as in the series names
_LE = tuple(repr(float(bound)) for bound in CYCLE_TIME_BOUNDS)  # "1.0", as Go and Python clients

_Totals = dict[tuple[str, str, str], int]  # (workflow, version, series) -> events


class StoreCollector(Collector):
    """Collects the daytwo metrics from ``store`` at each scrape.

    ``objectives`` get per-SLO series; ``workflows`` (e.g. the app's) get stuck counts with
    the default thresholds when no stuck-ratio objective names them; ``dependencies`` maps
    step names to dependencies, as for :class:`~daytwo.slo.Evaluator`.
    """

    def __init__(
        self,
        store: Store,
        clock: Clock,
        objectives: Sequence[Objective] = (),
        *,
        workflows: Sequence[str] = (),
        dependencies: Mapping[str, str] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.objectives = list(objectives)
        self.workflows = list(workflows)
        self.dependencies = dict(dependencies or {})
        self._lock = threading.Lock()
        self._settled_until = -math.inf
        self._settled: _Totals = {}
        self._thresholds: dict[str, tuple[float, dict[str, float]]] = {}
        # One evaluator for every scrape: it caches the sums of settled hours, so a scrape
        # does not sum the longest window again (and records the definitions only once).
        self._evaluator: Evaluator | None = None
        self._evaluator_lock = threading.Lock()

    @classmethod
    def for_app(cls, app: App, objectives: Sequence[Objective] | None = None) -> StoreCollector:
        """A collector on the app's store and clock (objectives: those registered on it)."""
        from daytwo.slo._registry import objectives_for, step_dependencies

        dependencies = step_dependencies(app)
        chosen = objectives_for(app) if objectives is None else objectives
        return cls(
            app.store, app.clock, chosen, workflows=list(app.registry.workflows),
            dependencies=dependencies,
        )  # fmt: skip

    def describe(self) -> list[Metric]:
        """Nothing: a registry must not collect (query the store) when this is registered."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Read the store now and yield every metric family."""
        now = self.clock.now()
        totals = self._totals(now)
        with self.store.read() as conn:
            active = conn.execute(
                sa.select(
                    instances.c.workflow, instances.c.version, instances.c.status,
                    instances.c.state, sa.func.count(),
                )
                .where(instances.c.status.in_(_ACTIVE))
                .group_by(
                    instances.c.workflow, instances.c.version, instances.c.status,
                    instances.c.state,
                )
            ).all()  # fmt: skip
        yield from self._instance_metrics(totals, active)
        yield self._stuck_metric(now, {row[0] for row in active})
        yield from self._slo_metrics(now, totals)

    # -- counters from the aggregates ----------------------------------------------------

    def _totals(self, now: float) -> _Totals:
        """Events per (workflow, version, series) since the first bucket."""
        settle = math.floor((now - _SETTLED) / _HOUR) * _HOUR
        with self._lock:
            if settle > self._settled_until:
                for key, events in self._sum_hours(self._settled_until, settle).items():
                    self._settled[key] = self._settled.get(key, 0) + events
                self._settled_until = settle
            totals = dict(self._settled)
            since = self._settled_until
        for key, events in self._sum_hours(since, math.inf).items():
            totals[key] = totals.get(key, 0) + events
        return totals

    def _sum_hours(self, lo: float, hi: float) -> _Totals:
        columns = (slo_buckets.c.workflow, slo_buckets.c.version, slo_buckets.c.series)
        query = sa.select(*columns, sa.func.sum(slo_buckets.c.events)).where(
            slo_buckets.c.resolution == _HOUR
        )
        if lo > -math.inf:
            query = query.where(slo_buckets.c.bucket_start >= lo)
        if hi < math.inf:
            query = query.where(slo_buckets.c.bucket_start < hi)
        with self.store.read() as conn:
            rows = conn.execute(query.group_by(*columns)).all()
        return {(w, v, s): int(n) for w, v, s, n in rows}

    def _instance_metrics(self, totals: _Totals, active: Sequence[Any]) -> Iterator[Metric]:
        started = CounterMetricFamily(
            "daytwo_instances_started", "Instances started (ended plus active now).",
            labels=["workflow", "version"],
        )  # fmt: skip
        completed = CounterMetricFamily(
            "daytwo_instances_completed", "Instances ended, by outcome (their end status).",
            labels=["workflow", "version", "outcome"],
        )  # fmt: skip
        retries = CounterMetricFamily(
            "daytwo_step_retries", "Failed step attempts that were retried or gave up.",
            labels=["workflow", "version", "step"],
        )  # fmt: skip
        compensations = CounterMetricFamily(
            "daytwo_compensations", "Compensations run, by the step they undo.",
            labels=["workflow", "version", "step"],
        )  # fmt: skip
        # Built by hand: HistogramMetricFamily drops _count without a _sum, and the
        # aggregates keep histogram bins, not the sum of the cycle times.
        cycle = Metric(
            "daytwo_instance_cycle_time_seconds",
            "Time from start to end of ended instances (buckets and _count; no _sum).",
            "histogram",
        )
        gauge = GaugeMetricFamily(
            "daytwo_instances", "Active instances now, by status and state.",
            labels=["workflow", "version", "status", "state"],
        )  # fmt: skip
        ended: dict[tuple[str, str], int] = defaultdict(int)
        outcomes: dict[tuple[str, str, str], int] = defaultdict(int)
        bins: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for (workflow, version, series), events in sorted(totals.items()):
            kind, _, rest = series.partition(":")
            if kind == "end":
                status, _, bound = rest.rpartition(":")
                ended[workflow, version] += events
                outcomes[workflow, version, status.lower()] += events
                bins[workflow, version][bound] += events
            elif kind == "retry":
                retries.add_metric([workflow, version, rest], events)
            elif kind == "comp":
                compensations.add_metric([workflow, version, rest], events)
        running: dict[tuple[str, str], int] = defaultdict(int)
        for workflow, version, status, state, count in active:
            running[workflow, version] += count
            gauge.add_metric([workflow, version, status, state], count)
        for key in sorted(set(ended) | set(running)):
            started.add_metric(list(key), ended.get(key, 0) + running.get(key, 0))
        for (workflow, version, outcome), events in sorted(outcomes.items()):
            completed.add_metric([workflow, version, outcome], events)
        for key, per_bin in sorted(bins.items()):
            workflow, version = key
            cumulative = 0
            for bound, le in zip(_BOUNDS, _LE, strict=True):
                cumulative += per_bin.get(bound, 0)
                cycle.add_sample(
                    "daytwo_instance_cycle_time_seconds_bucket",
                    {"workflow": workflow, "version": version, "le": le}, cumulative,
                )  # fmt: skip
            for suffix, le_labels in (("_bucket", {"le": "+Inf"}), ("_count", {})):
                cycle.add_sample(
                    "daytwo_instance_cycle_time_seconds" + suffix,
                    {"workflow": workflow, "version": version, **le_labels}, ended[key],
                )  # fmt: skip
        yield from (started, completed, cycle, retries, compensations, gauge)

    # -- stuck instances -----------------------------------------------------------------

    def _state_thresholds(self, workflow: str, sli: StuckRatio, now: float) -> dict[str, float]:
        cached = self._thresholds.get(workflow)
        if cached is not None and abs(now - cached[0]) < _THRESHOLDS_TTL:
            return cached[1]
        thresholds = state_thresholds(self.store, workflow, sli)
        self._thresholds[workflow] = (now, thresholds)
        return thresholds

    def _stuck_metric(self, now: float, with_active: set[str]) -> Metric:
        metric = GaugeMetricFamily(
            "daytwo_instances_stuck",
            "Active instances stuck now: in their state past its threshold, overdue human "
            "task, leased by a dead worker, or due and served by no live worker (see daytwo "
            "slo stuck).",
            labels=["workflow", "version", "state"],
        )
        configs = stuck_configs(self.workflows, self.objectives)
        live = coverage(self.store, now)  # due instances no live worker serves are stuck
        rows: list[Any] = []
        with self.store.read() as conn:
            for workflow in sorted(set(configs) | with_active):
                sli = configs.get(workflow)
                thresholds = {} if sli is None else self._state_thresholds(workflow, sli, now)
                rows += conn.execute(
                    sa.select(
                        instances.c.workflow, instances.c.version, instances.c.state,
                        sa.func.count(),
                    )
                    .where(
                        instances.c.workflow == workflow,
                        instances.c.status.in_(_ACTIVE),
                        _stuck_condition(thresholds, now, (workflow, live)),
                    )
                    .group_by(instances.c.workflow, instances.c.version, instances.c.state)
                ).all()  # fmt: skip
        for workflow, version, state, count in rows:
            metric.add_metric([workflow, version, state], count)
        return metric

    # -- per objective -------------------------------------------------------------------

    def _slo_metrics(self, now: float, totals: _Totals) -> Iterator[Metric]:
        labels = ["slo", "workflow", "sli"]
        events = CounterMetricFamily(
            "daytwo_slo_events", "Valid events of an event-based objective (for rates: ended "
            "instances).", labels=labels,
        )  # fmt: skip
        bad = CounterMetricFamily(
            "daytwo_slo_bad_events", "Bad events of an event-based objective (for rates: "
            "retries or compensations in scope).", labels=labels,
        )  # fmt: skip
        sample = GaugeMetricFamily(
            "daytwo_slo_sample_events", "Active instances now, for a stuck-ratio objective.",
            labels=labels,
        )  # fmt: skip
        sample_bad = GaugeMetricFamily(
            "daytwo_slo_sample_bad_events", "Stuck instances now, for a stuck-ratio objective.",
            labels=labels,
        )  # fmt: skip
        target = GaugeMetricFamily(
            "daytwo_slo_objective", "The good share an objective promises (ratio indicators).",
            labels=labels,
        )  # fmt: skip
        budget = GaugeMetricFamily(
            "daytwo_slo_error_budget", "The error budget as a ratio: 1 - objective, or the "
            "rate limit per instance.", labels=labels,
        )  # fmt: skip
        remaining = GaugeMetricFamily(
            "daytwo_slo_error_budget_remaining", "Share of the SLO window's error budget left "
            "(1 = untouched, below 0 = overspent).", labels=labels,
        )  # fmt: skip
        burn = GaugeMetricFamily(
            "daytwo_slo_burn_rate", "Error ratio over the window / error budget (1 = on "
            "budget).", labels=[*labels, "window"],
        )  # fmt: skip
        statuses = {s.name: s for s in self._statuses()}
        for objective in self.objectives:
            values = [objective.name, objective.workflow, objective.sli.kind]
            budget.add_metric(values, objective.budget)
            if objective.objective is not None:
                target.add_metric(values, objective.objective)
            status = statuses.get(objective.name)
            if status is not None:
                remaining.add_metric(values, status.budget_remaining)
                for window, value in sorted(status.burn.items()):
                    if value is not None:
                        burn.add_metric([*values, window], value)
            if isinstance(objective.sli, StuckRatio):
                if status is not None and status.sample is not None:
                    good, valid = status.sample
                    sample.add_metric(values, valid)
                    sample_bad.add_metric(values, valid - good)
                continue
            total, bad_events = self._cumulative(objective, now, totals)
            events.add_metric(values, total)
            bad.add_metric(values, bad_events)
        yield from (events, bad, sample, sample_bad, target, budget, remaining, burn)

    def _statuses(self) -> list[Any]:
        if not self.objectives:
            return []
        from daytwo.slo._evaluator import Evaluator

        try:
            with self._evaluator_lock:  # scrapes may come in concurrently
                if self._evaluator is None:
                    self._evaluator = Evaluator(
                        self.store, self.clock, self.objectives, dependencies=self.dependencies
                    )
                return self._evaluator.status()
        except Exception:  # a scrape still reports the rest
            log.exception("measuring the objectives for /metrics failed")
            return []

    def _cumulative(self, objective: Objective, now: float, totals: _Totals) -> tuple[int, int]:
        """(valid, bad) events of an event objective since the first bucket."""
        sli = objective.sli
        assert not isinstance(sli, StuckRatio)
        counts: dict[str, int] = defaultdict(int)
        for (workflow, version, series), count in totals.items():
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
            with self.store.read() as conn:
                late = int(conn.execute(query).scalar_one())
        measure = event_measure(sli, counts, self.dependencies, late=late)
        return int(measure.valid), int(measure.bad)


def serve_metrics(
    collector: Collector, port: int, addr: str = "0.0.0.0"
) -> tuple[WSGIServer, threading.Thread]:
    """Serve ``collector`` on ``http://addr:port/metrics`` from a daemon thread.

    Returns prometheus_client's (server, thread); ``server.server_port`` is the port bound
    (pass 0 for any free one), ``server.shutdown()`` stops it.
    """
    from prometheus_client import start_http_server

    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    server, thread = start_http_server(port, addr=addr, registry=registry)
    return server, thread


class MetricsService:
    """Serves ``/metrics`` from a worker (its background-services hook).

    The first round starts the HTTP server; if the port is taken, the error is logged and
    the next round (every ``interval`` seconds) tries again. :meth:`close` stops it.
    """

    name = "metrics"

    def __init__(
        self, collector: Collector, port: int, addr: str = "0.0.0.0", *, interval: float = 30.0
    ) -> None:
        self.collector = collector
        self.port = port
        self.addr = addr
        self.interval = interval
        self.server: WSGIServer | None = None

    def run_once(self) -> None:
        """Start the server if it is not running yet."""
        if self.server is None:
            self.server, _thread = serve_metrics(self.collector, self.port, self.addr)
            log.info("serving /metrics on %s:%d", self.addr, self.server.server_port)

    def close(self) -> None:
        """Stop serving."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
