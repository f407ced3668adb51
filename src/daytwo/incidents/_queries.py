"""The incidents package's reads: one incident, lists, alerts, timelines (with the audit
rows of operator actions on what the incident affects merged in), affected instances."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from daytwo.incidents._errors import IncidentNotFound
from daytwo.incidents._records import Incident, IncidentAlert, TimelineEntry
from daytwo.incidents._tables import incident_alerts, incident_timeline, incidents
from daytwo.incidents._vocabulary import AlertState, IncidentStatus, Severity, TimelineKind
from daytwo.store import AuditTarget, audit_log, instances

__all__ = [
    "AFFECTED_LOOKBACK",
    "BAD_STATUSES",
    "IncidentFilter",
    "affected_instance_ids",
    "alerts_of",
    "firing_keys",
    "incident_row",
    "list_incidents",
    "open_incident_for",
    "timeline_of",
]

#: Instances that went wrong this long before an incident opened count as affected (the
#: alert fires after the failures that caused it).
AFFECTED_LOOKBACK = 3600.0
#: The statuses of an instance an incident is about.
BAD_STATUSES = (
    "NEEDS_ATTENTION",
    "FAILED",
    "COMPENSATED",
    "COMPENSATION_FAILED",
    "TERMINATED",
    "INCOMPATIBLE",
)


#: The largest incident number (a signed 64-bit integer column).
_LARGEST = 2**63 - 1


@dataclass(frozen=True, slots=True)
class IncidentFilter:
    """Which incidents to list, newest first (every field optional)."""

    statuses: Sequence[IncidentStatus] | None = None
    workflow: str | None = None
    dependency: str | None = None
    severity: Severity | None = None
    assignee: str | None = None
    since: float | None = None
    until: float | None = None
    #: Incidents numbered below this one (keyset paging).
    before_id: int | None = None
    limit: int = 100


def _firing_counts(conn: sa.Connection, ids: Sequence[int]) -> dict[int, int]:
    if not ids:
        return {}
    query = (
        sa.select(incident_alerts.c.incident_id, sa.func.count())
        .where(
            incident_alerts.c.incident_id.in_(list(ids)),
            incident_alerts.c.state == str(AlertState.FIRING),
        )
        .group_by(incident_alerts.c.incident_id)
    )
    return {int(i): int(n) for i, n in conn.execute(query)}


def incident_row(conn: sa.Connection, number: int, *, lock: bool = False) -> Incident:
    """Incident ``number`` (``lock``: FOR UPDATE on PostgreSQL, in a write)."""
    if not 1 <= number <= _LARGEST:  # a number no database column holds: no such incident
        raise IncidentNotFound(number)
    query = sa.select(incidents).where(incidents.c.id == number)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    if row is None:
        raise IncidentNotFound(number)
    return Incident.from_row(row, _firing_counts(conn, [number]).get(number, 0))


def open_incident_for(conn: sa.Connection, dedup_key: str) -> int | None:
    """The open incident grouping ``dedup_key``, if there is one."""
    query = (
        sa.select(incidents.c.id)
        .where(
            incidents.c.dedup_key == dedup_key, incidents.c.status != str(IncidentStatus.RESOLVED)
        )
        .order_by(incidents.c.id.desc())
        .limit(1)
    )
    found = conn.execute(query).scalar()
    return None if found is None else int(found)


def list_incidents(conn: sa.Connection, where: IncidentFilter) -> list[Incident]:
    query = sa.select(incidents).order_by(incidents.c.id.desc()).limit(where.limit)
    column = incidents.c
    if where.statuses:
        query = query.where(column.status.in_([str(s) for s in where.statuses]))
    for value, col in (
        (where.workflow, column.workflow),
        (where.dependency, column.dependency),
        (where.severity, column.severity),
        (where.assignee, column.assignee),
    ):
        if value is not None:
            query = query.where(col == str(value))
    if where.since is not None:
        query = query.where(column.opened_at >= where.since)
    if where.until is not None:
        query = query.where(column.opened_at < where.until)
    if where.before_id is not None:
        query = query.where(column.id < where.before_id)
    rows = list(conn.execute(query).mappings())
    firing = _firing_counts(conn, [int(r["id"]) for r in rows])
    return [Incident.from_row(row, firing.get(int(row["id"]), 0)) for row in rows]


def alerts_of(conn: sa.Connection, number: int) -> list[IncidentAlert]:
    query = (
        sa.select(incident_alerts)
        .where(incident_alerts.c.incident_id == number)
        .order_by(incident_alerts.c.first_at, incident_alerts.c.alert_key)
    )
    return [IncidentAlert.from_row(row) for row in conn.execute(query).mappings()]


def firing_keys(conn: sa.Connection, number: int) -> list[str]:
    return [a.alert_key for a in alerts_of(conn, number) if a.state is AlertState.FIRING]


def _named(datas: Iterable[Mapping[str, Any]]) -> list[str]:
    """The instances timeline rows name (``instance_id`` in their data), once each."""
    named: list[str] = []
    for data in datas:
        instance_id = data.get("instance_id")
        if isinstance(instance_id, str) and instance_id not in named:
            named.append(instance_id)
    return named


def affected_instance_ids(
    conn: sa.Connection,
    incident: Incident,
    now: float,
    limit: int = 1000,
    timeline: Sequence[TimelineEntry] | None = None,
) -> list[str]:
    """The instances an incident is about: those named by its alerts and rules, then the
    instances of its workflow that went wrong from a little before it opened until it
    resolved (or are still parked), newest first. ``timeline``: its own rows, when the
    caller has read them already."""
    if timeline is None:
        rows = conn.execute(
            sa.select(incident_timeline.c.data).where(
                incident_timeline.c.incident_id == incident.id
            )
        ).scalars()
        named = _named(json.loads(data) for data in rows)
    else:
        named = _named(entry.data for entry in timeline)
    found = list(named)
    if incident.workflow is not None:
        end = incident.resolved_at if incident.resolved_at is not None else now
        query = (
            sa.select(instances.c.id)
            .where(
                instances.c.workflow == incident.workflow,
                instances.c.status.in_(BAD_STATUSES),
                sa.or_(
                    instances.c.status == "NEEDS_ATTENTION",
                    instances.c.updated_at.between(incident.opened_at - AFFECTED_LOOKBACK, end),
                ),
            )
            .order_by(instances.c.updated_at.desc())
            .limit(limit)
        )
        found += [i for i in conn.execute(query).scalars() if i not in named]
    return found[:limit]


def timeline_of(conn: sa.Connection, incident: Incident, now: float) -> list[TimelineEntry]:
    """The incident's own rows, and the audit rows of operator actions on its workflow,
    its dependency or its affected instances while it was open, in time order."""
    own = [
        TimelineEntry.from_row(row)
        for row in conn.execute(
            sa.select(incident_timeline)
            .where(incident_timeline.c.incident_id == incident.id)
            .order_by(incident_timeline.c.id)
        ).mappings()
    ]
    end = incident.resolved_at if incident.resolved_at is not None else now
    targets = [
        sa.and_(
            audit_log.c.target_kind == str(AuditTarget.INSTANCE),
            audit_log.c.target.in_(affected_instance_ids(conn, incident, now, timeline=own)),
        )
    ]
    if incident.workflow is not None:
        targets.append(
            sa.and_(
                audit_log.c.target_kind == str(AuditTarget.WORKFLOW),
                audit_log.c.target == incident.workflow,
            )
        )
    if incident.dependency is not None:
        targets.append(
            sa.and_(
                audit_log.c.target_kind.in_(
                    [str(AuditTarget.DEPENDENCY), str(AuditTarget.BREAKER)]
                ),
                audit_log.c.target == incident.dependency,
            )
        )
    audits = conn.execute(
        sa.select(audit_log)
        .where(sa.or_(*targets), audit_log.c.at.between(incident.opened_at, end))
        .order_by(audit_log.c.id)
    ).mappings()
    merged = own + [
        TimelineEntry(
            id=0,
            incident_id=incident.id,
            at=row["at"],
            kind=TimelineKind.AUDIT,
            actor=row["actor"],
            text=f"{row['action']} {row['target']}"
            + (f": {row['reason']}" if row["reason"] else ""),
            data={
                "audit_id": row["id"],
                "action": row["action"],
                "target_kind": row["target_kind"],
                "target": row["target"],
                "outcome": row["outcome"],
            },
        )
        for row in audits
    ]
    return sorted(merged, key=lambda entry: (entry.at, entry.id == 0, entry.id))
