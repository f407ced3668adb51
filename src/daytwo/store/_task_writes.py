"""The human-task rows a running instance writes with its durable points (hot path).

A suspension at ``ctx.human_task`` inserts the task (and its ``created`` event, and a
``completed`` one for a task whose result had arrived before the workflow got there); the
write that ends an instance still waiting for a task closes it, with a ``closed`` event.
Both run inside :class:`~daytwo.store._writes.WriteApplier`'s transaction on its cursor,
with statements compiled once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from daytwo.store._prepared import Prepared
from daytwo.store._schema import human_tasks, task_events
from daytwo.store._task_plans import SYSTEM_ACTOR
from daytwo.store._vocabulary import TaskEventKind, TaskStatus

__all__ = ["TaskWrites"]

_EVENT_COLUMNS = ("task_id", "at", "kind", "actor", "from_assignee", "to_assignee", "detail")


class TaskWrites:
    """Insert new tasks, close the open tasks of an ending instance."""

    def __init__(self, dialect: Dialect) -> None:
        self._insert = Prepared(
            human_tasks.insert().values({c.name: sa.bindparam(c.name) for c in human_tasks.c}),
            dialect,
        )
        self._event = Prepared(
            task_events.insert().values({name: sa.bindparam(name) for name in _EVENT_COLUMNS}),
            dialect,
        )
        ident: sa.BindParameter[str] = sa.bindparam("_id")
        open_tasks = sa.and_(
            human_tasks.c.instance_id == ident, human_tasks.c.status == TaskStatus.OPEN
        )
        closed = sa.select(
            human_tasks.c.id,
            sa.bindparam("_now"),
            sa.literal(TaskEventKind.CLOSED.value),
            sa.literal(SYSTEM_ACTOR),
            sa.null(),
            sa.null(),
            sa.bindparam("_reason"),
        ).where(open_tasks)
        self._closed_events = Prepared(
            task_events.insert().from_select(list(_EVENT_COLUMNS), closed), dialect
        )
        self._close = Prepared(
            human_tasks.update()
            .where(open_tasks)
            .values(
                status=TaskStatus.CLOSED,
                closed_reason=sa.bindparam("_reason"),
                completed_at=sa.bindparam("_now"),
                next_action_at=None,
            ),
            dialect,
        )

    def insert(self, cursor: Any, tasks: Sequence[dict[str, Any]]) -> None:
        """Insert ``tasks`` and their first events."""
        rows = [{c.name: task.get(c.name) for c in human_tasks.c} for task in tasks]
        cursor.executemany(self._insert.sql, self._insert.many(rows))
        events = []
        for task in tasks:
            created = task["created_at"]
            events.append(_event(task["id"], created, TaskEventKind.CREATED, task["assignee"]))
            if task["status"] == TaskStatus.COMPLETED:
                events.append(
                    _event(task["id"], created, TaskEventKind.COMPLETED, None,
                           actor=task.get("completed_by"),
                           detail="its result had arrived before the workflow created it")
                )  # fmt: skip
        cursor.executemany(self._event.sql, self._event.many(events))

    def close(self, cursor: Any, instance_id: str, reason: str, now: float) -> None:
        """Close the instance's open tasks (it ended), each with a ``closed`` event."""
        params = {"_id": instance_id, "_reason": reason, "_now": now}
        cursor.execute(self._closed_events.sql, self._closed_events.params(params))
        cursor.execute(self._close.sql, self._close.params(params))


def _event(
    task_id: str,
    at: float,
    kind: TaskEventKind,
    assignee: str | None,
    *,
    actor: str | None = SYSTEM_ACTOR,
    detail: str | None = None,
) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "at": at,
        "kind": kind.value,  # plain text: see Prepared
        "actor": actor,
        "from_assignee": None,
        "to_assignee": assignee,
        "detail": detail,
    }
