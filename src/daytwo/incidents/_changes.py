"""The one write path of incidents: what every change writes, in one transaction.

:class:`Changes` is bound to the connection of one write transaction. Its
:meth:`~Changes.record` writes the timeline row, the audit row when a person acted, and
the outbox event (appended last, see ``store/_outbox.py``) of one change, so the
notifier and other packages see exactly the changes that committed. The state changes
that both alert sources and people make (acknowledge, resolve) and the stamping of
stages are here too, as are the small helpers of ``_incidents.py`` and ``_ingesting.py``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from daytwo._errors import InvalidInput
from daytwo.incidents import _queries as q
from daytwo.incidents._assessment import Assessment
from daytwo.incidents._errors import InvalidIncidentChange
from daytwo.incidents._records import Incident
from daytwo.incidents._tables import incident_timeline, incidents
from daytwo.incidents._triggers import Trigger
from daytwo.incidents._vocabulary import STAGE_ORDER, IncidentStatus, Stage, TimelineKind
from daytwo.store import (
    AuditEntry,
    EventKind,
    SubscriberStart,
    append_audit,
    append_event,
    ensure_subscriber,
)

__all__ = ["Changes", "alert_data", "because", "enum_text", "insert_incident", "required"]


class Changes:
    """The changes of one write transaction on ``conn``. ``subscribers`` are the outbox
    subscribers registered before each event is appended (``Incidents.subscribers``)."""

    def __init__(self, conn: sa.Connection, subscribers: tuple[str, ...]) -> None:
        self.conn = conn
        self.subscribers = subscribers

    def changeable(self, number: int, what: str) -> Incident:
        """Incident ``number``, locked; refused when it is resolved (``what``: the change)."""
        incident = q.incident_row(self.conn, number, lock=True)
        if not incident.is_open:
            raise InvalidIncidentChange(
                f"incident #{number} is resolved and cannot be {what}; reopen it first"
            )
        return incident

    def stamp(self, incident: Incident, stage: Stage, at: float) -> None:
        """Move ``incident`` on to ``stage``, stamped ``at``."""
        stages = {str(s): t for s, t in incident.stages.items()} | {str(stage): at}
        self.conn.execute(
            incidents.update()
            .where(incidents.c.id == incident.id)
            .values(stage=str(stage), stages=json.dumps(stages))
        )

    def acknowledged(
        self, incident: Incident, actor: str, audit: AuditEntry | None, now: float
    ) -> Incident:
        """Acknowledge ``incident`` (MTTA counts to the first acknowledgement)."""
        first = {"acknowledged_at": now} if incident.acknowledged_at is None else {}
        self.conn.execute(
            incidents.update()
            .where(incidents.c.id == incident.id)
            .values(status=str(IncidentStatus.ACKNOWLEDGED), acknowledged_by=actor, **first)
        )
        return self.record(
            incident.id,
            TimelineKind.ACKNOWLEDGED,
            actor,
            "acknowledged",
            {},
            EventKind.INCIDENT_ACKNOWLEDGED,
            now,
            audit=audit,
        )

    def resolved(
        self,
        incident: Incident,
        actor: str,
        reason: str | None,
        at: float,
        now: float,
        *,
        audit: AuditEntry | None = None,
    ) -> Incident:
        """Resolve ``incident`` ``at`` (stamping the resolve stage if it is not past it)."""
        if STAGE_ORDER.index(incident.stage) < STAGE_ORDER.index(Stage.RESOLVE):
            self.stamp(incident, Stage.RESOLVE, at)
        self.conn.execute(
            incidents.update()
            .where(incidents.c.id == incident.id)
            .values(status=str(IncidentStatus.RESOLVED), resolved_at=at, resolved_by=actor)
        )
        return self.record(
            incident.id,
            TimelineKind.RESOLVED,
            actor,
            "resolved" + because(reason),
            {},
            EventKind.INCIDENT_RESOLVED,
            now,
            audit=audit,
        )

    def record(
        self,
        number: int,
        kind: TimelineKind,
        actor: str,
        text: str,
        data: Mapping[str, Any],
        event: EventKind | None,
        now: float,
        *,
        audit: AuditEntry | None = None,
        last_signal: float | None = None,
    ) -> Incident:
        """The timeline row, the audit row and the outbox event of one change (appended
        last); returns the incident as it now is."""
        conn = self.conn
        if last_signal is not None:
            conn.execute(
                incidents.update()
                .where(incidents.c.id == number)
                .values(last_signal_at=last_signal)
            )
        row_id = conn.execute(
            incident_timeline.insert().values(
                incident_id=number,
                at=now,
                kind=str(kind),
                actor=actor[:255],
                text=text,
                data=json.dumps(dict(data), default=str),
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        if audit is not None:
            append_audit(conn, audit, now)
        incident = q.incident_row(conn, number)
        if event is not None:
            for name in self.subscribers:
                ensure_subscriber(conn, name, now, SubscriberStart.END)
            payload = {
                "incident": incident.to_json(),
                "change": str(kind),
                "actor": actor,
                "text": text,
                "timeline_id": int(row_id),
                "data": dict(data),
            }
            append_event(
                conn, event, str(number), json.loads(json.dumps(payload, default=str)), now
            )
        return incident


def insert_incident(
    conn: sa.Connection,
    trigger: Trigger,
    assessment: Assessment,
    *,
    dedup_key: str | None,
    opened_by: str,
    at: float,
    now: float,
) -> int:
    """Insert the row of a new incident at stage triage, as ``assessment`` judged
    ``trigger``; returns its number. ``at``: when the source says it began; ``now``: when
    it arrived (the quiet period counts from arrivals: a source's clock may be off)."""
    values = {
        "title": trigger.summary[:512],
        "status": str(IncidentStatus.TRIGGERED),
        "severity": str(assessment.severity),
        "stage": str(Stage.TRIAGE),
        "impact": enum_text(assessment.impact),
        "urgency": enum_text(assessment.urgency),
        "source": str(trigger.source),
        "kind": trigger.kind[:64],
        "dedup_key": dedup_key,
        "workflow": trigger.workflow,
        "dependency": trigger.dependency,
        "assignee": assessment.assignee,
        "ownership_version": assessment.ownership_version,
        "labels": json.dumps(dict(trigger.labels), sort_keys=True),
        "stages": json.dumps({str(Stage.TRIAGE): at}),
        "opened_at": at,
        "opened_by": opened_by,
        "last_signal_at": now,
        "quiet_after": trigger.quiet_after,
    }
    return int(conn.execute(incidents.insert().values(values)).inserted_primary_key[0])  # type: ignore[index]


def alert_data(trigger: Trigger) -> dict[str, Any]:
    """What the timeline keeps of an alert signal."""
    data: dict[str, Any] = {
        "source": str(trigger.source),
        "kind": trigger.kind,
        "dedup_key": trigger.dedup_key,
        "alert_key": trigger.key,
    }
    if trigger.labels:
        data["labels"] = dict(trigger.labels)
    if trigger.details:
        data["details"] = dict(trigger.details)
    instance_id = trigger.details.get("instance_id") if trigger.details else None
    if instance_id:
        data["instance_id"] = instance_id
    return data


def enum_text(value: StrEnum | None) -> str | None:
    return None if value is None else str(value)


def because(reason: str | None) -> str:
    return f": {reason}" if reason else ""


def required(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what} must not be empty")
    return value.strip()
