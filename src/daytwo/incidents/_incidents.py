"""The incidents service: every change to an incident, from Python, the CLI and HTTP.

Each change is one write transaction holding the incident's row update, a timeline row,
an audit row when a person acted, and an outbox event (appended last, see
``store/_outbox.py``), so the notifier and other packages see exactly the changes that
committed (the one write path: ``_changes.py``). :meth:`Incidents.ingest` is where every
alert source ends up: it opens an incident, appends to the open one with the trigger's
dedup key, or resolves an alert (and the incident with its last firing alert; what a
trigger does: ``_ingesting.py``).
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from daytwo.engine import Clock
from daytwo.incidents import _ingesting
from daytwo.incidents import _queries as q
from daytwo.incidents._assessment import Assessor, DefaultAssessor
from daytwo.incidents._changes import Changes, because, insert_incident, required
from daytwo.incidents._errors import IncidentStillFiring, InvalidIncidentChange
from daytwo.incidents._ingesting import IngestOutcome, IngestResult
from daytwo.incidents._records import Incident, IncidentAlert, TimelineEntry
from daytwo.incidents._tables import incidents
from daytwo.incidents._triggers import Trigger
from daytwo.incidents._vocabulary import (
    STAGE_ORDER,
    IncidentAction,
    IncidentStatus,
    Severity,
    Source,
    Stage,
    TimelineKind,
    TriggerAction,
)
from daytwo.store import AuditEntry, AuditTarget, EventKind, Store, resolve_actor

if TYPE_CHECKING:
    from daytwo.app import App

__all__ = ["Incidents", "IngestOutcome", "IngestResult"]


class Incidents:
    """Incidents of one database. ``assessor`` sets a new incident's severity and assignee
    (the ownership registry's; by default the source's hint or SEV3 and nobody)."""

    def __init__(self, store: Store, clock: Clock, assessor: Assessor | None = None) -> None:
        self.store = store
        self.clock = clock
        self.assessor: Assessor = assessor or DefaultAssessor()
        #: Outbox subscribers that start at the end of the outbox and must see every
        #: incident event (the notifiers): registered in the transaction of each event,
        #: before its append, so that none is missed while no worker has run yet.
        self.subscribers: tuple[str, ...] = ()

    @classmethod
    def for_app(cls, app: App) -> Incidents:
        """The incidents of ``app``'s database, judged by its incidents extension."""
        from daytwo.incidents._extension import IncidentsExtension

        return app.extension(IncidentsExtension).incidents

    # -- reads ----------------------------------------------------------------------------

    def get(self, number: int) -> Incident:
        with self.store.read() as conn:
            return q.incident_row(conn, number)

    def list(self, where: q.IncidentFilter | None = None) -> builtins.list[Incident]:
        with self.store.read() as conn:
            return q.list_incidents(conn, where or q.IncidentFilter())

    def alerts(self, number: int) -> builtins.list[IncidentAlert]:
        with self.store.read() as conn:
            q.incident_row(conn, number)
            return q.alerts_of(conn, number)

    def timeline(self, number: int) -> builtins.list[TimelineEntry]:
        with self.store.read() as conn:
            return q.timeline_of(conn, q.incident_row(conn, number), self.clock.now())

    def affected_instances(self, number: int, limit: int = 1000) -> builtins.list[str]:
        with self.store.read() as conn:
            incident = q.incident_row(conn, number)
            return q.affected_instance_ids(conn, incident, self.clock.now(), limit)

    # -- alert sources ----------------------------------------------------------------------

    def ingest(self, trigger: Trigger) -> IngestResult:
        """Apply one alert signal (see the module docstring)."""
        with self._write() as changes:
            return _ingesting.ingest(changes, self.assessor, trigger, self.clock.now())

    def resolve_quiet(self) -> builtins.list[int]:
        """Resolve the open incidents whose quiet period passed without a signal (sources
        that never send a resolve); returns their numbers."""
        return _ingesting.resolve_quiet(self.store, self.subscribers, self.clock.now())

    # -- what people do -------------------------------------------------------------------

    def open(
        self,
        title: str,
        *,
        severity: Severity | None = None,
        workflow: str | None = None,
        dependency: str | None = None,
        assignee: str | None = None,
        labels: Mapping[str, str] | None = None,
        by: str | None = None,
    ) -> Incident:
        """Open an incident by hand (no alert: it resolves when someone resolves it)."""
        title = required(title, "the incident's title")
        actor = resolve_actor(by)
        trigger = Trigger(
            source=Source.MANUAL,
            dedup_key="",
            action=TriggerAction.TRIGGER,
            summary=title,
            kind="manual",
            labels=dict(labels or {}),
            workflow=workflow,
            dependency=dependency,
            severity_hint=severity,
        )
        judged = self.assessor.assess(trigger)
        # A severity or an assignee given by hand wins over the registry's (a severity given
        # by hand was judged by a person: the matrix's impact and urgency do not apply).
        assessment = replace(judged, assignee=assignee or judged.assignee)
        if severity is not None:
            assessment = replace(assessment, severity=severity, impact=None, urgency=None)
        with self._write() as changes:
            now = self.clock.now()
            number = insert_incident(
                changes.conn, trigger, assessment, dedup_key=None, opened_by=actor, at=now, now=now
            )
            audit = AuditEntry(
                actor,
                IncidentAction.OPEN,
                AuditTarget.INCIDENT,
                str(number),
                params={"title": title, "severity": str(assessment.severity)},
            )
            return changes.record(
                number,
                TimelineKind.OPENED,
                actor,
                f"opened by hand: {title}",
                {"severity": str(assessment.severity)},
                EventKind.INCIDENT_OPENED,
                now,
                audit=audit,
            )

    def acknowledge(self, number: int, *, by: str | None = None) -> Incident:
        """Someone is on it: stops the paging (MTTA counts to the first acknowledgement)."""
        actor = resolve_actor(by)
        with self._write() as changes:
            incident = q.incident_row(changes.conn, number, lock=True)
            if incident.status is not IncidentStatus.TRIGGERED:
                raise InvalidIncidentChange(
                    f"incident #{number} is {incident.status}, not triggered: only a triggered "
                    "incident can be acknowledged"
                )
            audit = AuditEntry(actor, IncidentAction.ACKNOWLEDGE, AuditTarget.INCIDENT, str(number))
            return changes.acknowledged(incident, actor, audit, self.clock.now())

    def reassign(
        self, number: int, to: str, *, reason: str | None = None, by: str | None = None
    ) -> Incident:
        """Hand the incident to ``to`` (a person or team)."""
        to = required(to, "the new assignee")
        actor = resolve_actor(by)
        with self._write() as changes:
            incident = changes.changeable(number, "reassigned")
            changes.conn.execute(
                incidents.update().where(incidents.c.id == number).values(assignee=to)
            )
            audit = AuditEntry(
                actor,
                IncidentAction.REASSIGN,
                AuditTarget.INCIDENT,
                str(number),
                reason=reason,
                params={"from": incident.assignee, "to": to},
            )
            text = f"reassigned from {incident.assignee or 'nobody'} to {to}" + because(reason)
            return changes.record(
                number,
                TimelineKind.REASSIGNED,
                actor,
                text,
                {"from": incident.assignee, "to": to},
                EventKind.INCIDENT_CHANGED,
                self.clock.now(),
                audit=audit,
            )

    def note(self, number: int, text: str, *, by: str | None = None) -> Incident:
        """Add a note to the timeline (what was tried, what was seen)."""
        text = required(text, "the note")
        actor = resolve_actor(by)
        with self._write() as changes:
            q.incident_row(changes.conn, number, lock=True)
            audit = AuditEntry(
                actor, IncidentAction.NOTE, AuditTarget.INCIDENT, str(number), reason=text[:500]
            )
            return changes.record(
                number,
                TimelineKind.NOTE,
                actor,
                text,
                {},
                EventKind.INCIDENT_CHANGED,
                self.clock.now(),
                audit=audit,
            )

    def set_severity(
        self, number: int, severity: Severity, *, reason: str, by: str | None = None
    ) -> Incident:
        """Change an open incident's severity; the reason is required and recorded."""
        reason = required(reason, "the reason for the new severity (--reason)")
        severity = Severity(severity)
        actor = resolve_actor(by)
        with self._write() as changes:
            incident = changes.changeable(number, "given a new severity")
            if incident.severity is severity:
                raise InvalidIncidentChange(f"incident #{number} is already {severity}")
            changes.conn.execute(
                incidents.update().where(incidents.c.id == number).values(severity=str(severity))
            )
            change = {"from": str(incident.severity), "to": str(severity)}
            audit = AuditEntry(
                actor,
                IncidentAction.SEVERITY,
                AuditTarget.INCIDENT,
                str(number),
                reason=reason,
                params=change,
            )
            text = f"severity {incident.severity} -> {severity}" + because(reason)
            return changes.record(
                number,
                TimelineKind.SEVERITY_CHANGED,
                actor,
                text,
                change,
                EventKind.INCIDENT_CHANGED,
                self.clock.now(),
                audit=audit,
            )

    def advance(
        self, number: int, stage: Stage, *, note: str | None = None, by: str | None = None
    ) -> Incident:
        """Move the incident on to ``stage`` (stages only go forward; each is stamped)."""
        stage = Stage(stage)
        actor = resolve_actor(by)
        with self._write() as changes:
            incident = q.incident_row(changes.conn, number, lock=True)
            if STAGE_ORDER.index(stage) <= STAGE_ORDER.index(incident.stage):
                raise InvalidIncidentChange(
                    f"incident #{number} is at stage {incident.stage}; stages go forward "
                    f"({' -> '.join(STAGE_ORDER)})"
                )
            if stage in (Stage.RECOVER, Stage.REVIEW) and incident.is_open:
                raise InvalidIncidentChange(
                    f"incident #{number} is not resolved yet; resolve it before {stage}"
                )
            now = self.clock.now()
            changes.stamp(incident, stage, now)
            audit = AuditEntry(
                actor,
                IncidentAction.STAGE,
                AuditTarget.INCIDENT,
                str(number),
                reason=note,
                params={"stage": str(stage)},
            )
            return changes.record(
                number,
                TimelineKind.STAGE,
                actor,
                f"stage {incident.stage} -> {stage}" + because(note),
                {"from": str(incident.stage), "to": str(stage)},
                EventKind.INCIDENT_CHANGED,
                now,
                audit=audit,
            )

    def resolve(
        self, number: int, *, reason: str | None = None, force: bool = False, by: str | None = None
    ) -> Incident:
        """Resolve by hand; refused while an alert of it still fires, unless ``force``."""
        actor = resolve_actor(by)
        with self._write() as changes:
            incident = changes.changeable(number, "resolved")
            firing = q.firing_keys(changes.conn, number)
            # A source that never sends a resolve (a quiet period) cannot be "still firing".
            if firing and not force and incident.quiet_after is None:
                raise IncidentStillFiring(number, firing)
            audit = AuditEntry(
                actor,
                IncidentAction.RESOLVE,
                AuditTarget.INCIDENT,
                str(number),
                reason=reason,
                params={"force": force, "firing": len(firing)},
            )
            now = self.clock.now()
            return changes.resolved(incident, actor, reason, now, now, audit=audit)

    def reopen(self, number: int, *, reason: str | None = None, by: str | None = None) -> Incident:
        """Reopen a resolved incident: it is triggered again, back before the resolve stage."""
        actor = resolve_actor(by)
        with self._write() as changes:
            incident = q.incident_row(changes.conn, number, lock=True)
            if incident.is_open:
                raise InvalidIncidentChange(
                    f"incident #{number} is {incident.status}, not resolved"
                )
            kept = {
                str(s): at
                for s, at in incident.stages.items()
                if STAGE_ORDER.index(s) < STAGE_ORDER.index(Stage.RESOLVE)
            }
            back = max((Stage(s) for s in kept), key=STAGE_ORDER.index)
            now = self.clock.now()
            changes.conn.execute(
                incidents.update()
                .where(incidents.c.id == number)
                .values(
                    status=str(IncidentStatus.TRIGGERED),
                    resolved_at=None,
                    resolved_by=None,
                    stage=str(back),
                    stages=json.dumps(kept),
                    last_signal_at=now,
                )
            )
            audit = AuditEntry(
                actor, IncidentAction.REOPEN, AuditTarget.INCIDENT, str(number), reason=reason
            )
            return changes.record(
                number,
                TimelineKind.REOPENED,
                actor,
                "reopened" + because(reason),
                {},
                EventKind.INCIDENT_REOPENED,
                now,
                audit=audit,
            )

    def record_timeline(
        self,
        number: int,
        kind: TimelineKind,
        text: str,
        data: Mapping[str, Any] | None = None,
        *,
        actor: str = "daytwo",
    ) -> Incident:
        """Add a row to the timeline without an outbox event (the notifier's delivery
        records: an event would notify about the notification)."""
        with self._write() as changes:
            q.incident_row(changes.conn, number, lock=True)
            return changes.record(number, TimelineKind(kind), actor, text, data or {}, None,
                                  self.clock.now())  # fmt: skip

    # -- the one write path (``_changes.py``) ------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Changes]:
        """A write transaction, as the :class:`Changes` that go through the one write path."""
        with self.store.write() as conn:
            yield Changes(conn, self.subscribers)
