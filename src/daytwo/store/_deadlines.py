"""Deadlines of whole instances: finding the due ones, and meeting one.

An instance started with a timeout carries ``deadline_at``, indexed over live instances
only (``ix_instances_deadline``). Meeting a deadline reuses the cancel path: the deadline
service (``daytwo.worker.InstanceDeadlines``) sets ``cancel_reason`` to
:data:`DEADLINE_REASON`, a reason no operator gives, and makes a waiting instance runnable;
a running one sees it at its next durable point, as it sees a cancel. The run (not this
module) then fails the instance ``DeadlineExceeded`` or parks it (``engine/_deadline.py``).
Setting the reason is a compare-and-set under the instance's row lock (no cancel pending,
no failure being compensated, still active), so a deadline is met once, however many
workers try, and the ``instance.deadline_exceeded`` outbox event commits with it.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from daytwo.store._base import StoreBase
from daytwo.store._inbox import locked_instance
from daytwo.store._outbox import EventKind, append_event
from daytwo.store._schema import DEADLINED, instances
from daytwo.store._vocabulary import InstanceStatus

__all__ = ["DEADLINE_REASON", "DEADLINE_STATUSES", "InstanceDeadlines"]

#: The ``cancel_reason`` of an instance whose deadline passed (the run tells it from an
#: operator's cancel by this text).
DEADLINE_REASON = "daytwo:deadline-exceeded"

#: The statuses in which a deadline takes effect: an instance parked for an operator
#: (NEEDS_ATTENTION) waits for a person already, and one that ended has nothing to stop.
DEADLINE_STATUSES = (InstanceStatus.RUNNABLE, InstanceStatus.RUNNING, InstanceStatus.WAITING)


class InstanceDeadlines:
    """The store side of instance deadlines; see the module docstring."""

    def __init__(self, store: StoreBase) -> None:
        self.store = store

    def due(self, now: float, limit: int = 100) -> list[str]:
        """Ids of live instances whose deadline has passed and is not met yet, soonest
        first (through the partial index: its literal condition, then the rest)."""
        query = (
            sa.select(instances.c.id)
            .where(
                sa.text(DEADLINED),
                instances.c.deadline_at <= now,
                instances.c.cancel_reason.is_(None),
                instances.c.error.is_(None),
                instances.c.status.in_([str(status) for status in DEADLINE_STATUSES]),
            )
            .order_by(instances.c.deadline_at)
            .limit(limit)
        )
        with self.store.read() as conn:
            return [row[0] for row in conn.execute(query)]

    def meet(self, instance_id: str, now: float) -> bool:
        """Mark the instance's deadline as met (see the module docstring); False if it
        is not due, or ended, or is cancelled, compensating or parked meanwhile."""
        with self.store.write() as conn:
            row = conn.execute(locked_instance(instance_id)).mappings().first()
            if (
                row is None
                or row["deadline_at"] is None
                or row["deadline_at"] > now
                or row["cancel_reason"] is not None
                or row["error"] is not None
                or row["status"] not in DEADLINE_STATUSES
            ):
                return False
            values: dict[str, Any] = {"cancel_reason": DEADLINE_REASON, "updated_at": now}
            if row["status"] != InstanceStatus.RUNNING:
                values.update(status=InstanceStatus.RUNNABLE, run_at=now)
                self.store.notify_workers(conn, row["queue"])
            conn.execute(instances.update().where(instances.c.id == instance_id).values(values))
            payload = {
                "instance_id": instance_id,
                "workflow": row["workflow"],
                "version": row["version"],
                "created_at": row["created_at"],
                "deadline_at": row["deadline_at"],
                "status": row["status"],
                "state": row["state"],
            }
            append_event(conn, EventKind.INSTANCE_DEADLINE_EXCEEDED, instance_id, payload, now)
            return True
