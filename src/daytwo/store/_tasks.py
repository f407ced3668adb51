"""The human-task inbox: reading tasks and their events, the actions on a task, its plan.

Every change to a task is an UPDATE ``WHERE status = 'open'`` (plus, for a step of its
plan, ``next_step = <that step>``) in the transaction that records what happened
(``task_events``, the audit row, the outbox event): of a completion, a cancel, a timeout
and an escalation racing each other, the database decides which ones take effect, and the
others change nothing. Actions that reach the instance (completion, cancel, timeout) lock
the instance row first, in the order signals and suspensions do (``locked_instance``).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from daytwo.store._audit import AuditEntry, append_audit
from daytwo.store._base import TERMINAL_STATUSES
from daytwo.store._inbox import Inbox, locked_instance
from daytwo.store._outbox import EventKind, append_event
from daytwo.store._rows import HumanTaskRow, TaskEventRow, typed_row, typed_rows
from daytwo.store._schema import human_tasks, task_events
from daytwo.store._task_plans import SYSTEM_ACTOR, PlanStepKind, TaskPlan, append_task_event
from daytwo.store._vocabulary import TaskEventKind, TaskStatus

__all__ = ["TaskInbox", "TaskOutcome"]

#: The signal payload that carries a cancel to the waiting instance (only its arrival
#: matters: the run reads the outcome from the task row).
_CANCEL_CARRIER = "null"

#: (the task as it was, or None if unknown; whether this call changed it)
TaskOutcome = tuple[HumanTaskRow | None, bool]


def _open(task_id: str) -> Any:
    return sa.and_(human_tasks.c.id == task_id, human_tasks.c.status == TaskStatus.OPEN)


class TaskInbox(Inbox):
    """Queries of the human-task inbox; see the module docstring."""

    # -- reading --------------------------------------------------------------------------

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

    def task_at(self, instance_id: str, seq: int) -> HumanTaskRow | None:
        """The task an instance created at history position ``seq``."""
        with self.read() as conn:
            query = sa.select(human_tasks).where(
                human_tasks.c.instance_id == instance_id, human_tasks.c.seq == seq
            )
            return typed_row(conn.execute(query).mappings().first(), HumanTaskRow)

    def task_events(self, task_id: str) -> list[TaskEventRow]:
        """What happened to a task, oldest first."""
        with self.read() as conn:
            query = (
                sa.select(task_events)
                .where(task_events.c.task_id == task_id)
                .order_by(task_events.c.id)
            )
            return typed_rows(conn.execute(query).mappings(), TaskEventRow)

    # -- operator actions -----------------------------------------------------------------

    def complete_task(
        self,
        task_id: str,
        payload: str,
        *,
        now: float,
        by: str | None,
        reason: str | None = None,
        audit: AuditEntry | None = None,
    ) -> TaskOutcome:
        """Complete an open task and deliver its result as the signal of its name.

        The task row is updated only while it is still open, in the transaction that
        delivers the signal: of two simultaneous completions exactly one wins, and the
        other leaves nothing behind (no stray signal that a later wait of that name would
        take).
        """
        with self.write() as conn:
            before = self._task_for_update(conn, task_id)
            if before is None:
                return None, False
            row = self._waiting_instance(conn, before)
            if row is None:
                return before, False
            values = dict(
                status=TaskStatus.COMPLETED, result=payload, completed_at=now, completed_by=by
            )
            if not self._close(conn, task_id, values):
                return before, False  # another action won between our read and the lock
            self._deliver(conn, row, before["name"], payload, now=now, sent_by=by)
            append_task_event(conn, task_id, TaskEventKind.COMPLETED, now, actor=by, detail=reason)
            if audit is not None:
                append_audit(conn, audit, now)
            return before, True

    def cancel_task(
        self,
        task_id: str,
        *,
        now: float,
        by: str | None,
        reason: str | None = None,
        audit: AuditEntry | None = None,
    ) -> TaskOutcome:
        """Cancel an open task; its waiting instance wakes and gets ``TaskCancelled``.

        The wake-up rides on a signal of the task's name, delivered like a completion's
        (so an instance suspending at that very moment cannot miss it); the run reads
        that the task was cancelled from the task row and takes the signal with it.
        """
        with self.write() as conn:
            before = self._task_for_update(conn, task_id)
            if before is None:
                return None, False
            row = self._waiting_instance(conn, before)
            if row is None:
                return before, False
            values = dict(
                status=TaskStatus.CANCELLED,
                completed_at=now,
                completed_by=by,
                closed_reason=reason or "cancelled",
            )
            if not self._close(conn, task_id, values):
                return before, False
            self._deliver(conn, row, before["name"], _CANCEL_CARRIER, now=now, sent_by=by)
            append_task_event(conn, task_id, TaskEventKind.CANCELLED, now, actor=by, detail=reason)
            if audit is not None:
                append_audit(conn, audit, now)
            return before, True

    def reassign_task(
        self,
        task_id: str,
        assignee: str,
        *,
        now: float,
        by: str | None = None,
        reason: str | None = None,
        audit: AuditEntry | None = None,
    ) -> TaskOutcome:
        """Give an open task to ``assignee`` (its escalation chain goes on as planned)."""
        with self.write() as conn:
            before = self._task_for_update(conn, task_id)
            if before is None or before["status"] != TaskStatus.OPEN:
                return before, False
            changed = conn.execute(
                human_tasks.update().where(_open(task_id)).values(assignee=assignee)
            ).rowcount
            if not changed:
                return before, False
            append_task_event(
                conn, task_id, TaskEventKind.REASSIGNED, now, actor=by,
                from_assignee=before["assignee"], to_assignee=assignee, detail=reason,
            )  # fmt: skip
            if audit is not None:
                append_audit(conn, audit, now)
            return before, True

    # -- the engine and the plan ----------------------------------------------------------

    def time_out_task(self, task_id: str, now: float) -> bool:
        """Close an open task as timed out; False if something else closed it first.

        Called by the run of its instance when the wait's ``timeout_at`` passed; the
        run then follows what the task row says (this call's outcome or the winner's).
        """
        with self.write() as conn:
            before = self._task_for_update(conn, task_id)
            if before is None or before["status"] != TaskStatus.OPEN:
                return False
            conn.execute(locked_instance(before["instance_id"])).first()
            values = dict(status=TaskStatus.TIMED_OUT, completed_at=now, closed_reason="timed out")
            if not self._close(conn, task_id, values):
                return False
            append_task_event(conn, task_id, TaskEventKind.TIMED_OUT, now, actor=SYSTEM_ACTOR)
            append_event(conn, EventKind.TASK_TIMED_OUT, task_id, _event(before), now)
            return True

    def due_task_steps(self, now: float, limit: int = 100) -> list[HumanTaskRow]:
        """Tasks whose next reminder or escalation is due, earliest first."""
        query = (
            sa.select(human_tasks)
            .where(human_tasks.c.next_action_at <= now)
            .order_by(human_tasks.c.next_action_at, human_tasks.c.id)
            .limit(limit)
        )
        with self.read() as conn:
            return typed_rows(conn.execute(query).mappings(), HumanTaskRow)

    def apply_task_step(self, task_id: str, index: int | None, now: float) -> bool:
        """Take step ``index`` of the task's plan, if it is still the next one and the task
        is open; False if it was taken already (by this process or another) or the task
        closed. The step, its event row and its outbox event commit together."""
        with self.write() as conn:
            before = self._task_for_update(conn, task_id)
            if before is None:
                return False
            plan = TaskPlan.loads(before["plan"])
            next_step = before["next_step"]
            if (
                before["status"] != TaskStatus.OPEN
                or next_step is None
                or next_step >= len(plan.steps)
            ):
                # Nothing left to take (closed by a path that left its next action set):
                # out of the index, so that no round reads it again.
                conn.execute(
                    human_tasks.update()
                    .where(human_tasks.c.id == task_id)
                    .values(next_action_at=None)
                )
                return False
            if index is None or next_step != index:
                return False
            step = plan.steps[index]
            next_step, next_at = plan.after(index)
            values: dict[str, Any] = {"next_step": next_step, "next_action_at": next_at}
            if step.kind is PlanStepKind.ESCALATE:
                values["assignee"] = step.to
            taken = conn.execute(
                human_tasks.update()
                .where(_open(task_id), human_tasks.c.next_step == index)
                .values(**values)
            ).rowcount
            if not taken:
                return False
            payload = {**_event(before), "step": step.label}
            if step.kind is PlanStepKind.ESCALATE:
                append_task_event(
                    conn, task_id, TaskEventKind.ESCALATED, now, actor=SYSTEM_ACTOR,
                    from_assignee=before["assignee"], to_assignee=step.to, detail=step.label,
                )  # fmt: skip
                payload.update({"from": before["assignee"], "assignee": step.to})
                append_event(conn, EventKind.TASK_ESCALATED, task_id, payload, now)
            else:
                append_task_event(
                    conn, task_id, TaskEventKind.REMINDED, now, actor=SYSTEM_ACTOR,
                    to_assignee=before["assignee"], detail=step.label,
                )  # fmt: skip
                append_event(conn, EventKind.TASK_REMINDER, task_id, payload, now)
            return True

    # -- helpers --------------------------------------------------------------------------

    def _task_for_update(self, conn: sa.Connection, task_id: str) -> HumanTaskRow | None:
        query = sa.select(human_tasks).where(human_tasks.c.id == task_id)
        return typed_row(conn.execute(query).mappings().first(), HumanTaskRow)

    def _waiting_instance(self, conn: sa.Connection, task: HumanTaskRow) -> Any:
        """The task's instance row, locked, if the task is open and the instance has not
        ended (else None: nothing can reach it any more)."""
        if task["status"] != TaskStatus.OPEN:
            return None
        row = conn.execute(locked_instance(task["instance_id"])).mappings().one()
        return None if row["status"] in TERMINAL_STATUSES else row

    def _close(self, conn: sa.Connection, task_id: str, values: dict[str, Any]) -> bool:
        """Move an open task out of ``open`` (and out of the plan's index)."""
        result = conn.execute(
            human_tasks.update().where(_open(task_id)).values(next_action_at=None, **values)
        )
        return result.rowcount > 0


def _event(task: HumanTaskRow) -> dict[str, Any]:
    """The payload of a task's outbox event: enough for a notifier to tell someone."""
    return {
        "task_id": task["id"],
        "instance_id": task["instance_id"],
        "name": task["name"],
        "assignee": task["assignee"],
        "due_at": task["due_at"],
        "created_at": task["created_at"],
    }
