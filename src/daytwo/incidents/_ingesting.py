"""What an alert signal does to incidents: :meth:`Incidents.ingest` and the quiet period.

Every alert source ends up in :func:`ingest`: a trigger opens an incident, appends to the
open one with its dedup key, acknowledges it, or resolves an alert (and the incident
with its last firing alert). :func:`resolve_quiet` resolves the incidents of sources
that never send a resolve, once their quiet period passed without a signal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from daytwo.incidents import _queries as q
from daytwo.incidents._assessment import Assessor
from daytwo.incidents._changes import Changes, alert_data, enum_text, insert_incident
from daytwo.incidents._records import Incident
from daytwo.incidents._tables import incident_alerts, incidents
from daytwo.incidents._triggers import Trigger
from daytwo.incidents._vocabulary import AlertState, IncidentStatus, TimelineKind, TriggerAction
from daytwo.store import EventKind, Store

__all__ = ["IngestOutcome", "IngestResult", "ingest", "resolve_quiet"]

#: Two-key advisory lock space on PostgreSQL for a dedup key ("in" + hash): two triggers
#: with one key at once must not open two incidents.
_DEDUP_LOCK = 0x696E


class IngestOutcome(StrEnum):
    """What one trigger did."""

    OPENED = "opened"
    APPENDED = "appended"
    ALERT_RESOLVED = "alert_resolved"
    RESOLVED = "resolved"
    ACKNOWLEDGED = "acknowledged"
    #: A resolve or acknowledge for a key with no open incident: nothing to do.
    IGNORED = "ignored"


@dataclass(frozen=True, slots=True)
class IngestResult:
    outcome: IngestOutcome
    incident: Incident | None

    def to_json(self) -> dict[str, Any]:
        incident = self.incident
        return {"outcome": str(self.outcome), "incident": None if incident is None else incident.id}


def ingest(changes: Changes, assessor: Assessor, trigger: Trigger, now: float) -> IngestResult:
    """Apply one alert signal in the transaction of ``changes`` (see the module docstring)."""
    conn = changes.conn
    at = trigger.at if trigger.at is not None else now
    if conn.dialect.name == "postgresql":
        key = sa.func.hashtext(trigger.dedup_key)
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_DEDUP_LOCK, key)))
    number = q.open_incident_for(conn, trigger.dedup_key)
    if number is None:
        if trigger.action is not TriggerAction.TRIGGER:
            return IngestResult(IngestOutcome.IGNORED, None)
        return IngestResult(IngestOutcome.OPENED, _open(changes, assessor, trigger, at, now))
    if trigger.action is TriggerAction.TRIGGER:
        _alert_fired(conn, number, trigger, at)
        incident = changes.record(
            number,
            TimelineKind.TRIGGERED,
            str(trigger.source),
            f"alert fired again: {trigger.summary}",
            alert_data(trigger),
            EventKind.INCIDENT_TRIGGERED,
            now,
            last_signal=now,
        )
        return IngestResult(IngestOutcome.APPENDED, incident)
    if trigger.action is TriggerAction.ACKNOWLEDGE:
        incident = q.incident_row(conn, number, lock=True)
        if incident.status is IncidentStatus.ACKNOWLEDGED:
            return IngestResult(IngestOutcome.IGNORED, incident)
        incident = changes.acknowledged(incident, str(trigger.source), None, now)
        return IngestResult(IngestOutcome.ACKNOWLEDGED, incident)
    return _alert_resolved(changes, number, trigger, at, now)


def _open(
    changes: Changes, assessor: Assessor, trigger: Trigger, at: float, now: float
) -> Incident:
    assessment = assessor.assess(trigger)
    number = insert_incident(
        changes.conn,
        trigger,
        assessment,
        dedup_key=trigger.dedup_key,
        opened_by=str(trigger.source),
        at=at,
        now=now,
    )
    _alert_fired(changes.conn, number, trigger, at)
    text = f"opened {assessment.severity} from {trigger.source}: {trigger.summary}"
    data = alert_data(trigger) | {
        "severity": str(assessment.severity),
        "impact": enum_text(assessment.impact),
        "urgency": enum_text(assessment.urgency),
        "assignee": assessment.assignee,
    }
    return changes.record(
        number,
        TimelineKind.OPENED,
        str(trigger.source),
        text,
        data,
        EventKind.INCIDENT_OPENED,
        now,
    )


def _alert_fired(conn: sa.Connection, number: int, trigger: Trigger, at: float) -> None:
    where = sa.and_(
        incident_alerts.c.incident_id == number, incident_alerts.c.alert_key == trigger.key
    )
    updated = conn.execute(
        incident_alerts.update()
        .where(where)
        .values(
            state=str(AlertState.FIRING),
            last_at=at,
            count=incident_alerts.c.count + 1,
            summary=trigger.summary[:1024],
        )
    ).rowcount
    if not updated:
        conn.execute(
            incident_alerts.insert().values(
                incident_id=number,
                alert_key=trigger.key,
                dedup_key=trigger.dedup_key,
                source=str(trigger.source),
                state=str(AlertState.FIRING),
                summary=trigger.summary[:1024],
                labels=json.dumps(dict(trigger.labels)),
                first_at=at,
                last_at=at,
                count=1,
            )
        )


def _alert_resolved(
    changes: Changes, number: int, trigger: Trigger, at: float, now: float
) -> IngestResult:
    conn = changes.conn
    # A resolve without an alert key is for the whole dedup key (PagerDuty, an SLO alert).
    keys = [trigger.alert_key] if trigger.alert_key else q.firing_keys(conn, number)
    conn.execute(
        incident_alerts.update()
        .where(incident_alerts.c.incident_id == number, incident_alerts.c.alert_key.in_(keys))
        .values(state=str(AlertState.RESOLVED), last_at=at)
    )
    incident = changes.record(
        number,
        TimelineKind.ALERT_RESOLVED,
        str(trigger.source),
        f"alert resolved: {trigger.summary}",
        alert_data(trigger),
        None,
        now,
        last_signal=now,
    )
    if q.firing_keys(conn, number):
        return IngestResult(IngestOutcome.ALERT_RESOLVED, incident)
    incident = changes.resolved(
        incident, str(trigger.source), "every alert of it resolved", at, now
    )
    return IngestResult(IngestOutcome.RESOLVED, incident)


def resolve_quiet(store: Store, subscribers: tuple[str, ...], now: float) -> list[int]:
    """Resolve the open incidents whose quiet period passed without a signal by ``now``
    (sources that never send a resolve), each in its own transaction; their numbers."""
    due = (
        sa.select(incidents.c.id)
        .where(
            incidents.c.status != str(IncidentStatus.RESOLVED),
            incidents.c.quiet_after.is_not(None),
            incidents.c.last_signal_at + incidents.c.quiet_after <= now,
        )
        .order_by(incidents.c.id)
    )
    with store.read() as conn:
        numbers = [int(n) for n in conn.execute(due).scalars()]
    done = []
    for number in numbers:
        with store.write() as conn:
            incident = q.incident_row(conn, number, lock=True)
            if not incident.is_open or incident.quiet_after is None:
                continue
            if incident.last_signal_at + incident.quiet_after > now:
                continue  # a signal arrived meanwhile
            why = f"no signal for {incident.quiet_after:g} s (quiet period)"
            Changes(conn, subscribers).resolved(incident, "daytwo", why, now, now)
            done.append(number)
    return done
