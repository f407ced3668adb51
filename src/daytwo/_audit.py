"""Who acts, and the audit log as a Client reads it.

Every operator action takes ``reason=`` and ``by=``; ``resolve_actor`` (the store's, so
that the store's own actions use it too) decides who
``by`` is when it is not given: ``$DAYTWO_ACTOR`` (set by a service account, a runbook
runner, the HTTP API for its token's owner), else the OS user running the process. The
actions write their rows through the store (``daytwo.store.append_audit``, in the
action's own transaction); :class:`AuditTrail` is the reading side, ``client.audit``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from daytwo.store import (
    AuditEntry,
    AuditFilter,
    AuditOutcome,
    AuditRow,
    AuditTarget,
    OperatorAction,
    Store,
    recording_refusals,
    resolve_actor,
)

__all__ = [
    "AuditEntry",
    "AuditOutcome",
    "AuditRecord",
    "AuditTarget",
    "AuditTrail",
    "OperatorAction",
    "resolve_actor",
]


@dataclass(frozen=True)
class AuditRecord:
    """One row of the audit log."""

    id: int
    at: datetime
    actor: str
    action: str
    target_kind: AuditTarget
    target: str
    reason: str | None
    params: dict[str, Any] | None
    selection: dict[str, Any] | None
    count: int | None
    outcome: AuditOutcome
    detail: str | None

    @classmethod
    def from_row(cls, row: AuditRow) -> AuditRecord:
        """The record of a stored row."""
        return cls(
            id=row["id"],
            at=datetime.fromtimestamp(row["at"], UTC),
            actor=row["actor"],
            action=row["action"],
            target_kind=AuditTarget(row["target_kind"]),
            target=row["target"],
            reason=row["reason"],
            params=None if row["params"] is None else json.loads(row["params"]),
            selection=None if row["selection"] is None else json.loads(row["selection"]),
            count=row["count"],
            outcome=AuditOutcome(row["outcome"]),
            detail=row["detail"],
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the time as ISO 8601)."""
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "target_kind": str(self.target_kind),
            "target": self.target,
            "reason": self.reason,
            "params": self.params,
            "selection": self.selection,
            "count": self.count,
            "outcome": str(self.outcome),
            "detail": self.detail,
        }


class AuditTrail:
    """The audit log of one database (``client.audit``): reading it, recording refusals."""

    def __init__(self, store: Callable[[], Store], now: Callable[[], float]) -> None:
        self._store = store
        self._now = now

    def list(
        self,
        *,
        action: str | None = None,
        actor: str | None = None,
        target_kind: AuditTarget | str | None = None,
        target: str | None = None,
        outcome: AuditOutcome | str | None = None,
        since: datetime | float | None = None,
        until: datetime | float | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[AuditRecord]:
        """Audit records, newest first. ``action`` "instance" matches every
        ``instance.*`` action; ``before_id`` pages back from a record's id."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        where = AuditFilter(
            action=action,
            actor=actor,
            target_kind=None if target_kind is None else str(AuditTarget(target_kind)),
            target=target,
            outcome=None if outcome is None else str(AuditOutcome(outcome)),
            since=_seconds(since),
            until=_seconds(until),
            before_id=before_id,
            limit=limit,
        )
        return [AuditRecord.from_row(row) for row in self._store().audit_rows(where)]

    @contextmanager
    def refusals(self, entry: AuditEntry) -> Iterator[None]:
        """Record ``entry`` as refused if the action inside raises an expected refusal
        (:class:`NotRunnable`, a missing instance or task, bad input), then re-raise."""
        with recording_refusals(self._store().record_audit, entry, self._now):
            yield


def _seconds(value: datetime | float | None) -> float | None:
    if value is None or isinstance(value, float | int):
        return value
    return value.timestamp()
