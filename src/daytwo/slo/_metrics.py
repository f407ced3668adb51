"""Prometheus ``/metrics``: the store's cluster-wide truth, read at scrape time.

:class:`StoreCollector` keeps no in-process counters: each scrape reads the SLO aggregates
(``slo_buckets``) and a few indexed counts of the active instances, so every process that
serves ``/metrics`` (``daytwo metrics serve``, any worker with ``--metrics-port``) reports
the same values. Counters are sums of the hour buckets, which are never pruned (only minute
buckets are); the sums of hours that closed long ago are cached, so a scrape reads the
buckets of the last couple of hours whatever the length of the history.

Metric families (all prefixed ``daytwo_``; see ``docs/architecture.md`` for the table):

* ``instances_started_total``, ``instances_completed_total{outcome}``,
  ``instance_cycle_time_seconds`` (histogram, bounds of :data:`CYCLE_TIME_BOUNDS`, with
  ``_sum`` and ``_count``), ``step_retries_total{step}``, ``compensations_total{step}`` —
  from the aggregates;
* ``instances{status,state}``, ``instances_stuck{state}`` — active instances now;
* per objective (``slo`` label, ``_objective_metrics.py``): ``slo_events_total`` /
  ``slo_bad_events_total``, ``slo_active_instances`` (rates), ``slo_sample_events`` /
  ``slo_sample_bad_events`` (stuck ratio), ``slo_objective_ratio``,
  ``slo_error_budget_ratio``, ``slo_error_budget_remaining_ratio``, ``slo_burn_rate{window}``,
  ``slo_last_event_timestamp_seconds``.
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
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from daytwo.engine import Clock
from daytwo.slo._definitions import CYCLE_TIME_BOUNDS, Objective, StuckRatio
from daytwo.slo._objective_metrics import Totals, objective_metrics
from daytwo.slo._results import SloStatus
from daytwo.slo._stuck import _stuck_condition, state_thresholds, stuck_configs
from daytwo.store import ACTIVE_STATUSES, Store, coverage, instances, slo_buckets

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
        self._settled: Totals = {}
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
        statuses = {status.name: status for status in self._statuses()}
        yield from objective_metrics(
            self.store, now, self.objectives, statuses, totals, self.dependencies
        )

    # -- counters from the aggregates ----------------------------------------------------

    def _totals(self, now: float) -> Totals:
        """(events, cycle seconds) per (workflow, version, series) since the first bucket."""
        settle = math.floor((now - _SETTLED) / _HOUR) * _HOUR
        with self._lock:
            if settle > self._settled_until:
                _add_totals(self._settled, self._sum_hours(self._settled_until, settle))
                self._settled_until = settle
            totals = dict(self._settled)
            since = self._settled_until
        _add_totals(totals, self._sum_hours(since, math.inf))
        return totals

    def _sum_hours(self, lo: float, hi: float) -> Totals:
        columns = (slo_buckets.c.workflow, slo_buckets.c.version, slo_buckets.c.series)
        query = sa.select(
            *columns, sa.func.sum(slo_buckets.c.events), sa.func.sum(slo_buckets.c.cycle_seconds)
        ).where(slo_buckets.c.resolution == _HOUR)
        if lo > -math.inf:
            query = query.where(slo_buckets.c.bucket_start >= lo)
        if hi < math.inf:
            query = query.where(slo_buckets.c.bucket_start < hi)
        with self.store.read() as conn:
            rows = conn.execute(query.group_by(*columns)).all()
        return {(w, v, s): (int(n), float(seconds or 0.0)) for w, v, s, n, seconds in rows}

    def _instance_metrics(self, totals: Totals, active: Sequence[Any]) -> Iterator[Metric]:
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
        cycle = HistogramMetricFamily(
            "daytwo_instance_cycle_time_seconds", "Time from start to end of ended instances.",
            labels=["workflow", "version"],
        )  # fmt: skip
        gauge = GaugeMetricFamily(
            "daytwo_instances", "Active instances now, by status and state.",
            labels=["workflow", "version", "status", "state"],
        )  # fmt: skip
        ended: dict[tuple[str, str], int] = defaultdict(int)
        cycle_seconds: dict[tuple[str, str], float] = defaultdict(float)
        outcomes: dict[tuple[str, str, str], int] = defaultdict(int)
        bins: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for (workflow, version, series), (events, seconds) in sorted(totals.items()):
            kind, _, rest = series.partition(":")
            if kind == "end":
                status, _, bound = rest.rpartition(":")
                ended[workflow, version] += events
                cycle_seconds[workflow, version] += seconds
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
            cumulative, buckets = 0, []
            for bound, le in zip(_BOUNDS, _LE, strict=True):
                cumulative += per_bin.get(bound, 0)
                buckets.append((le, float(cumulative)))
            buckets.append(("+Inf", float(ended[key])))
            # Rounded to the microsecond: partial sums cached at different hours add up in
            # another order in another process, and the last bits would differ.
            cycle.add_metric(list(key), buckets, round(cycle_seconds[key], 6))
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

    # -- per objective ---------------------------------------------------------------------

    def _statuses(self) -> list[SloStatus]:
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


def _add_totals(into: Totals, more: Totals) -> None:
    for key, (events, seconds) in more.items():
        before_events, before_seconds = into.get(key, (0, 0.0))
        into[key] = (before_events + events, before_seconds + seconds)


def serve_metrics(
    collectors: Collector | Sequence[Collector], port: int, addr: str = "0.0.0.0"
) -> tuple[WSGIServer, threading.Thread]:
    """Serve ``collectors`` on ``http://addr:port/metrics`` from a daemon thread.

    Returns prometheus_client's (server, thread); ``server.server_port`` is the port bound
    (pass 0 for any free one), ``server.shutdown()`` stops it.
    """
    from prometheus_client import start_http_server

    registry = CollectorRegistry(auto_describe=False)
    for collector in collectors if isinstance(collectors, Sequence) else [collectors]:
        registry.register(collector)
    server, thread = start_http_server(port, addr=addr, registry=registry)
    return server, thread


class MetricsService:
    """Serves ``/metrics`` from a worker (its background-services hook): the collectors
    of every extension of the app (see ``SloExtension.services``).

    The first round starts the HTTP server; if the port is taken, the error is logged and
    the next round (every ``interval`` seconds) tries again. :meth:`close` stops it.
    """

    name = "metrics"

    def __init__(
        self,
        collectors: Collector | Sequence[Collector],
        port: int,
        addr: str = "0.0.0.0",
        *,
        interval: float = 30.0,
    ) -> None:
        self.collectors = list(collectors) if isinstance(collectors, Sequence) else [collectors]
        self.port = port
        self.addr = addr
        self.interval = interval
        self.server: WSGIServer | None = None

    def run_once(self) -> None:
        """Start the server if it is not running yet."""
        if self.server is None:
            self.server, _thread = serve_metrics(self.collectors, self.port, self.addr)
            log.info("serving /metrics on %s:%d", self.addr, self.server.server_port)

    def close(self) -> None:
        """Stop serving."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
