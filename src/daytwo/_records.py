"""Read-only views of stored rows, as returned by the app and shown by the CLI."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from daytwo.engine._serde import Serializer

__all__ = ["Attempt", "HistoryEvent", "HumanTask", "Instance", "TaskStatus", "Transition"]


class TaskStatus(StrEnum):
    """Where a human task is: waiting for someone, done, or closed with its instance."""

    OPEN = "open"
    COMPLETED = "completed"
    #: The instance ended (cancelled, failed, compensated, incompatible) while the task was
    #: open; ``closed_reason`` says how. It can no longer be completed.
    CLOSED = "closed"


def _time(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _value(text: str | None, serializer: Serializer | None) -> Any:
    """A user value (input, output, step arguments and results, payloads), stored by the
    app's serializer; engine records (errors, details) are always JSON."""
    if text is None:
        return None
    return json.loads(text) if serializer is None else serializer.loads(text)


#: History kinds whose result the engine itself records as JSON (``ctx.now()`` and co.).
ENGINE_VALUES = frozenset({"now", "uuid", "random"})


def _plain(record: Any) -> dict[str, Any]:
    """A JSON-ready dict of a record (datetimes as ISO 8601)."""
    out = {}
    for key, value in asdict(record).items():
        out[key] = value.isoformat() if isinstance(value, datetime) else value
    return out


@dataclass(frozen=True)
class Instance:
    """A workflow instance as stored."""

    id: str
    workflow: str
    version: str
    status: str
    state: str
    state_entered_at: datetime
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    input: Any
    output: Any
    error: dict[str, Any] | None
    wait_kind: str | None
    wait_name: str | None
    wake_at: datetime | None
    attempt: int
    lease_owner: str | None
    cancel_reason: str | None
    queue: str
    priority: int
    #: Why a due instance (runnable, a fired timer, an expired lease) is not being run: no
    #: live worker serves its queue or version, or a pause holds it. None otherwise, and
    #: when the instance was not explained (see :attr:`waiting_for`).
    held_by: str | None = None

    @classmethod
    def from_row(
        cls,
        row: Mapping[Any, Any],
        *,
        held_by: str | None = None,
        serializer: Serializer | None = None,
    ) -> Instance:
        """Build from an ``instances`` row (``held_by``: see the attribute); input and
        output decoded by ``serializer`` (default JSON)."""
        return cls(
            id=row["id"],
            workflow=row["workflow"],
            version=row["version"],
            status=row["status"],
            state=row["state"],
            state_entered_at=_time(row["state_entered_at"]),  # type: ignore[arg-type]
            created_at=_time(row["created_at"]),  # type: ignore[arg-type]
            updated_at=_time(row["updated_at"]),  # type: ignore[arg-type]
            finished_at=_time(row["finished_at"]),
            input=_value(row["input"], serializer),
            output=_value(row["output"], serializer),
            error=_json(row["error"]),
            wait_kind=row["wait_kind"] if row["status"] == "WAITING" else None,
            wait_name=row["wait_name"] if row["status"] == "WAITING" else None,
            wake_at=_time(row["wake_at"]) if row["status"] == "WAITING" else None,
            attempt=row["attempt"],
            lease_owner=row["lease_owner"],
            cancel_reason=row["cancel_reason"],
            queue=row["queue"],
            priority=row["priority"],
            held_by=held_by,
        )

    @property
    def waiting_for(self) -> str | None:
        """What the instance waits for, in words: the event or time of a waiting one, and
        for a due one that nothing runs, why (no worker serves it, a pause)."""
        if self.status == "RUNNING":
            return None if self.held_by is None else f"its lease expired; {self.held_by}"
        if self.status != "WAITING":
            return self.held_by
        until = f" until {self.wake_at.isoformat()}" if self.wake_at else ""
        waiting = {
            "timer": f"timer{until}",
            "signal": f"signal {self.wait_name!r}{until}",
            "task": f"human task {self.wait_name!r}",
            "retry": f"retry of {self.wait_name!r} (attempt {self.attempt + 1}){until}",
            "paused": f"paused step {self.wait_name!r} (daytwo resume {self.workflow} "
            f"--step {self.wait_name})",
            "throttled": f"a dependency slot for step {self.wait_name!r}{until}",
        }.get(self.wait_kind or "", self.wait_kind or "")
        return waiting if self.held_by is None else f"{waiting}; due, but {self.held_by}"

    @property
    def cancel_outcome(self) -> str | None:
        """What became of a cancel request, in words (None: no cancel was requested)."""
        if self.cancel_reason is None:
            return None
        if self.status == "CANCELLED":
            return "took effect: the instance compensated and ended CANCELLED"
        if self.error is not None and self.error.get("type") == "Cancelled":
            if self.finished_at is None:
                return "took effect: the instance is compensating"
            return f"took effect, but a compensation failed: the instance ended {self.status}"
        if self.finished_at is None:
            return "requested: takes effect at the instance's next durable point"
        return (
            f"superseded: the instance was already failing when it arrived, and ended {self.status}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            **_plain(self),
            "waiting_for": self.waiting_for,
            "cancel_outcome": self.cancel_outcome,
        }


