"""Signals, cancels and the audit log: what reaches an instance from outside.

The human-task inbox is the layer above (``_tasks.py``).

Each of these writes locks the instance row first (:func:`locked_instance`), in the same
order as a suspension does, so that a signal, a task completion or a cancel and the
instance's own durable point are ordered, never each missing the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping

from daytwo.store._audit import AuditEntry, AuditFilter, AuditRow, append_audit, audit_query
from daytwo.store._base import TERMINAL_STATUSES, StoreBase
from daytwo.store._children import cancel_children
from daytwo.store._rows import InstanceRow, SignalRow, typed_row, typed_rows
from daytwo.store._schema import human_tasks, instances, signals
from daytwo.store._task_plans import append_task_event
from daytwo.store._vocabulary import InstanceStatus, TaskEventKind, TaskStatus, WaitKind

__all__ = ["Inbox", "locked_instance"]


def locked_instance(instance_id: str) -> sa.Select[Any]:
    """The instance row, locked until the end of the write transaction.

    SQLite serializes whole write transactions, PostgreSQL only row writes: without the
    lock, a signal could be recorded while the instance's suspension commits, each
    transaction missing the other's change (a lost wake-up). Locking the row first orders
    the two, exactly like SQLite's write lock does.
    """
    return sa.select(instances).where(instances.c.id == instance_id).with_for_update()


class Inbox(StoreBase):
    """Queries of what reaches instances from outside; see the module docstring."""

    def pending_signal(
        self, instance_id: str, name: str, exclude: Sequence[int] = ()
    ) -> SignalRow | None:
        """The oldest unconsumed signal of that name for the instance.

        ``exclude`` lists signals the asking run has consumed but not written yet: one
        signal answers one wait, also when two waits of one name follow each other with no
        durable point in between.
        """
        query = (
            sa.select(signals.c.id, signals.c.payload, signals.c.sent_by)
            .where(
                signals.c.instance_id == instance_id,
                signals.c.name == name,
                signals.c.consumed_seq.is_(None),
            )
            .order_by(signals.c.id)
            .limit(1)
        )
        if exclude:
            query = query.where(signals.c.id.not_in(list(exclude)))
        with self.read() as conn:
            return typed_row(conn.execute(query).mappings().first(), SignalRow)

    # -- signals, cancellation ------------------------------------------------------------

    def send_signal(
        self, instance_id: str, name: str, payload: str, *, now: float, sent_by: str | None
    ) -> InstanceRow | None:
        """Record a signal and wake the instance if it waits for it.

        Returns the instance row as it was before, or None if there is no such instance.
        Also completes the open human task of that name, if any.
        """
        with self.write() as conn:
            row = conn.execute(locked_instance(instance_id)).mappings().first()
            if row is None or row["status"] in TERMINAL_STATUSES:
                return typed_row(row, InstanceRow)
            self._deliver(conn, row, name, payload, now=now, sent_by=sent_by)
            open_tasks = human_tasks.c.instance_id == instance_id, human_tasks.c.name == name
            task_id = conn.execute(
                sa.select(human_tasks.c.id).where(
                    *open_tasks, human_tasks.c.status == TaskStatus.OPEN
                )
            ).scalar()
            if task_id is not None:
                conn.execute(
                    human_tasks.update()
                    .where(human_tasks.c.id == task_id, human_tasks.c.status == TaskStatus.OPEN)
                    .values(
                        status=TaskStatus.COMPLETED,
                        result=payload,
                        completed_at=now,
                        completed_by=sent_by,
                        next_action_at=None,
                    )
                )
                append_task_event(
                    conn, task_id, TaskEventKind.COMPLETED, now, actor=sent_by,
                    detail=f"by the signal {name!r}",
                )  # fmt: skip
            return typed_row(row, InstanceRow)

    def _deliver(
        self,
        conn: sa.Connection,
        row: RowMapping,
        name: str,
        payload: str,
        *,
        now: float,
        sent_by: str | None,
    ) -> None:
        """Record a signal and make the instance runnable if it waits for that name."""
        conn.execute(
            signals.insert(),
            {
                "instance_id": row["id"],
                "name": name,
                "payload": payload,
                "sent_by": sent_by,
                "received_at": now,
            },
        )
        woken = conn.execute(
            instances.update()
            .where(
                instances.c.id == row["id"],
                instances.c.status == InstanceStatus.WAITING,
                instances.c.wait_kind.in_([WaitKind.SIGNAL, WaitKind.TASK]),
                instances.c.wait_name == name,
            )
            .values(status=InstanceStatus.RUNNABLE, run_at=now, updated_at=now)
        ).rowcount
        if woken:
            self.notify_workers(conn, row["queue"])

    def request_cancel(
        self, instance_id: str, reason: str, now: float, audit: AuditEntry | None = None
    ) -> InstanceRow | None:
        """Mark the instance for cancellation and make it claimable if it is not running.

        Returns the row as it was; nothing changes when the instance ended or is already
        compensating after a failure (its ``error`` is set). ``audit`` is appended with the
        change, in its transaction.
        """
        with self.write() as conn:
            row = conn.execute(locked_instance(instance_id)).mappings().first()
            if row is None or row["status"] in TERMINAL_STATUSES or row["error"] is not None:
                return typed_row(row, InstanceRow)
            values: dict[str, Any] = {"cancel_reason": reason, "updated_at": now}
            if row["status"] != InstanceStatus.RUNNING:
                values.update(status=InstanceStatus.RUNNABLE, run_at=now)
                self.notify_workers(conn, row["queue"])
            conn.execute(instances.update().where(instances.c.id == instance_id).values(**values))
            # Its children with the CANCEL policy are cancelled with it, not once it ends
            # (its compensation may take a while).
            cancel_children(
                self, conn, instance_id, f"parent instance {instance_id!r} was cancelled: "
                f"{reason}", now,
            )  # fmt: skip
            if audit is not None:
                append_audit(conn, audit, now)
            return typed_row(row, InstanceRow)

    # -- the audit log --------------------------------------------------------------------

    def record_audit(self, entry: AuditEntry, now: float) -> int:
        """Append ``entry`` in a transaction of its own (a refusal: nothing else changed)."""
        with self.write() as conn:
            return append_audit(conn, entry, now)

    def audit_rows(self, where: AuditFilter) -> list[AuditRow]:
        """Audit rows, newest first."""
        with self.read() as conn:
            return typed_rows(conn.execute(audit_query(where)).mappings(), AuditRow)

    # -- workers --------------------------------------------------------------------------
