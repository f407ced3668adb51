"""Client handles: one instance (:class:`InstanceHandle`) and the human-task inbox."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from daytwo._errors import InvalidInput, NotRunnable, TaskNotFound
from daytwo._records import HistoryEvent, HumanTask, Instance, TaskStatus
from daytwo._starts import outside_workflow

if TYPE_CHECKING:
    from daytwo._client import Client

__all__ = ["HumanTasks", "InstanceHandle"]


class InstanceHandle:
    """A reference to one instance, acting through the :class:`~daytwo.Client` that made
    it (an App's handles through the App's client)."""

    def __init__(self, client: Client, instance_id: str, *, created: bool = True) -> None:
        self.client = client
        self.id = instance_id
        #: False when ``start`` found an existing instance with this id.
        self.created = created

    def status(self) -> Instance:
        """The instance as stored now."""
        return self.client.get(self.id)

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the output (see :meth:`Client.result`)."""
        return self.client.result(self.id, timeout)

    def signal(self, name: str, payload: Any = None) -> None:
        """Send a signal to this instance."""
        self.client.signal(self.id, name, payload)

    def cancel(self, reason: str = "cancelled by operator") -> None:
        """Cancel this instance."""
        self.client.cancel(self.id, reason)

    def history(self) -> builtins.list[HistoryEvent]:
        """This instance's history."""
        return self.client.history(self.id)

    def __repr__(self) -> str:
        return f"<InstanceHandle {self.id!r}>"


class HumanTasks:
    """The human-task inbox: list, complete and reassign tasks."""

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
        """One task; raises :class:`TaskNotFound`."""
        row = self._client.store.get_task(task_id)
        if row is None:
            raise TaskNotFound(task_id)
        return HumanTask.from_row(row, loads=self._client.serializer.loads)

    def complete(self, task_id: str, result: Any = None, *, by: str | None = None) -> None:
        """Complete an open task with ``result``; its instance resumes with it.

        Exactly one of several simultaneous completions wins; the others raise
        :class:`NotRunnable` ("already completed").
        """
        client = self._client
        outside_workflow(f"{client.caller}.tasks.complete()", "complete the task again")
        text = client.serializer.dumps(result, f"the result of human task {task_id!r}")
        before, completed = client.store.complete_task(task_id, text, now=client.clock.now(), by=by)
        if before is None:
            raise TaskNotFound(task_id)
        if not completed:
            task = self.get(task_id)
            if task.status == TaskStatus.OPEN:  # left open by an older daytwo
                raise NotRunnable(
                    f"human task {task_id!r} belongs to instance {task.instance_id!r}, which "
                    "has ended; it can no longer be completed"
                )
            raise NotRunnable(
                f"human task {task_id!r} is already {task.status}"
                + (f" (by {task.completed_by})" if task.completed_by else "")
                + (f": {task.closed_reason}" if task.closed_reason else "")
            )
        client.events.changed()

    def reassign(self, task_id: str, assignee: str, *, by: str | None = None) -> None:
        """Give an open task to someone else."""
        task = self.get(task_id)
        if not assignee:
            raise InvalidInput("the new assignee must not be empty")
        if task.status != TaskStatus.OPEN or not self._client.store.reassign_task(
            task_id, assignee
        ):
            raise NotRunnable(
                f"human task {task_id!r} is {task.status}; only open tasks can be reassigned"
            )
