"""A bulk job's instances: the row that says an instance was acted on, and when.

A bulk job acts on each of its instances through the same per-instance action an
operator calls (cancel, retry, restart, ...). Each such action appends its audit entry
inside the transaction that carries it out (:func:`~daytwo.store.append_audit`). While a
bulk job acts on an instance (:func:`acting_for`, around the call), that append marks the
job's ``bulk_items`` row instead of adding an audit row of its own: the mark commits or
rolls back with the action. A mark that finds the row no longer pending raises
:class:`AlreadyActed`, which rolls the action back: a batch run again after a crash, or
by a second worker that took over the lease of a first one still running, acts on no
instance twice. No action needs to know about bulk jobs for this to hold.

The job itself has one audit row (the query, the count, the outcome); the per-instance
outcomes are these rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa

from daytwo.store._operator_schema import bulk_items

__all__ = ["AlreadyActed", "BulkItem", "BulkOutcome", "acting_for", "current_item", "mark_item"]


class BulkOutcome(StrEnum):
    """What a bulk job did to one instance (``bulk_items.outcome``)."""

    PENDING = "pending"
    DONE = "done"
    #: The action refused the instance in the state it was in (it changed meanwhile).
    REFUSED = "refused"
    #: The action raised something else (a bug, a database error): see ``detail``.
    FAILED = "failed"


class AlreadyActed(Exception):
    """This job already acted on this instance: the action is rolled back."""

    def __init__(self, job_id: str, instance_id: str) -> None:
        super().__init__(f"bulk job {job_id!r} already acted on instance {instance_id!r}")
        self.job_id = job_id
        self.instance_id = instance_id


@dataclass(slots=True)
class BulkItem:
    """The instance a bulk job is acting on right now, in this thread."""

    job_id: str
    instance_id: str
    #: Whether the action marked the item (in its transaction, which may still fail).
    marked: bool = False


_acting: ContextVar[BulkItem | None] = ContextVar("daytwo_bulk_item", default=None)


@contextmanager
def acting_for(job_id: str, instance_id: str) -> Iterator[BulkItem]:
    """Within the block, the action on ``instance_id`` is job ``job_id``'s."""
    item = BulkItem(job_id, instance_id)
    token = _acting.set(item)
    try:
        yield item
    finally:
        _acting.reset(token)


def current_item(instance_id: str) -> BulkItem | None:
    """The bulk item an audit entry for ``instance_id`` stands for, if any."""
    item = _acting.get()
    return item if item is not None and item.instance_id == instance_id else None


def mark_item(
    conn: sa.Connection, item: BulkItem, outcome: BulkOutcome, detail: str | None, now: float
) -> None:
    """Record ``outcome`` for ``item`` in ``conn``'s transaction; :class:`AlreadyActed` if
    it is not pending any more."""
    column = bulk_items.c
    result = conn.execute(
        bulk_items.update()
        .where(
            column.job_id == item.job_id,
            column.instance_id == item.instance_id,
            column.outcome == BulkOutcome.PENDING,
        )
        .values(outcome=outcome, detail=detail, acted_at=now)
    )
    if result.rowcount == 0:
        raise AlreadyActed(item.job_id, item.instance_id)
    item.marked = True
