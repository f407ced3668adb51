"""The incident report: counts, nearest-rank MTTA/MTTR percentiles and mean stage times to
the second on FakeClock-made incidents, and the error budget SLO incidents consumed."""

from __future__ import annotations

import pytest

import daytwo
from daytwo.incidents import Incidents, Severity, Source, Stage, Trigger, TriggerAction
from daytwo.incidents._report import IncidentReport, Percentiles, incident_report, nearest_rank


@pytest.fixture
def incidents(fake_app: daytwo.App) -> Incidents:
    return Incidents.for_app(fake_app)


def test_nearest_rank() -> None:
    ordered = [float(n) for n in range(1, 11)]  # 1..10
    assert [nearest_rank(ordered, p) for p in (50, 90, 95, 100)] == [5, 9, 10, 10]
    assert nearest_rank([7.0], 50) == 7 and nearest_rank([1.0, 2.0], 50) == 1
    assert Percentiles.of([]) == Percentiles()


def test_counts_percentiles_and_stage_times(incidents: Incidents, clock: daytwo.FakeClock) -> None:
    start = clock.now()
    # Ten incidents acknowledged after 10, 20, ... 100 s; the first five resolved after
    # 100, 200, ... 500 s (from opening).
    for n in range(1, 11):
        made = incidents.open(
            f"problem {n}", severity=Severity.SEV1 if n <= 3 else Severity.SEV3,
            workflow="order" if n % 2 else "refund", dependency="psp" if n <= 2 else None,
            by="ann",
        )  # fmt: skip
        clock.advance(10 * n)
        incidents.acknowledge(made.id, by="ann")
        if n <= 5:
            clock.advance(100 * n - 10 * n)
            incidents.resolve(made.id, by="ann")
        clock.advance(1000)
    now = clock.now()
    report = incident_report(incidents, start, now=now)
    assert report.total == 10
    assert report.by_severity == {"SEV1": 3, "SEV3": 7}
    assert report.by_status == {"acknowledged": 5, "resolved": 5}
    assert report.by_workflow == {"order": 5, "refund": 5}
    assert report.by_dependency == {"psp": 2}
    assert report.mtta == Percentiles(count=10, p50=50, p90=90, p95=100, max=100, mean=55)
    assert report.mttr == Percentiles(count=5, p50=300, p90=500, p95=500, max=500, mean=300)
    # Triage ends at the resolve for the five resolved (100..500 s, mean 300); the open
    # five are still in triage until now.
    open_triage = [now - i.opened_at for i in incidents.list() if i.is_open]
    expected = (1500 + sum(open_triage)) / 10
    assert report.time_per_stage == {"triage": expected, "resolve": 0}
    # The period filters by opening time; JSON round-trips.
    later = incident_report(incidents, start + 1, now=now)
    assert later.total == 9
    assert IncidentReport.from_json(report.to_json()) == report
    assert report.renderables()
    with pytest.raises(daytwo.InvalidInput, match="period is empty"):
        incident_report(incidents, now, now - 1, now=now)


def slo_trigger(action: TriggerAction, remaining: float, objective: str = "order-ok") -> Trigger:
    return Trigger(
        source=Source.SLO, dedup_key=f"slo/{objective}/page", action=action,
        summary=f"{objective} burning", kind="slo.page", workflow="order",
        details={"objective": objective, "budget_remaining": remaining},
    )  # fmt: skip


def test_error_budget_consumed_during_slo_incidents(
    incidents: Incidents, clock: daytwo.FakeClock, fake_app: daytwo.App
) -> None:
    start = clock.now()
    incidents.ingest(slo_trigger(TriggerAction.TRIGGER, 0.9))
    clock.advance(60)
    incidents.ingest(slo_trigger(TriggerAction.TRIGGER, 0.8))
    clock.advance(60)
    incidents.ingest(slo_trigger(TriggerAction.RESOLVE, 0.75))
    # A second incident of the same objective, still open: the latest trigger counts.
    incidents.ingest(slo_trigger(TriggerAction.TRIGGER, 0.7))
    clock.advance(60)
    incidents.ingest(slo_trigger(TriggerAction.TRIGGER, 0.6))
    # Another objective, opened but never repeated: nothing known to subtract.
    incidents.ingest(slo_trigger(TriggerAction.TRIGGER, 0.5, objective="refund-ok"))
    incidents.open("by hand", by="ann")
    report = incident_report(fake_app.store, start, now=clock.now())
    assert report.total == 4
    assert report.budget_consumed == {"order-ok": pytest.approx(0.15 + 0.1)}
    assert report.to_json()["budget_consumed"] == report.budget_consumed
    stages = report.time_per_stage
    assert stages[str(Stage.TRIAGE)] == pytest.approx((120 + 60 + 0 + 0) / 4)
