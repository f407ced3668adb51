"""The incidents service: every change to an incident, from Python, the CLI and HTTP.

Each change is one write transaction holding the incident's row update, a timeline row,
an audit row when a person acted, and an outbox event (appended last, see
``store/_outbox.py``), so the notifier and other packages see exactly the changes that
committed. :meth:`Incidents.ingest` is where every alert source ends up: it opens an
incident, appends to the open one with the trigger's dedup key, or resolves an alert
(and the incident with its last firing alert).
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from daytwo._errors import InvalidInput
from daytwo.engine import Clock
from daytwo.incidents import _queries as q
from daytwo.incidents._assessment import Assessor, DefaultAssessor
from daytwo.incidents._errors import IncidentStillFiring, InvalidIncidentChange
from daytwo.incidents._records import Incident, IncidentAlert, TimelineEntry
from daytwo.incidents._tables import incident_alerts, incident_timeline, incidents
from daytwo.incidents._triggers import Trigger
from daytwo.incidents._vocabulary import (
    STAGE_ORDER,
    AlertState,
    IncidentAction,
    IncidentStatus,
    Severity,
    Source,
    Stage,
    TimelineKind,
    TriggerAction,
)
from daytwo.store import (
    AuditEntry,
    AuditTarget,
    EventKind,
    Store,
    SubscriberStart,
    append_audit,
    append_event,
    ensure_subscriber,
    resolve_actor,
)

if TYPE_CHECKING:
    from daytwo.app import App

__all__ = ["Incidents", "IngestOutcome", "IngestResult"]

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
        with self.store.write() as conn:
            now = self.clock.now()
            at = trigger.at if trigger.at is not None else now
            if conn.dialect.name == "postgresql":
                key = sa.func.hashtext(trigger.dedup_key)
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_DEDUP_LOCK, key)))
            number = q.open_incident_for(conn, trigger.dedup_key)
            if number is None:
                if trigger.action is not TriggerAction.TRIGGER:
                    return IngestResult(IngestOutcome.IGNORED, None)
                return IngestResult(IngestOutcome.OPENED, self._open(conn, trigger, at, now))
            if trigger.action is TriggerAction.TRIGGER:
                self._alert_fired(conn, number, trigger, at)
                incident = self._record(
                    conn,
                    number,
                    TimelineKind.TRIGGERED,
                    str(trigger.source),
                    f"alert fired again: {trigger.summary}",
                    _alert_data(trigger),
                    EventKind.INCIDENT_TRIGGERED,
                    now,
                    last_signal=at,
                )
                return IngestResult(IngestOutcome.APPENDED, incident)
            if trigger.action is TriggerAction.ACKNOWLEDGE:
                incident = q.incident_row(conn, number, lock=True)
                if incident.status is IncidentStatus.ACKNOWLEDGED:
                    return IngestResult(IngestOutcome.IGNORED, incident)
                incident = self._acknowledged(conn, incident, str(trigger.source), None, now)
                return IngestResult(IngestOutcome.ACKNOWLEDGED, incident)
            return self._alert_resolved(conn, number, trigger, at, now)

    def _open(self, conn: sa.Connection, trigger: Trigger, at: float, now: float) -> Incident:
        assessment = self.assessor.assess(trigger)
        values = {
            "title": trigger.summary[:512],
            "status": str(IncidentStatus.TRIGGERED),
            "severity": str(assessment.severity),
            "stage": str(Stage.TRIAGE),
            "impact": _text(assessment.impact),
            "urgency": _text(assessment.urgency),
            "source": str(trigger.source),
            "kind": trigger.kind[:64],
            "dedup_key": trigger.dedup_key,
            "workflow": trigger.workflow,
            "dependency": trigger.dependency,
            "assignee": assessment.assignee,
            "ownership_version": assessment.ownership_version,
            "labels": json.dumps(dict(trigger.labels), sort_keys=True),
            "stages": json.dumps({str(Stage.TRIAGE): at}),
            "opened_at": at,
            "opened_by": str(trigger.source),
            "last_signal_at": at,
            "quiet_after": trigger.quiet_after,
        }
        number = int(conn.execute(incidents.insert().values(values)).inserted_primary_key[0])  # type: ignore[index]
        self._alert_fired(conn, number, trigger, at)
        text = f"opened {assessment.severity} from {trigger.source}: {trigger.summary}"
        data = _alert_data(trigger) | {
            "severity": str(assessment.severity),
            "impact": _text(assessment.impact),
            "urgency": _text(assessment.urgency),
            "assignee": assessment.assignee,
        }
        return self._record(
            conn,
            number,
            TimelineKind.OPENED,
            str(trigger.source),
            text,
            data,
            EventKind.INCIDENT_OPENED,
            now,
        )

    def _alert_fired(self, conn: sa.Connection, number: int, trigger: Trigger, at: float) -> None:
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
        self, conn: sa.Connection, number: int, trigger: Trigger, at: float, now: float
    ) -> IngestResult:
        # A resolve without an alert key is for the whole dedup key (PagerDuty, an SLO alert).
        keys = [trigger.alert_key] if trigger.alert_key else q.firing_keys(conn, number)
        conn.execute(
            incident_alerts.update()
            .where(incident_alerts.c.incident_id == number, incident_alerts.c.alert_key.in_(keys))
            .values(state=str(AlertState.RESOLVED), last_at=at)
        )
        incident = self._record(
            conn,
            number,
            TimelineKind.ALERT_RESOLVED,
            str(trigger.source),
            f"alert resolved: {trigger.summary}",
            _alert_data(trigger),
            None,
            now,
            last_signal=at,
        )
        if q.firing_keys(conn, number):
            return IngestResult(IngestOutcome.ALERT_RESOLVED, incident)
        incident = self._resolved(
            conn, incident, str(trigger.source), "every alert of it resolved", at, now
        )
        return IngestResult(IngestOutcome.RESOLVED, incident)

    def resolve_quiet(self) -> builtins.list[int]:
        """Resolve the open incidents whose quiet period passed without a signal (sources
        that never send a resolve); returns their numbers."""
        now = self.clock.now()
        due = (
            sa.select(incidents.c.id)
            .where(
                incidents.c.status != str(IncidentStatus.RESOLVED),
                incidents.c.quiet_after.is_not(None),
                incidents.c.last_signal_at + incidents.c.quiet_after <= now,
            )
            .order_by(incidents.c.id)
        )
        with self.store.read() as conn:
            numbers = [int(n) for n in conn.execute(due).scalars()]
        done = []
        for number in numbers:
            with self.store.write() as conn:
                incident = q.incident_row(conn, number, lock=True)
                if not incident.is_open or incident.quiet_after is None:
                    continue
                if incident.last_signal_at + incident.quiet_after > now:
                    continue  # a signal arrived meanwhile
                why = f"no signal for {incident.quiet_after:g} s (quiet period)"
                self._resolved(conn, incident, "daytwo", why, now, now)
                done.append(number)
        return done

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
        title = _required(title, "the incident's title")
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
        assessment = self.assessor.assess(trigger)
        with self.store.write() as conn:
            now = self.clock.now()
            values = {
                "title": title[:512],
                "status": str(IncidentStatus.TRIGGERED),
                "severity": str(severity or assessment.severity),
                "stage": str(Stage.TRIAGE),
                "impact": _text(assessment.impact),
                "urgency": _text(assessment.urgency),
                "source": str(Source.MANUAL),
                "kind": "manual",
                "dedup_key": None,
                "workflow": workflow,
                "dependency": dependency,
                "assignee": assignee or assessment.assignee,
                "ownership_version": assessment.ownership_version,
                "labels": json.dumps(dict(labels or {}), sort_keys=True),
                "stages": json.dumps({str(Stage.TRIAGE): now}),
                "opened_at": now,
                "opened_by": actor,
                "last_signal_at": now,
                "quiet_after": None,
            }
            number = int(conn.execute(incidents.insert().values(values)).inserted_primary_key[0])  # type: ignore[index]
            audit = AuditEntry(
                actor,
                IncidentAction.OPEN,
                AuditTarget.INCIDENT,
                str(number),
                params={"title": title, "severity": values["severity"]},
            )
            return self._record(
                conn,
                number,
                TimelineKind.OPENED,
                actor,
                f"opened by hand: {title}",
                {"severity": values["severity"]},
                EventKind.INCIDENT_OPENED,
                now,
                audit=audit,
            )

    def acknowledge(self, number: int, *, by: str | None = None) -> Incident:
        """Someone is on it: stops the paging (MTTA counts to the first acknowledgement)."""
        actor = resolve_actor(by)
        with self.store.write() as conn:
            incident = q.incident_row(conn, number, lock=True)
            if incident.status is not IncidentStatus.TRIGGERED:
                raise InvalidIncidentChange(
                    f"incident #{number} is {incident.status}, not triggered: only a triggered "
                    "incident can be acknowledged"
                )
            audit = AuditEntry(actor, IncidentAction.ACKNOWLEDGE, AuditTarget.INCIDENT, str(number))
            return self._acknowledged(conn, incident, actor, audit, self.clock.now())

    def _acknowledged(
        self,
        conn: sa.Connection,
        incident: Incident,
        actor: str,
        audit: AuditEntry | None,
        now: float,
    ) -> Incident:
        first = {"acknowledged_at": now} if incident.acknowledged_at is None else {}
        conn.execute(
            incidents.update()
            .where(incidents.c.id == incident.id)
            .values(status=str(IncidentStatus.ACKNOWLEDGED), acknowledged_by=actor, **first)
        )
        return self._record(
            conn,
            incident.id,
            TimelineKind.ACKNOWLEDGED,
            actor,
            "acknowledged",
            {},
            EventKind.INCIDENT_ACKNOWLEDGED,
            now,
            audit=audit,
        )

    def reassign(
        self, number: int, to: str, *, reason: str | None = None, by: str | None = None
    ) -> Incident:
        """Hand the incident to ``to`` (a person or team)."""
        to = _required(to, "the new assignee")
        actor = resolve_actor(by)
        with self.store.write() as conn:
            incident = self._open_incident(conn, number, "reassigned")
            conn.execute(incidents.update().where(incidents.c.id == number).values(assignee=to))
            audit = AuditEntry(
                actor,
                IncidentAction.REASSIGN,
                AuditTarget.INCIDENT,
                str(number),
                reason=reason,
                params={"from": incident.assignee, "to": to},
            )
            text = f"reassigned from {incident.assignee or 'nobody'} to {to}" + _because(reason)
            return self._record(
                conn,
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
        text = _required(text, "the note")
        actor = resolve_actor(by)
        with self.store.write() as conn:
            q.incident_row(conn, number, lock=True)
            audit = AuditEntry(
                actor, IncidentAction.NOTE, AuditTarget.INCIDENT, str(number), reason=text[:500]
            )
            return self._record(
                conn,
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
        reason = _required(reason, "the reason for the new severity (--reason)")
        severity = Severity(severity)
        actor = resolve_actor(by)
        with self.store.write() as conn:
            incident = self._open_incident(conn, number, "given a new severity")
            if incident.severity is severity:
                raise InvalidIncidentChange(f"incident #{number} is already {severity}")
            conn.execute(
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
            text = f"severity {incident.severity} -> {severity}" + _because(reason)
            return self._record(
                conn,
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
        with self.store.write() as conn:
            incident = q.incident_row(conn, number, lock=True)
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
            self._stamp(conn, incident, stage, now)
            audit = AuditEntry(
                actor,
                IncidentAction.STAGE,
                AuditTarget.INCIDENT,
                str(number),
                reason=note,
                params={"stage": str(stage)},
            )
            return self._record(
                conn,
                number,
                TimelineKind.STAGE,
                actor,
                f"stage {incident.stage} -> {stage}" + _because(note),
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
        with self.store.write() as conn:
            incident = self._open_incident(conn, number, "resolved")
            firing = q.firing_keys(conn, number)
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
            return self._resolved(conn, incident, actor, reason, now, now, audit=audit)

    def _resolved(
        self,
        conn: sa.Connection,
        incident: Incident,
        actor: str,
        reason: str | None,
        at: float,
        now: float,
        *,
        audit: AuditEntry | None = None,
    ) -> Incident:
        if STAGE_ORDER.index(incident.stage) < STAGE_ORDER.index(Stage.RESOLVE):
            self._stamp(conn, incident, Stage.RESOLVE, at)
        conn.execute(
            incidents.update()
            .where(incidents.c.id == incident.id)
            .values(status=str(IncidentStatus.RESOLVED), resolved_at=at, resolved_by=actor)
        )
        return self._record(
            conn,
            incident.id,
            TimelineKind.RESOLVED,
            actor,
            "resolved" + _because(reason),
            {},
            EventKind.INCIDENT_RESOLVED,
            now,
            audit=audit,
        )

    def reopen(self, number: int, *, reason: str | None = None, by: str | None = None) -> Incident:
        """Reopen a resolved incident: it is triggered again, back before the resolve stage."""
        actor = resolve_actor(by)
        with self.store.write() as conn:
            incident = q.incident_row(conn, number, lock=True)
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
            conn.execute(
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
            return self._record(
                conn,
                number,
                TimelineKind.REOPENED,
                actor,
                "reopened" + _because(reason),
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
        with self.store.write() as conn:
            q.incident_row(conn, number, lock=True)
            return self._record(conn, number, TimelineKind(kind), actor, text, data or {}, None,
                                self.clock.now())  # fmt: skip

    # -- the one write path ---------------------------------------------------------------

    def _open_incident(self, conn: sa.Connection, number: int, what: str) -> Incident:
        incident = q.incident_row(conn, number, lock=True)
        if not incident.is_open:
            raise InvalidIncidentChange(
                f"incident #{number} is resolved and cannot be {what}; reopen it first"
            )
        return incident

    def _stamp(self, conn: sa.Connection, incident: Incident, stage: Stage, at: float) -> None:
        stages = {str(s): t for s, t in incident.stages.items()} | {str(stage): at}
        conn.execute(
            incidents.update()
            .where(incidents.c.id == incident.id)
            .values(stage=str(stage), stages=json.dumps(stages))
        )

    def _record(
        self,
        conn: sa.Connection,
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


def _alert_data(trigger: Trigger) -> dict[str, Any]:
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


def _text(value: StrEnum | None) -> str | None:
    return None if value is None else str(value)


def _because(reason: str | None) -> str:
    return f": {reason}" if reason else ""


def _required(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what} must not be empty")
    return value.strip()
