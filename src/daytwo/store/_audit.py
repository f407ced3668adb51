"""The audit log's rows: what an operator action writes and how the log is read.

Every operator action (single or bulk), pause, limit change, breaker override and task
action appends one row with :func:`append_audit` inside the transaction that carries it
out: the row commits or rolls back with the action, so the log can be trusted both ways.
A refused action is recorded too (:meth:`Store.record_audit`, a transaction of its own),
since "someone tried to skip a payment step" is what an auditor asks about.

The vocabularies are the store's words: :class:`OperatorAction` for the engine's actions
(an operations package declares its own enum for its actions, stored in the same column),
:class:`AuditTarget` and :class:`AuditOutcome`.
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, TypedDict

import sqlalchemy as sa

from daytwo._errors import (
    InstanceNotFound,
    InvalidInput,
    NotRunnable,
    ScheduleNotFound,
    TaskNotFound,
)
from daytwo.store._bulk_items import BulkOutcome, current_item, mark_item
from daytwo.store._operator_schema import audit_log

__all__ = [
    "ACTOR_ENV",
    "AuditEntry",
    "AuditFilter",
    "AuditOutcome",
    "AuditRow",
    "AuditTarget",
    "OperatorAction",
    "append_audit",
    "audit_query",
    "recording_refusals",
    "resolve_actor",
]

#: The environment variable naming who acts when ``by=`` is not given.
ACTOR_ENV = "DAYTWO_ACTOR"


def resolve_actor(by: str | None = None) -> str:
    """Who is acting: ``by``, else ``$DAYTWO_ACTOR``, else the OS user, else "unknown"."""
    if by:
        return by
    from_env = os.environ.get(ACTOR_ENV)
    if from_env:
        return from_env
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no $USER and a uid without a passwd entry (containers)
        return "unknown"


class OperatorAction(StrEnum):
    """The engine's operator actions, as the audit log names them."""

    CANCEL = "instance.cancel"
    RETRY = "instance.retry"
    SKIP = "instance.skip"
    RESUME = "instance.resume"
    ABORT = "instance.abort"
    TERMINATE = "instance.terminate"
    RESTART = "instance.restart"
    FORK = "instance.fork"
    WAKE = "instance.wake"
    SIGNAL = "instance.signal"
    TASK_COMPLETE = "task.complete"
    TASK_REASSIGN = "task.reassign"
    TASK_CANCEL = "task.cancel"
    PAUSE = "workflow.pause"
    UNPAUSE = "workflow.resume"
    QUEUE_SET = "queue.set"
    DEPENDENCY_SET = "dependency.set"
    BREAKER_OPEN = "breaker.open"
    BREAKER_CLOSE = "breaker.close"
    BREAKER_RESET = "breaker.reset"
    BREAKER_SET = "breaker.set"
    SCHEDULE_PAUSE = "schedule.pause"
    SCHEDULE_RESUME = "schedule.resume"
    SCHEDULE_TRIGGER = "schedule.trigger"
    BULK = "bulk"
    PURGE = "purge"


class AuditTarget(StrEnum):
    """What an action was done to (``audit_log.target_kind``)."""

    INSTANCE = "instance"
    #: The instances a query selected (a bulk action): ``selection`` holds the query.
    SELECTION = "selection"
    TASK = "task"
    WORKFLOW = "workflow"
    QUEUE = "queue"
    DEPENDENCY = "dependency"
    BREAKER = "breaker"
    SCHEDULE = "schedule"
    #: An HTTP API token (created, revoked).
    TOKEN = "token"
    #: An HTTP request the API refused before any action ran (401, 403): ``target`` is
    #: the method and path.
    REQUEST = "request"
    #: An incident (``daytwo.incidents``): ``target`` is its number.
    INCIDENT = "incident"
    #: The ownership registry (``ownership.yaml`` applied): ``target`` is its version.
    OWNERSHIP = "ownership"


