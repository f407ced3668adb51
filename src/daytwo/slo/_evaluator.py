"""The evaluator: measures every objective, keeps budgets and burn rates, raises alerts.

:meth:`Evaluator.status` measures and reports (it only stores new definition versions);
:meth:`Evaluator.evaluate` also records the evaluation, reconciles alert records and hands
what changed to the sinks (webhooks through the durable outbox, ``_delivery.py``). Time
comes from the engine's clock, so tests drive a 30-day window with a
:class:`~daytwo.FakeClock`.

Per objective: the SLO window (rolling: ``[now - length, now)``; calendar: from the start
of the current UTC month or week, so the budget resets there), every alert rule's long and
short window, and 1h/6h/3d for display. A rule fires when its long window holds at least
``min_events`` valid events and both windows burn above its threshold. No data: the SLI's
last valid event (:meth:`Indicators.last_event`) is older than the policy's ``no_data``
(or there never was one), the condition the generated Prometheus rule checks on the
exported last-event timestamp.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa

from daytwo.engine import Clock
from daytwo.slo._alerts import Alert, AlertSink, DesiredAlert, deliver, reconcile_alerts
from daytwo.slo._buckets import OlderCache
from daytwo.slo._definitions import (
    CompensationRate,
    Objective,
    RetryRate,
    Window,
    format_duration,
)
from daytwo.slo._delivery import (
    after_commit_sinks,
    alert_deliveries,
    deliver_now,
    record_alert_events,
)
from daytwo.slo._indicators import Indicators, check_dependencies
from daytwo.slo._results import Measure, RuleResult, SloStatus
from daytwo.slo._tables import slo_alerts, slo_evaluations
from daytwo.slo._versions import record_versions
from daytwo.slo._vocabulary import AlertStatus, Severity
from daytwo.store import Store, slo_buckets

if TYPE_CHECKING:
    from daytwo.app import App

__all__ = ["DISPLAY_WINDOWS", "Evaluator", "window_start"]

log = logging.getLogger("daytwo.slo")

#: Burn-rate windows shown by ``daytwo slo status``.
DISPLAY_WINDOWS = (timedelta(hours=1), timedelta(hours=6), timedelta(days=3))
#: Minute buckets older than this are deleted by :meth:`Evaluator.evaluate`.
MINUTE_RETENTION = 8 * 86400.0
#: How often (clock seconds) :meth:`Evaluator.evaluate` prunes old samples and buckets.
PRUNE_EVERY = 3600.0


def window_start(window: Window, now: float) -> float:
    """Where the SLO window that ends at ``now`` starts."""
    if window.kind == "rolling":
        return now - window.nominal.total_seconds()
    moment = datetime.fromtimestamp(now, UTC)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if window.period == "month":
        return day.replace(day=1).timestamp()
    return (day - timedelta(days=day.weekday())).timestamp()


class Evaluator:
    """Evaluates ``objectives`` against one store.

    ``dependencies`` maps step names to the dependency they call (for dependency-scoped
    rate objectives); :meth:`for_app` takes it and ``workflows`` from the app's registry.
    """

    def __init__(
        self,
        store: Store,
        clock: Clock,
        objectives: Sequence[Objective],
        *,
        sinks: Sequence[AlertSink] = (),
        dependencies: Mapping[str, str] | None = None,
        workflows: Sequence[str] = (),
    ) -> None:
        names = [o.name for o in objectives]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"objective names must be unique; repeated: {', '.join(duplicates)}")
        self.store = store
        self.clock = clock
        self.objectives = list(objectives)
        self.sinks = list(sinks)
        #: The outbox deliveries of the durable sinks (webhooks); ``daytwo worker`` runs
        #: them as background services too, which retry.
        self.deliveries = alert_deliveries(store, clock, self.sinks)
        self.dependencies = dict(dependencies or {})
        #: Whose minute buckets :meth:`evaluate` prunes (besides the objectives' workflows).
        self.workflows = sorted({*workflows, *(o.workflow for o in self.objectives)})
        self._pruned_at: float | None = None
        self._older: OlderCache = {}
        check_dependencies(self.objectives, self.dependencies)

    @classmethod
    def for_app(
        cls,
        app: App,
        objectives: Sequence[Objective] | None = None,
        *,
        sinks: Sequence[AlertSink] = (),
    ) -> Evaluator:
        """An evaluator on the app's store and clock (objectives: those registered on it)."""
        from daytwo.slo._registry import objectives_for, step_dependencies

        dependencies = step_dependencies(app)
        chosen = objectives_for(app) if objectives is None else objectives
        return cls(
            app.store, app.clock, chosen, sinks=sinks, dependencies=dependencies,
            workflows=list(app.registry.workflows),
        )  # fmt: skip

    # -- public ---------------------------------------------------------------------------

    def status(self) -> list[SloStatus]:
        """Measure every objective now; alert state as last recorded by :meth:`evaluate`."""
        statuses, _desired, _now = self._measure()
        return self._with_alerts(statuses)

    def evaluate(self) -> list[SloStatus]:
        """Measure, record the evaluation, fire and resolve alerts, deliver the changes."""
        statuses, desired, now = self._measure()
        names = [s.name for s in statuses]
        keep = max(
            [35 * 86400.0] + [o.window.nominal.total_seconds() + 86400 for o in self.objectives]
        )
        with self.store.write() as conn:
            if statuses:
                conn.execute(
                    slo_evaluations.delete().where(
                        slo_evaluations.c.objective.in_(names), slo_evaluations.c.at == now
                    )
                )
                conn.execute(slo_evaluations.insert(), [self._record(s) for s in statuses])
            changed = reconcile_alerts(conn, names, desired, now)
            if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY:
                self._prune(conn, names, now, keep)
                self._pruned_at = now
            # Last: the events commit with the alert rows (and hold the outbox lock to it).
            record_alert_events(conn, changed, now, self.deliveries)
        deliver(after_commit_sinks(self.sinks), changed)
        deliver_now(self.deliveries)
        return self._with_alerts(statuses)

    def _prune(self, conn: sa.Connection, names: list[str], now: float, keep: float) -> None:
        """Drop old samples and minute buckets (by primary-key prefix: no table scan)."""
        conn.execute(
            slo_evaluations.delete().where(
                slo_evaluations.c.objective.in_(names), slo_evaluations.c.at < now - keep
            )
        )
        conn.execute(
            slo_buckets.delete().where(
                slo_buckets.c.workflow.in_(self.workflows),
                slo_buckets.c.resolution == 60,
                slo_buckets.c.bucket_start < now - MINUTE_RETENTION,
            )
        )

    # -- measuring ------------------------------------------------------------------------

    def _measure(self) -> tuple[list[SloStatus], list[DesiredAlert], float]:
        now = self.clock.now()
        versions = record_versions(self.store, self.objectives, now)
        plans = {o.name: self._windows(o, now) for o in self.objectives}
        indicators = Indicators(
            self.store, now, {o: plans[o.name] for o in self.objectives}, self.dependencies,
            self._older,
        )  # fmt: skip
        statuses, desired = [], []
        for objective in self.objectives:
            measures = indicators.measures(objective, plans[objective.name])
            last = indicators.last_event(objective)
            status = self._status(objective, versions[objective.name], now, plans, measures, last)
            if objective.name in indicators.samples:
                stuck, active = indicators.samples[objective.name]
                status = replace(status, sample=(float(active - stuck), float(active)))
            if isinstance(objective.sli, RetryRate | CompensationRate):
                status = replace(status, active_instances=indicators.active(objective))
            statuses.append(status)
            desired.extend(self._desired(objective, status))
        return statuses, desired, now

    @staticmethod
    def _windows(objective: Objective, now: float) -> dict[str, float]:
        starts = {"slo": window_start(objective.window, now)}
        lengths = [*DISPLAY_WINDOWS]
        for rule in objective.alerting.rules:
            lengths += [rule.long_window, rule.short_window]
        for length in lengths:
            starts[format_duration(length)] = now - length.total_seconds()
        return starts

    def _status(
        self,
        objective: Objective,
        version: int,
        now: float,
        plans: Mapping[str, Mapping[str, float]],
        measures: Mapping[str, Measure],
        last_event_at: float | None,
    ) -> SloStatus:
        budget = objective.budget
        whole = measures["slo"]
        allowed = budget * whole.valid
        consumed = whole.bad / allowed if allowed else 0.0
        rules = []
        for rule in objective.alerting.rules:
            threshold = rule.threshold(objective.window)
            long = measures[format_duration(rule.long_window)]
            short = measures[format_duration(rule.short_window)]
            long_burn, short_burn = long.burn(budget), short.burn(budget)
            gated = long.valid < objective.alerting.min_events
            firing = (
                not gated
                and long_burn is not None
                and short_burn is not None
                and long_burn > threshold
                and short_burn > threshold
            )
            rules.append(
                RuleResult(
                    rule.name, rule.severity, threshold, long_burn, short_burn, long.valid,
                    gated, firing,
                )
            )  # fmt: skip
        no_data = False
        if objective.alerting.no_data is not None:
            quiet = objective.alerting.no_data.total_seconds()
            no_data = last_event_at is None or now - last_event_at > quiet
        if whole.valid:
            sli = whole.good / whole.valid if objective.is_ratio else whole.bad / whole.valid
        else:
            sli = None
        return SloStatus(
            name=objective.name,
            workflow=objective.workflow,
            version=objective.version,
            kind=objective.sli.kind,
            objective=objective.objective,
            budget=budget,
            window=str(objective.window),
            definition_version=version,
            evaluated_at=now,
            window_start=plans[objective.name]["slo"],
            good=whole.good,
            bad=whole.bad,
            valid=whole.valid,
            sli=sli,
            budget_total=allowed,
            budget_consumed=consumed,
            budget_remaining=1.0 - consumed,
            burn={name: m.burn(budget) for name, m in measures.items() if name != "slo"},
            rules=rules,
            no_data=no_data,
            runbook=objective.alerting.runbook,
            last_event_at=last_event_at,
        )

    @staticmethod
    def _desired(objective: Objective, status: SloStatus) -> list[DesiredAlert]:
        labels = {
            "objective": objective.name,
            "workflow": objective.workflow,
            "sli": objective.sli.kind,
            **({"version": objective.version} if objective.version else {}),
            **objective.alerting.labels,
        }
        out = []
        for severity in Severity:
            firing = [r for r in status.rules if r.firing and r.severity == severity]
            if not firing:
                continue
            worst = max(firing, key=lambda r: r.long_burn or 0.0)
            rule = next(r for r in objective.alerting.rules if r.name == worst.rule)
            summary = (
                f"{objective.name}: {objective.workflow} burns its error budget "
                f"{worst.long_burn:.1f}x over {format_duration(rule.long_window)} and "
                f"{worst.short_burn:.1f}x over {format_duration(rule.short_window)} "
                f"(threshold {worst.threshold:g}x); {status.budget_remaining:.0%} of the "
                f"{status.window} budget left"
            )
            out.append(
                DesiredAlert(
                    dedup_key=f"slo/{objective.name}/{severity}",
                    objective=objective.name,
                    definition_version=status.definition_version,
                    severity=severity,
                    summary=summary,
                    runbook=objective.alerting.runbook,
                    labels={**labels, "severity": severity},
                    detail={
                        "rules": [r.to_json() for r in firing],
                        "sli": status.sli,
                        # What incidents report as the budget consumed while they were open.
                        "budget_remaining": status.budget_remaining,
                    },
                )
            )
        if status.no_data and objective.alerting.no_data is not None:
            out.append(
                DesiredAlert(
                    dedup_key=f"slo/{objective.name}/no-data",
                    objective=objective.name,
                    definition_version=status.definition_version,
                    severity=Severity.TICKET,
                    summary=(
                        f"{objective.name}: no {objective.workflow} events for "
                        f"{format_duration(objective.alerting.no_data)} although they are "
                        "expected"
                    ),
                    runbook=objective.alerting.runbook,
                    labels={**labels, "severity": str(Severity.TICKET), "alert": "no-data"},
                )
            )
        return out

    @staticmethod
    def _record(status: SloStatus) -> dict[str, object]:
        detail = {"burn": status.burn, "rules": [r.to_json() for r in status.rules]}
        good, valid = status.sample or (status.good, status.valid)
        return {
            "objective": status.name,
            "at": status.evaluated_at,
            "definition_version": status.definition_version,
            "good": good,
            "valid": valid,
            "sli": status.sli,
            "budget_remaining": status.budget_remaining,
            "detail": json.dumps(detail),
        }

    def _with_alerts(self, statuses: list[SloStatus]) -> list[SloStatus]:
        names = [s.name for s in statuses]
        with self.store.read() as conn:
            rows = conn.execute(
                sa.select(slo_alerts).where(
                    slo_alerts.c.status == AlertStatus.FIRING, slo_alerts.c.objective.in_(names)
                )
            ).mappings()
            firing: dict[str, list[Alert]] = {}
            for row in rows:
                firing.setdefault(row["objective"], []).append(Alert.from_row(row))
        for status in statuses:
            status.alerts[:] = firing.get(status.name, [])
        return statuses