@dataclass(frozen=True)
class HistoryEvent:
    """One durable operation of an instance."""

    seq: int
    kind: str
    name: str
    outcome: str
    args: Any
    result: Any
    error: dict[str, Any] | None
    attempt: int
    idempotency_key: str | None
    started_at: datetime
    finished_at: datetime
    detail: dict[str, Any] | None

    @classmethod
    def from_row(
        cls, row: Mapping[Any, Any], *, serializer: Serializer | None = None
    ) -> HistoryEvent:
        """Build from a ``history`` row; arguments and results decoded by ``serializer``
        (default JSON)."""
        values = None if row["kind"] in ENGINE_VALUES else serializer
        return cls(
            seq=row["seq"],
            kind=row["kind"],
            name=row["name"],
            outcome=row["outcome"],
            args=_value(row["args"], values),
            result=_value(row["result"], values),
            error=_json(row["error"]),
            attempt=row["attempt"],
            idempotency_key=row["idempotency_key"],
            started_at=_time(row["started_at"]),  # type: ignore[arg-type]
            finished_at=_time(row["finished_at"]),  # type: ignore[arg-type]
            detail=_json(row["detail"]),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return _plain(self)


@dataclass(frozen=True)
class Attempt:
    """A failed attempt of a step or compensation."""

    seq: int
    attempt: int
    name: str
    error: dict[str, Any]
    idempotency_key: str
    started_at: datetime
    finished_at: datetime
    retry_at: datetime | None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Attempt:
        """Build from a ``step_attempts`` row."""
        return cls(
            seq=row["seq"],
            attempt=row["attempt"],
            name=row["name"],
            error=json.loads(row["error"]),
            idempotency_key=row["idempotency_key"],
            started_at=_time(row["started_at"]),  # type: ignore[arg-type]
            finished_at=_time(row["finished_at"]),  # type: ignore[arg-type]
            retry_at=_time(row["retry_at"]),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return _plain(self)


@dataclass(frozen=True)
class Transition:
    """A change of an instance's state label."""

    from_state: str | None
    to_state: str
    status: str
    at: datetime

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Transition:
        """Build from a ``transitions`` row."""
        return cls(row["from_state"], row["to_state"], row["status"], _time(row["at"]))  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return _plain(self)


@dataclass(frozen=True)
class HumanTask:
    """A task in the human-task inbox."""

    id: str
    instance_id: str
    name: str
    assignee: str | None
    payload: Any
    status: TaskStatus
    result: Any
    due_at: datetime | None
    created_at: datetime
    completed_at: datetime | None
    completed_by: str | None
    #: Why a closed task was closed (its instance's end).
    closed_reason: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any], *, serializer: Serializer | None = None) -> HumanTask:
        """Build from a ``human_tasks`` row; payload and result decoded by ``serializer``
        (default JSON)."""
        return cls(
            id=row["id"],
            instance_id=row["instance_id"],
            name=row["name"],
            assignee=row["assignee"],
            payload=_value(row["payload"], serializer),
            status=TaskStatus(row["status"]),
            result=_value(row["result"], serializer),
            due_at=_time(row["due_at"]),
            created_at=_time(row["created_at"]),  # type: ignore[arg-type]
            completed_at=_time(row["completed_at"]),
            completed_by=row["completed_by"],
            closed_reason=row["closed_reason"],
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return _plain(self)