class AuditOutcome(StrEnum):
    """How an action ended (``audit_log.outcome``)."""

    DONE = "done"
    #: Not allowed in the target's state (or the target does not exist): nothing changed.
    REFUSED = "refused"
    #: It started and did not finish (a bulk action's batch that raised).
    FAILED = "failed"
    #: A bulk action still going on (its row is updated as batches finish).
    RUNNING = "running"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One action, as the log records it."""

    actor: str
    action: str
    target_kind: AuditTarget
    target: str
    reason: str | None = None
    params: Mapping[str, Any] | None = None
    selection: Mapping[str, Any] | None = None
    count: int | None = None
    outcome: AuditOutcome = AuditOutcome.DONE
    detail: str | None = None


class AuditRow(TypedDict):
    """An ``audit_log`` row (JSON columns as text)."""

    id: int
    at: float
    actor: str
    action: str
    target_kind: str
    target: str
    reason: str | None
    params: str | None
    selection: str | None
    count: int | None
    outcome: str
    detail: str | None


def append_audit(conn: sa.Connection, entry: AuditEntry, now: float) -> int:
    """Append ``entry`` inside ``conn``'s open transaction; returns the row's id.

    An action a bulk job takes on an instance (``_bulk_items.acting_for``) marks the job's
    row for that instance instead (returns 0): the job has the one audit row.
    """
    item = current_item(entry.target) if entry.target_kind == AuditTarget.INSTANCE else None
    if item is not None:
        mark_item(conn, item, _ITEM_OUTCOMES[entry.outcome], entry.detail, now)
        return 0
    result = conn.execute(
        audit_log.insert().values(
            at=now,
            actor=entry.actor,
            action=str(entry.action),
            target_kind=str(entry.target_kind),
            target=entry.target,
            reason=entry.reason,
            params=None if entry.params is None else json.dumps(dict(entry.params)),
            selection=None if entry.selection is None else json.dumps(dict(entry.selection)),
            count=entry.count,
            outcome=str(entry.outcome),
            detail=entry.detail,
        )
    )
    primary_key = result.inserted_primary_key
    assert primary_key is not None
    return int(primary_key[0])


_ITEM_OUTCOMES = {
    AuditOutcome.DONE: BulkOutcome.DONE,
    AuditOutcome.REFUSED: BulkOutcome.REFUSED,
    AuditOutcome.FAILED: BulkOutcome.FAILED,
    AuditOutcome.RUNNING: BulkOutcome.DONE,
}


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which audit rows to read, newest first (every field optional)."""

    action: str | None = None
    actor: str | None = None
    target_kind: str | None = None
    target: str | None = None
    outcome: str | None = None
    since: float | None = None
    until: float | None = None
    #: Rows older than this id (keyset paging: the last id of the previous page).
    before_id: int | None = None
    limit: int = 100


def audit_query(where: AuditFilter) -> sa.Select[Any]:
    """The SELECT of the rows ``where`` asks for, newest first."""
    query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(where.limit)
    column = audit_log.c
    if where.action is not None:
        # "instance" selects every instance.* action; "instance.retry" just that one.
        query = query.where(
            sa.or_(column.action == where.action, column.action.startswith(f"{where.action}."))
        )
    for value, col in (
        (where.actor, column.actor),
        (where.target_kind, column.target_kind),
        (where.target, column.target),
        (where.outcome, column.outcome),
    ):
        if value is not None:
            query = query.where(col == value)
    if where.since is not None:
        query = query.where(column.at >= where.since)
    if where.until is not None:
        query = query.where(column.at < where.until)
    if where.before_id is not None:
        query = query.where(column.id < where.before_id)
    return query


#: What :func:`recording_refusals` records as a refusal: the target's state does not allow
#: the action, the target does not exist, or the request itself is wrong.
REFUSALS = (NotRunnable, InstanceNotFound, TaskNotFound, ScheduleNotFound, InvalidInput)


@contextmanager
def recording_refusals(
    record: Callable[[AuditEntry, float], object], entry: AuditEntry, now: Callable[[], float]
) -> Iterator[None]:
    """Record ``entry`` as refused (with the refusal as its detail) when the action inside
    raises one of :data:`REFUSALS`, then re-raise. ``record`` is
    :meth:`Store.record_audit`: a transaction of its own, after the action's rolled back."""
    try:
        yield
    except REFUSALS as refusal:
        record(replace(entry, outcome=AuditOutcome.REFUSED, detail=str(refusal)), now())
        raise
