"""Read-only views of stored rows, as returned by the app and shown by the CLI.

User values (an instance's input and output, a step's arguments and result, a task's
payload and result) are decoded with the app's serializer, which the caller passes as
``loads``: the records are what the user stored, whichever path reads them. What daytwo
itself writes (errors, details) is JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

# Imported for real (not only for type checking): the HTTP API builds its JSON schema and
# a remote client its records from these annotations.
from daytwo._family import RelatedInstance
from daytwo._links import Link
from daytwo._task_records import PlannedStep, planned_steps
from daytwo.store import (
    DEADLINE_REASON,
    HistoryKind,
    HistoryOutcome,
    InstanceStatus,
    TaskPlan,
    TaskStatus,
    WaitKind,
)

__all__ = ["Attempt", "HistoryEvent", "HumanTask", "Instance", "TaskStatus", "Transition"]

#: Decodes a stored user value: the ``loads`` of the app's serializer.
Loads = Callable[[str], Any]


def _time(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _value(loads: Loads, text: str | None) -> Any:
    return None if text is None else loads(text)


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
    status: InstanceStatus
    state: str
    state_entered_at: datetime
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    input: Any
    output: Any
    error: dict[str, Any] | None
    wait_kind: WaitKind | None
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
    #: Restarts and forks, both ways (``Link.describe()``): read by ``get()`` (one
    #: instance) only; None in listings.
    links: tuple[Link, ...] | None = None
    #: Child workflows: the instance that started this one, and those this one started
    #: (``RelatedInstance``, oldest first); read by ``get()`` only, None in listings.
    parent: RelatedInstance | None = None
    children: tuple[RelatedInstance, ...] | None = None
    #: When the instance fails for exceeding its timeout (``@app.workflow(timeout=...)``
    #: or its start's); None: no deadline (or an operator resumed it past its deadline).
    deadline_at: datetime | None = None

    @classmethod
    def from_row(
        cls, row: Mapping[Any, Any], *, loads: Loads, held_by: str | None = None
    ) -> Instance:
        """Build from an ``instances`` row, decoding input and output with ``loads`` (the
        app's serializer); ``held_by``: see the attribute."""
        status = InstanceStatus(row["status"])
        waiting = status is InstanceStatus.WAITING or status is InstanceStatus.NEEDS_ATTENTION
        return cls(
            id=row["id"],
            workflow=row["workflow"],
            version=row["version"],
            status=status,
            state=row["state"],
            state_entered_at=_time(row["state_entered_at"]),  # type: ignore[arg-type]
            created_at=_time(row["created_at"]),  # type: ignore[arg-type]
            updated_at=_time(row["updated_at"]),  # type: ignore[arg-type]
            finished_at=_time(row["finished_at"]),
            input=_value(loads, row["input"]),
            output=_value(loads, row["output"]),
            error=_json(row["error"]),
            wait_kind=WaitKind(row["wait_kind"]) if waiting and row["wait_kind"] else None,
            wait_name=row["wait_name"] if waiting else None,
            wake_at=_time(row["wake_at"]) if waiting else None,
            attempt=row["attempt"],
            lease_owner=row["lease_owner"],
            # The deadline service's mark is not an operator's cancel (store/_deadlines.py).
            cancel_reason=None if row["cancel_reason"] == DEADLINE_REASON else row["cancel_reason"],
            queue=row["queue"],
            priority=row["priority"],
            held_by=held_by,
            deadline_at=_time(row.get("deadline_at")),
        )

    @property
    def waiting_for(self) -> str | None:
        """What the instance waits for, in words: the event or time of a waiting one, and
        for a due one that nothing runs, why (no worker serves it, a pause)."""
        if self.status is InstanceStatus.RUNNING:
            return None if self.held_by is None else f"its lease expired; {self.held_by}"
        if self.status is InstanceStatus.NEEDS_ATTENTION and self.wait_kind is WaitKind.DEADLINE:
            return "an operator: its deadline passed (resume: go on without one; abort: compensate)"
        if self.status is InstanceStatus.NEEDS_ATTENTION:
            return f"an operator: {self.wait_name!r} parked after {self.attempt} attempt(s)"
        if self.status is not InstanceStatus.WAITING:
            return self.held_by
        until = f" until {self.wake_at.isoformat()}" if self.wake_at else ""
        kind = self.wait_kind
        waiting = (
            ""
            if kind is None
            else {
                WaitKind.TIMER: f"timer{until}",
                WaitKind.SIGNAL: f"signal {self.wait_name!r}{until}",
                WaitKind.TASK: f"human task {self.wait_name!r}",
                WaitKind.CHILD: f"the end of child instance {self.wait_name!r}",
                WaitKind.RETRY: f"retry of {self.wait_name!r} (attempt {self.attempt + 1}){until}",
                WaitKind.PAUSED: f"paused step {self.wait_name!r} (daytwo resume {self.workflow} "
                f"--step {self.wait_name})",
                WaitKind.THROTTLED: f"a dependency slot for step {self.wait_name!r}{until}",
                WaitKind.CIRCUIT: f"{self.state} before step {self.wait_name!r} (asks again"
                f"{until or ' when it closes'}; daytwo breaker show)",
            }.get(kind, kind)
        )
        return waiting if self.held_by is None else f"{waiting}; due, but {self.held_by}"

    @property
    def cancel_outcome(self) -> str | None:
        """What became of a cancel request, in words (None: no cancel was requested)."""
        if self.cancel_reason is None:
            return None
        if self.status is InstanceStatus.CANCELLED:
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
        """JSON-ready form (``links``, ``parent`` and ``children`` only when they were read)."""
        plain = _plain(self)
        del plain["links"]
        if self.children is None:
            del plain["parent"], plain["children"]
        if self.links is not None:
            plain["links"] = [link.to_dict() for link in self.links]
        return {**plain, "waiting_for": self.waiting_for, "cancel_outcome": self.cancel_outcome}


#: History rows whose result daytwo records itself, as JSON (see Context.now).
_RECORDED_VALUES = frozenset({HistoryKind.NOW, HistoryKind.UUID, HistoryKind.RANDOM})


@dataclass(frozen=True)
class HistoryEvent:
    """One durable operation of an instance."""

    seq: int
    kind: HistoryKind
    name: str
    outcome: HistoryOutcome
    args: Any
    result: Any
    error: dict[str, Any] | None
    attempt: int
    idempotency_key: str | None
    started_at: datetime
    finished_at: datetime
    detail: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any], *, loads: Loads) -> HistoryEvent:
        """Build from a ``history`` row, decoding arguments and result with ``loads`` (the
        app's serializer; a recorded ``now``/``uuid``/``random`` value is JSON)."""
        kind = HistoryKind(row["kind"])
        decode = loads if kind not in _RECORDED_VALUES else json.loads
        return cls(
            seq=row["seq"],
            kind=kind,
            name=row["name"],
            outcome=HistoryOutcome(row["outcome"]),
            args=_value(decode, row["args"]),
            result=_value(decode, row["result"]),
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
    status: InstanceStatus
    at: datetime

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Transition:
        """Build from a ``transitions`` row."""
        status = InstanceStatus(row["status"])
        return cls(row["from_state"], row["to_state"], status, _time(row["at"]))  # type: ignore[arg-type]

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
    #: Why a closed or cancelled task was closed (its instance's end, the cancel's reason).
    closed_reason: str | None = None
    #: When it times out if still open (``timeout=``).
    timeout_at: datetime | None = None
    #: When its next reminder or escalation is due (None: nothing left).
    next_action_at: datetime | None = None
    #: Its reminders and escalations in time order (see ``daytwo task show``).
    steps: tuple[PlannedStep, ...] = ()

    @property
    def next_step(self) -> PlannedStep | None:
        """The next reminder or escalation, if one is left."""
        return next((step for step in self.steps if not step.done), None)

    @classmethod
    def from_row(cls, row: Mapping[Any, Any], *, loads: Loads) -> HumanTask:
        """Build from a ``human_tasks`` row, decoding payload and result with ``loads`` (the
        app's serializer)."""
        plan = TaskPlan.loads(row.get("plan"))
        return cls(
            id=row["id"],
            instance_id=row["instance_id"],
            name=row["name"],
            assignee=row["assignee"],
            payload=_value(loads, row["payload"]),
            status=TaskStatus(row["status"]),
            result=_value(loads, row["result"]),
            due_at=_time(row["due_at"]),
            created_at=_time(row["created_at"]),  # type: ignore[arg-type]
            completed_at=_time(row["completed_at"]),
            completed_by=row["completed_by"],
            closed_reason=row["closed_reason"],
            timeout_at=_time(plan.timeout_at),
            next_action_at=_time(row.get("next_action_at")),
            steps=planned_steps(plan, row.get("next_step")),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        plain = _plain(replace(self, steps=()))
        plain["steps"] = [step.to_dict() for step in self.steps]
        return plain
