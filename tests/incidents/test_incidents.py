"""The incidents service: dedup, stages, acknowledge, resolve (refused while firing),
reopen, the quiet period, MTTA/MTTR and the timeline with audit rows merged in."""

from __future__ import annotations

import pytest

import daytwo
from daytwo.incidents import (
    IncidentFilter,
    Incidents,
    IncidentStatus,
    IncidentStillFiring,
    IngestOutcome,
    InvalidIncidentChange,
    Severity,
    Source,
    Stage,
    TimelineKind,
    Trigger,
    TriggerAction,
)
from daytwo.store import EventKind, events_after


def trigger(action: TriggerAction = TriggerAction.TRIGGER, key: str = "g1", alert: str = "",
            **extra: object) -> Trigger:  # fmt: skip
    return Trigger(
        source=Source.ALERTMANAGER, dedup_key=key, alert_key=alert, action=action,
        summary="payments failing", kind="alertmanager", workflow="order", **extra,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.fixture
def incidents(fake_app: daytwo.App) -> Incidents:
    return Incidents.for_app(fake_app)


def test_a_repeated_trigger_appends_and_the_last_resolve_resolves(
    incidents: Incidents, clock: daytwo.FakeClock
) -> None:
    opened = incidents.ingest(trigger(alert="a"))
    assert opened.outcome is IngestOutcome.OPENED and opened.incident is not None
    number = opened.incident.id
    clock.advance(60)
    again = incidents.ingest(trigger(alert="a"))
    second = incidents.ingest(trigger(alert="b"))
    assert again.outcome is second.outcome is IngestOutcome.APPENDED
    assert [a.count for a in incidents.alerts(number)] == [2, 1]
    assert incidents.ingest(trigger(TriggerAction.RESOLVE, alert="a")).outcome is (
        IngestOutcome.ALERT_RESOLVED
    )
    clock.advance(60)
    done = incidents.ingest(trigger(TriggerAction.RESOLVE, alert="b"))
    assert done.outcome is IngestOutcome.RESOLVED and done.incident is not None
    assert done.incident.time_to_resolve == 120 and done.incident.stage is Stage.RESOLVE
    # The key is free again: the next trigger opens a new incident.
    assert incidents.ingest(trigger(alert="a")).outcome is IngestOutcome.OPENED
    assert incidents.ingest(trigger(TriggerAction.RESOLVE, key="nope")).outcome is (
        IngestOutcome.IGNORED
    )


def test_manual_resolve_is_refused_while_firing_unless_forced(incidents: Incidents) -> None:
    number = incidents.ingest(trigger()).incident.id  # type: ignore[union-attr]
    with pytest.raises(IncidentStillFiring, match="--force"):
        incidents.resolve(number, by="ann")
    assert incidents.get(number).status is IncidentStatus.TRIGGERED
    resolved = incidents.resolve(number, by="ann", force=True, reason="false alarm")
    assert resolved.status is IncidentStatus.RESOLVED and resolved.resolved_by == "ann"


def test_mtta_mttr_and_time_per_stage_to_the_second(
    incidents: Incidents, clock: daytwo.FakeClock
) -> None:
    incident = incidents.open("checkout slow", severity=Severity.SEV2, workflow="order", by="ann")
    clock.advance(90)
    incidents.acknowledge(incident.id, by="bob")
    clock.advance(30)
    incidents.advance(incident.id, Stage.CONTAIN, by="bob")
    clock.advance(300)
    incidents.advance(incident.id, Stage.DIAGNOSE, note="db pool", by="bob")
    clock.advance(600)
    done = incidents.resolve(incident.id, by="bob")
    assert (done.time_to_acknowledge, done.time_to_resolve) == (90, 1020)
    assert done.time_in_stages(clock.now()) == {
        Stage.TRIAGE: 120, Stage.CONTAIN: 300, Stage.DIAGNOSE: 600, Stage.RESOLVE: 0,
    }  # fmt: skip
    with pytest.raises(InvalidIncidentChange, match="stages go forward"):
        incidents.advance(incident.id, Stage.CONTAIN, by="bob")
    clock.advance(10)
    reopened = incidents.reopen(incident.id, reason="came back", by="bob")
    assert reopened.status is IncidentStatus.TRIGGERED and reopened.stage is Stage.DIAGNOSE
    assert Stage.RESOLVE not in reopened.stages


def test_every_change_is_in_the_timeline_the_audit_log_and_the_outbox(
    fake_app: daytwo.App, incidents: Incidents
) -> None:
    number = incidents.ingest(trigger()).incident.id  # type: ignore[union-attr]
    incidents.acknowledge(number, by="ann")
    incidents.reassign(number, "payments-team", reason="theirs", by="ann")
    incidents.note(number, "restarted the gateway", by="ann")
    incidents.set_severity(number, Severity.SEV1, reason="customers affected", by="ann")
    with pytest.raises(daytwo.InvalidInput, match="reason"):
        incidents.set_severity(number, Severity.SEV2, reason=" ", by="ann")
    fake_app.flow.pause("order", reason="stop the bleeding", by="ann", force=True)
    kinds = [entry.kind for entry in incidents.timeline(number)]
    assert kinds == [
        TimelineKind.OPENED, TimelineKind.ACKNOWLEDGED, TimelineKind.REASSIGNED,
        TimelineKind.NOTE, TimelineKind.SEVERITY_CHANGED, TimelineKind.AUDIT,
    ]  # fmt: skip
    audit = [row.action for row in fake_app.client.audit.list(target_kind="incident")]
    assert audit == [
        "incident.severity", "incident.note", "incident.reassign", "incident.acknowledge",
    ]  # fmt: skip
    with fake_app.store.read() as conn:
        events = [e.kind for e in events_after(conn, 0) if e.kind.startswith("incident.")]
    assert events == [
        EventKind.INCIDENT_OPENED, EventKind.INCIDENT_ACKNOWLEDGED,
        *[EventKind.INCIDENT_CHANGED] * 3,
    ]  # fmt: skip
    assert incidents.get(number).severity is Severity.SEV1
    assert [i.id for i in incidents.list(IncidentFilter(workflow="order"))] == [number]


def test_a_quiet_incident_resolves_on_its_own(
    incidents: Incidents, clock: daytwo.FakeClock
) -> None:
    number = incidents.ingest(trigger(quiet_after=600)).incident.id  # type: ignore[union-attr]
    clock.advance(500)
    incidents.ingest(trigger(quiet_after=600))  # a signal restarts the quiet period
    clock.advance(500)
    assert incidents.resolve_quiet() == []
    clock.advance(100)
    assert incidents.resolve_quiet() == [number]
    assert incidents.get(number).resolved_by == "daytwo"
