"""Signals, cancels and the human-task inbox: what reaches an instance from outside.

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
from daytwo.store._rows import HumanTaskRow, InstanceRow, SignalRow, typed_row, typed_rows
from daytwo.store._schema import human_tasks, instances, signals
from daytwo.store._vocabulary import InstanceStatus, TaskStatus, WaitKind

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
            conn.execute(
                human_tasks.update()
                .where(
                    human_tasks.c.instance_id == instance_id,
                    human_tasks.c.name == name,
                    human_tasks.c.status == TaskStatus.OPEN,
                )
                .values(
                    status=TaskStatus.COMPLETED,
                    result=payload,
                    completed_at=now,
                    completed_by=sent_by,
                )
            )
            return typed_row(row, InstanceRow)

    def complete_task(
        self, task_id: str, payload: str, *, now: float, by: str | None
    ) -> tuple[HumanTaskRow | None, bool]:
        """Complete an open task and deliver its result as the signal of its name.

        Returns the task as it was and whether this call completed it. The task row is
        updated only while it is still open, in the transaction that delivers the signal:
        of two simultaneous completions exactly one wins, and the other leaves nothing
        behind (no stray signal that a later wait of that name would take).
        """
        with self.write() as conn:
            task = conn.execute(sa.select(human_tasks).where(human_tasks.c.id == task_id))
            before = typed_row(task.mappings().first(), HumanTaskRow)
            if before is None or before["status"] != TaskStatus.OPEN:
                return before, False
            # Lock the instance first, in the same order as signals and suspensions do.
            row = conn.execute(locked_instance(before["instance_id"])).mappings().one()
            if row["status"] in TERMINAL_STATUSES:
                return before, False
            completed = conn.execute(
                human_tasks.update()
                .where(human_tasks.c.id == task_id, human_tasks.c.status == TaskStatus.OPEN)
                .values(
                    status=TaskStatus.COMPLETED, result=payload, completed_at=now, completed_by=by
                )
            ).rowcount
            if not completed:  # another completion won between our read and the lock
                return before, False
            self._deliver(conn, row, before["name"], payload, now=now, sent_by=by)
            return before, True

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

    # -- human tasks ----------------------------------------------------------------------

    def list_tasks(
        self, *, status: str | None = TaskStatus.OPEN, assignee: str | None = None, limit: int = 100
    ) -> list[HumanTaskRow]:
        """Human tasks, oldest first."""
        query = sa.select(human_tasks).order_by(human_tasks.c.created_at, human_tasks.c.id)
        if status:
            query = query.where(human_tasks.c.status == status)
        if assignee:
            query = query.where(human_tasks.c.assignee == assignee)
        with self.read() as conn:
            return typed_rows(conn.execute(query.limit(limit)).mappings(), HumanTaskRow)

    def get_task(self, task_id: str) -> HumanTaskRow | None:
        """One human task."""
        with self.read() as conn:
            query = sa.select(human_tasks).where(human_tasks.c.id == task_id)
            return typed_row(conn.execute(query).mappings().first(), HumanTaskRow)

    def reassign_task(self, task_id: str, assignee: str) -> bool:
        """Change the assignee of an open task; False if it is not open."""
        with self.write() as conn:
            result = conn.execute(
                human_tasks.update()
                .where(human_tasks.c.id == task_id, human_tasks.c.status == TaskStatus.OPEN)
                .values(assignee=assignee)
            )
            return result.rowcount > 0

    # -- workers --------------------------------------------------------------------------
