"""The human-task inbox as a Client works it: list, show, complete, reassign, cancel.

Each action is one store transaction that changes the task only while it is open and
appends, with the change, its ``task_events`` row and its audit row; a refusal (the task
is not open, unknown, bad input) is audited on its own (``client.audit.refusals``).
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from daytwo._audit import AuditEntry, AuditTarget, OperatorAction, resolve_actor
from daytwo._errors import InvalidInput, NotRunnable, TaskNotFound
from daytwo._records import HumanTask, TaskStatus
from daytwo._starts import outside_workflow
from daytwo._task_records import TaskEvent
from daytwo.store import HumanTaskRow

if TYPE_CHECKING:
    from daytwo._client import Client

__all__ = ["HumanTasks"]


class HumanTasks:
    """The human-task inbox (``client.tasks``): list, show, complete, reassign, cancel."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def list(
        self, *, status: str | None = TaskStatus.OPEN, assignee: str | None = None, limit: int = 100
    ) -> builtins.list[HumanTask]:
        """Tasks, oldest first (open ones by default; ``status=None`` for all)."""
        if status is not None and status not in set(TaskStatus):
            raise InvalidInput(
                f"unknown task status {status!r}; use one of "
                + ", ".join(repr(str(s)) for s in TaskStatus)
            )
        rows = self._client.store.list_tasks(status=status, assignee=assignee, limit=limit)
        return [HumanTask.from_row(row, loads=self._client.serializer.loads) for row in rows]

    def get(self, task_id: str) -> HumanTask:
        """One task, with its plan; raises :class:`TaskNotFound`."""
        row = self._client.store.get_task(task_id)
        if row is None:
            raise TaskNotFound(task_id)
        return HumanTask.from_row(row, loads=self._client.serializer.loads)

    def events(self, task_id: str) -> builtins.list[TaskEvent]:
        """What happened to the task, oldest first; raises :class:`TaskNotFound`."""
        self.get(task_id)
        return [TaskEvent.from_row(row) for row in self._client.store.task_events(task_id)]

    def complete(
        self,
        task_id: str,
        result: Any = None,
        *,
        reason: str | None = None,
        by: str | None = None,
    ) -> None:
        """Complete an open task with ``result``; its instance resumes with it.

        Exactly one of several simultaneous completions (or a completion and a cancel, a
        timeout) wins; the others raise :class:`NotRunnable` saying what the task is now.
        """
        client = self._client
        outside_workflow(f"{client.caller}.tasks.complete()", "complete the task again")
        actor = resolve_actor(by)
        text = client.serializer.dumps(result, f"the result of human task {task_id!r}")
        entry = self._entry(actor, OperatorAction.TASK_COMPLETE, task_id, reason, {"result": text})
        with client.audit.refusals(entry):
            before, done = client.store.complete_task(
                task_id, text, now=client.clock.now(), by=actor, reason=reason, audit=entry
            )
            self._refuse_unless(done, before, task_id, "completed")
        client.events.changed()

    def reassign(
        self, task_id: str, assignee: str, *, reason: str | None = None, by: str | None = None
    ) -> None:
        """Give an open task to someone else (its escalation chain goes on as planned)."""
        client = self._client
        actor = resolve_actor(by)
        entry = self._entry(
            actor, OperatorAction.TASK_REASSIGN, task_id, reason, {"assignee": assignee}
        )
        with client.audit.refusals(entry):
            if not assignee or not assignee.strip():
                raise InvalidInput("the new assignee must not be empty; give a person or role:NAME")
            before, done = client.store.reassign_task(
                task_id, assignee.strip(), now=client.clock.now(), by=actor, reason=reason,
                audit=entry,
            )  # fmt: skip
            self._refuse_unless(done, before, task_id, "reassigned")

    def cancel(self, task_id: str, *, reason: str | None = None, by: str | None = None) -> None:
        """Cancel an open task: the workflow's ``ctx.human_task`` raises
        :class:`daytwo.TaskCancelled` (handled there, or failing the instance like any
        exception, with compensation). Refused with :class:`NotRunnable` when the task is
        not open."""
        client = self._client
        outside_workflow(f"{client.caller}.tasks.cancel()", "cancel the task again")
        actor = resolve_actor(by)
        entry = self._entry(actor, OperatorAction.TASK_CANCEL, task_id, reason, None)
        with client.audit.refusals(entry):
            before, done = client.store.cancel_task(
                task_id, now=client.clock.now(), by=actor, reason=reason, audit=entry
            )
            self._refuse_unless(done, before, task_id, "cancelled")
        client.events.changed()

    # -- helpers --------------------------------------------------------------------------

    @staticmethod
    def _entry(
        actor: str,
        action: OperatorAction,
        task_id: str,
        reason: str | None,
        params: dict[str, Any] | None,
    ) -> AuditEntry:
        return AuditEntry(actor, action, AuditTarget.TASK, task_id, reason, params)

    def _refuse_unless(
        self, done: bool, before: HumanTaskRow | None, task_id: str, verb: str
    ) -> None:
        """Raise the refusal of an action that changed nothing: unknown or not open."""
        if done:
            return
        if before is None:
            raise TaskNotFound(task_id)
        task = self.get(task_id)  # as it is now: another action may have just won
        if task.status == TaskStatus.OPEN:
            raise NotRunnable(
                f"human task {task_id!r} belongs to instance {task.instance_id!r}, which "
                f"has ended; it can no longer be {verb}"
            )
        raise NotRunnable(
            f"human task {task_id!r} is already {task.status}"
            + (f" (by {task.completed_by})" if task.completed_by else "")
            + (f": {task.closed_reason}" if task.closed_reason else "")
            + f"; only open tasks can be {verb}"
        )
