"""The rows :class:`~daytwo.store.Store` hands to other packages, as typed dicts.

One per table that leaves the store (the app, the CLI, the coming Client and operations
packages read them): the column names and their Python types, so a misspelt key is a type
error instead of a ``KeyError`` at run time. The values are as stored: the vocabulary
columns hold the text of a member of :mod:`daytwo.store._vocabulary` (compare them with
the members), the user values are serializer text, daytwo's own JSON (errors, details) is
JSON text, times are epoch seconds.

The engine's hot path (claims, durable writes) keeps its plain dicts and RowMappings.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NotRequired, TypedDict, TypeVar, cast

from sqlalchemy.engine import RowMapping

__all__ = [
    "AttemptRow",
    "HistoryRow",
    "HumanTaskRow",
    "InstanceRow",
    "SignalRow",
    "TaskEventRow",
    "TransitionRow",
    "typed_row",
    "typed_rows",
]


class InstanceRow(TypedDict):
    """An ``instances`` row."""

    id: str
    workflow: str
    version: str
    #: An :class:`~daytwo.store.InstanceStatus`.
    status: str
    state: str
    state_entered_at: float
    #: Serializer text.
    input: str
    output: str | None
    #: JSON text: ``type``, ``message`` (and ``compensation_error``).
    error: str | None
    cancel_reason: str | None
    queue: str
    priority: int
    run_at: float | None
    wake_at: float | None
    #: A :class:`~daytwo.store.WaitKind`.
    wait_kind: str | None
    wait_name: str | None
    wait_seq: int | None
    attempt: int
    lease_owner: str | None
    lease_token: int
    history_size: int
    transition_count: int
    created_at: float
    updated_at: float
    finished_at: float | None
    #: A child workflow's parent and its :class:`~daytwo.store.ParentClose` (stored rows;
    #: a row built for a start that is not a child's leaves them out).
    parent_id: NotRequired[str | None]
    parent_close: NotRequired[str | None]
    deadline_at: float | None


class HistoryRow(TypedDict):
    """A ``history`` row: one durable operation."""

    instance_id: str
    seq: int
    #: A :class:`~daytwo.store.HistoryKind`.
    kind: str
    name: str
    #: A :class:`~daytwo.store.HistoryOutcome`.
    outcome: str
    args: str | None
    result: str | None
    error: str | None
    attempt: int
    idempotency_key: str | None
    started_at: float
    finished_at: float
    detail: str | None


class AttemptRow(TypedDict):
    """A ``step_attempts`` row: a failed or lost attempt."""

    instance_id: str
    seq: int
    attempt: int
    name: str
    error: str
    idempotency_key: str
    started_at: float
    finished_at: float
    retry_at: float | None


class TransitionRow(TypedDict):
    """A ``transitions`` row: a change of state label."""

    instance_id: str
    seq: int
    from_state: str | None
    to_state: str
    #: An :class:`~daytwo.store.InstanceStatus`.
    status: str
    at: float


class HumanTaskRow(TypedDict):
    """A ``human_tasks`` row."""

    id: str
    instance_id: str
    seq: int
    name: str
    assignee: str | None
    payload: str
    #: A :class:`~daytwo.store.TaskStatus`.
    status: str
    result: str | None
    due_at: float | None
    created_at: float
    completed_at: float | None
    completed_by: str | None
    closed_reason: str | None
    #: JSON of its :class:`~daytwo.store.TaskPlan` (reminders, escalations, timeout).
    plan: str | None
    next_step: int | None
    next_action_at: float | None


class TaskEventRow(TypedDict):
    """A ``task_events`` row: one thing that happened to a human task."""

    id: int
    task_id: str
    at: float
    #: A :class:`~daytwo.store.TaskEventKind`.
    kind: str
    actor: str | None
    from_assignee: str | None
    to_assignee: str | None
    detail: str | None


class SignalRow(TypedDict):
    """An unconsumed signal as a wait takes it (see ``Store.pending_signal``)."""

    id: int
    payload: str
    sent_by: str | None


_Row = TypeVar("_Row")


def typed_row(row: RowMapping | None, row_type: type[_Row]) -> _Row | None:
    """``row`` as a plain dict of ``row_type`` (None stays None).

    A dict, not the RowMapping: the row outlives its connection and its reader may keep or
    change it; the copy costs about a microsecond, off the hot path.
    """
    return None if row is None else cast(_Row, dict(row))


def typed_rows(rows: Iterable[RowMapping], row_type: type[_Row]) -> list[_Row]:
    """Each of ``rows`` as a plain dict of ``row_type``."""
    return [cast(_Row, dict(row)) for row in rows]
