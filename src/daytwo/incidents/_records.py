"""What the incidents package reads back: an incident, one of its alerts, a timeline row."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from daytwo.incidents._vocabulary import (
    STAGE_ORDER,
    AlertState,
    IncidentStatus,
    Severity,
    Source,
    Stage,
    TimelineKind,
)

__all__ = ["Incident", "IncidentAlert", "TimelineEntry"]


@dataclass(frozen=True, slots=True)
class Incident:
    """One incident, as stored. ``stages`` maps each stage reached to when."""

    id: int
    title: str
    status: IncidentStatus
    severity: Severity
    stage: Stage
    source: Source
    kind: str
    dedup_key: str | None
    workflow: str | None
    dependency: str | None
    assignee: str | None
    ownership_version: int | None
    labels: dict[str, str]
    stages: dict[Stage, float]
    opened_at: float
    opened_by: str
    acknowledged_at: float | None
    acknowledged_by: str | None
    resolved_at: float | None
    resolved_by: str | None
    last_signal_at: float
    quiet_after: float | None
    impact: str | None = None
    urgency: str | None = None
    #: Alerts still firing (filled in by reads that join them).
    firing: int = 0

    @classmethod
    def from_row(cls, row: Mapping[Any, Any], firing: int = 0) -> Incident:
        """Build from an ``incidents`` row."""
        return cls(
            id=int(row["id"]),
            title=row["title"],
            status=IncidentStatus(row["status"]),
            severity=Severity(row["severity"]),
            stage=Stage(row["stage"]),
            source=Source(row["source"]),
            kind=row["kind"],
            dedup_key=row["dedup_key"],
            workflow=row["workflow"],
            dependency=row["dependency"],
            assignee=row["assignee"],
            ownership_version=row["ownership_version"],
            labels=json.loads(row["labels"]),
            stages={Stage(k): float(v) for k, v in json.loads(row["stages"]).items()},
            opened_at=row["opened_at"],
            opened_by=row["opened_by"],
            acknowledged_at=row["acknowledged_at"],
            acknowledged_by=row["acknowledged_by"],
            resolved_at=row["resolved_at"],
            resolved_by=row["resolved_by"],
            last_signal_at=row["last_signal_at"],
            quiet_after=row["quiet_after"],
            impact=row["impact"],
            urgency=row["urgency"],
            firing=firing,
        )

    @property
    def is_open(self) -> bool:
        return self.status is not IncidentStatus.RESOLVED

    @property
    def time_to_acknowledge(self) -> float | None:
        """Seconds from opening to the first acknowledgement (MTTA's sample)."""
        if self.acknowledged_at is None:
            return None
        return self.acknowledged_at - self.opened_at

    @property
    def time_to_resolve(self) -> float | None:
        """Seconds from opening to resolution (MTTR's sample)."""
        if self.resolved_at is None:
            return None
        return self.resolved_at - self.opened_at

    def time_in_stages(self, now: float) -> dict[Stage, float]:
        """Seconds spent in each stage reached: until the next stage reached, and the
        current one until the incident resolved (or ``now``)."""
        reached = [(stage, self.stages[stage]) for stage in STAGE_ORDER if stage in self.stages]
        spent: dict[Stage, float] = {}
        for (stage, at), following in zip(reached, [*reached[1:], None], strict=True):
            if following is not None:
                end = following[1]
            else:
                end = self.resolved_at if self.resolved_at is not None else now
                end = max(end, at)
            spent[stage] = end - at
        return spent

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (the outbox payload, the API's and the CLI's ``--json``)."""
        return {
            "id": self.id,
            "title": self.title,
            "status": str(self.status),
            "severity": str(self.severity),
            "stage": str(self.stage),
            "impact": self.impact,
            "urgency": self.urgency,
            "source": str(self.source),
            "kind": self.kind,
            "dedup_key": self.dedup_key,
            "workflow": self.workflow,
            "dependency": self.dependency,
            "assignee": self.assignee,
            "ownership_version": self.ownership_version,
            "labels": self.labels,
            "stages": {str(k): v for k, v in self.stages.items()},
            "opened_at": self.opened_at,
            "opened_by": self.opened_by,
            "acknowledged_at": self.acknowledged_at,
            "acknowledged_by": self.acknowledged_by,
            "resolved_at": self.resolved_at,
            "resolved_by": self.resolved_by,
            "last_signal_at": self.last_signal_at,
            "quiet_after": self.quiet_after,
            "firing": self.firing,
            "time_to_acknowledge": self.time_to_acknowledge,
            "time_to_resolve": self.time_to_resolve,
        }


@dataclass(frozen=True, slots=True)
class IncidentAlert:
    """One alert attached to an incident."""

    incident_id: int
    alert_key: str
    dedup_key: str
    source: Source
    state: AlertState
    summary: str
    labels: dict[str, str]
    first_at: float
    last_at: float
    count: int

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> IncidentAlert:
        return cls(
            incident_id=int(row["incident_id"]),
            alert_key=row["alert_key"],
            dedup_key=row["dedup_key"],
            source=Source(row["source"]),
            state=AlertState(row["state"]),
            summary=row["summary"],
            labels=json.loads(row["labels"]),
            first_at=row["first_at"],
            last_at=row["last_at"],
            count=int(row["count"]),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "alert_key": self.alert_key,
            "dedup_key": self.dedup_key,
            "source": str(self.source),
            "state": str(self.state),
            "summary": self.summary,
            "labels": self.labels,
            "first_at": self.first_at,
            "last_at": self.last_at,
            "count": self.count,
        }


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One row of an incident's timeline (``id`` 0 for audit rows merged in at read)."""

    id: int
    incident_id: int
    at: float
    kind: TimelineKind
    actor: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> TimelineEntry:
        return cls(
            id=int(row["id"]),
            incident_id=int(row["incident_id"]),
            at=row["at"],
            kind=TimelineKind(row["kind"]),
            actor=row["actor"],
            text=row["text"],
            data=json.loads(row["data"]),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "incident_id": self.incident_id,
            "at": self.at,
            "kind": str(self.kind),
            "actor": self.actor,
            "text": self.text,
            "data": self.data,
        }
