"""Child workflows in the store: their rows, the parent's wake-up, the parent-close policy.

A child is an instance whose row names its parent (``parent_id``) and what the parent's
end does to it (``parent_close``, a :class:`ParentClose`). Everything that links the two
is written in the transaction of the write that caused it:

* the child's row, its first transition and its ``child_of`` link are inserted with the
  parent's ``child_start`` history row (:meth:`ChildWrites.start`); an id already taken
  by an instance that is not this parent's child rolls the whole write back;
* the write that ends a child makes its parent RUNNABLE if the parent waits for exactly
  that child (:meth:`ChildWrites.wake_parent`): the parent's row is locked first, so a
  parent suspending at the same moment either sees the child ended (its own re-check,
  :meth:`ChildWrites.recheck`) or is seen waiting by the child's end;
* the write that ends a parent, and a cancel, abort or terminate of it, send a cancel
  request to its active children whose policy is CANCEL (:func:`cancel_children`).

The engine's writes run these on the write applier's cursor with statements compiled once
(:class:`ChildWrites`); the operator actions run them on their SQLAlchemy connection.
Instances without a parent or children never reach this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from daytwo._errors import ChildIdTaken
from daytwo.store._operator_schema import instance_links
from daytwo.store._prepared import Prepared
from daytwo.store._schema import instances, transitions
from daytwo.store._vocabulary import TERMINAL_STATUSES, InstanceStatus, ParentClose, WaitKind

if TYPE_CHECKING:  # the write applier, which imports this module, is under StoreBase
    from daytwo.store._base import StoreBase as Store

__all__ = [
    "CHILD_OF",
    "ChildWrites",
    "Relative",
    "cancel_children",
    "relatives_of",
    "wake_parent",
]

#: The ``instance_links`` kind of a child's link to its parent (``LinkKind.CHILD_OF``).
CHILD_OF = "child_of"

# Literals, not a bound list: the statements are compiled once and run on the driver.
_TERMINAL: list[sa.ColumnElement[str]] = [
    sa.literal_column(f"'{status}'") for status in sorted(TERMINAL_STATUSES)
]
_ident: sa.BindParameter[str] = sa.bindparam("_id")
_now: sa.BindParameter[float] = sa.bindparam("_now")


class Relative(NamedTuple):
    """A parent or child of an instance, as ``daytwo status`` shows it."""

    id: str
    workflow: str
    status: str
    #: A child's :class:`ParentClose` (None for the parent).
    on_parent_close: str | None


def _wake_statement() -> sa.Update:
    """The parent waiting for exactly this child becomes due now."""
    return (
        instances.update()
        .where(
            instances.c.id == _ident,
            instances.c.status == InstanceStatus.WAITING,
            instances.c.wait_kind == WaitKind.CHILD,
            instances.c.wait_name == sa.bindparam("_child"),
        )
        .values(status=InstanceStatus.RUNNABLE, run_at=_now, updated_at=_now)
        .returning(instances.c.queue)
    )


def _lock_statement() -> sa.Select[Any]:
    # Locks the parent's row whatever its state (an UPDATE that matches nothing locks
    # nothing on PostgreSQL), which closes the race with the parent's own suspension.
    return sa.select(instances.c.id).where(instances.c.id == _ident).with_for_update()


def _cancel_statement() -> sa.Update:
    """A cancel request to the parent's active children with the CANCEL policy (what
    ``request_cancel`` does to one instance: a child not running becomes due)."""
    running = instances.c.status == InstanceStatus.RUNNING
    return (
        instances.update()
        .where(
            instances.c.parent_id == _ident,
            instances.c.parent_close == ParentClose.CANCEL,
            instances.c.status.not_in(_TERMINAL),
            instances.c.cancel_reason.is_(None),
            instances.c.error.is_(None),
        )
        .values(
            cancel_reason=sa.bindparam("_reason"),
            status=sa.case((running, instances.c.status), else_=InstanceStatus.RUNNABLE.value),
            run_at=sa.case((running, instances.c.run_at), else_=_now),
            updated_at=_now,
        )
        .returning(instances.c.queue)
    )


class ChildWrites:
    """The engine's child rows and wake-ups, on the write applier's cursor."""

    def __init__(self, dialect: Dialect, wake_channel: str) -> None:
        insert = (postgresql if dialect.name == "postgresql" else sqlite).insert(instances)
        self._insert = Prepared(
            insert.values({c.name: sa.bindparam(c.name) for c in instances.c})
            .on_conflict_do_nothing(),
            dialect,
        )  # fmt: skip
        self._owner = Prepared(
            sa.select(instances.c.parent_id, instances.c.workflow).where(instances.c.id == _ident),
            dialect,
        )
        self._transition = Prepared(
            transitions.insert().values({c.name: sa.bindparam(c.name) for c in transitions.c}),
            dialect,
        )
        self._link = Prepared(
            instance_links.insert().values(
                {c.name: sa.bindparam(c.name) for c in instance_links.c}
            ),
            dialect,
        )
        self._lock = Prepared(_lock_statement(), dialect)
        self._wake = Prepared(_wake_statement(), dialect)
        self._cancel = Prepared(_cancel_statement(), dialect)
        child = instances.alias("child")
        self._recheck = Prepared(
            instances.update()
            .where(
                instances.c.id == _ident,
                instances.c.status == InstanceStatus.WAITING,
                instances.c.wait_kind == WaitKind.CHILD,
                instances.c.wait_name == sa.bindparam("_child"),
                sa.exists().where(
                    child.c.id == sa.bindparam("_child"), child.c.status.in_(_TERMINAL)
                ),
            )
            .values(status=InstanceStatus.RUNNABLE, run_at=_now)
            .returning(instances.c.queue),
            dialect,
        )
        self._notify = (
            Prepared(sa.select(sa.func.pg_notify(wake_channel, sa.bindparam("_queue"))), dialect)
            if dialect.name == "postgresql"
            else None
        )

    def start(
        self, cursor: Any, parent_id: str, starts: Sequence[tuple[dict[str, Any], int]]
    ) -> set[str]:
        """Insert the children ``(row, position)``; the queues to wake."""
        for row, position in starts:
            cursor.execute(self._insert.sql, self._insert.params(row))
            if cursor.rowcount != 1:
                cursor.execute(self._owner.sql, self._owner.params({"_id": row["id"]}))
                found = cursor.fetchone()
                if found is None or found[0] != parent_id:
                    # Started by someone else since the run looked (it looks before it
                    # writes): the transaction rolls back, the run stops and is retried,
                    # and its next attempt fails the workflow with this error.
                    holder = "gone" if found is None else f"an instance of {found[1]!r}"
                    raise ChildIdTaken(row["id"], parent_id, holder)
                continue  # this parent's child already (the same id started twice)
            transition = {
                "instance_id": row["id"], "seq": 0, "from_state": None,
                "to_state": row["state"], "status": row["status"], "at": row["created_at"],
            }  # fmt: skip
            cursor.execute(self._transition.sql, self._transition.params(transition))
            link = {
                "instance_id": row["id"], "linked_id": parent_id, "kind": CHILD_OF,
                "position": position, "created_at": row["created_at"],
            }  # fmt: skip
            cursor.execute(self._link.sql, self._link.params(link))
        return {row["queue"] for row, _ in starts}

    def wake_parent(self, cursor: Any, parent_id: str, child_id: str, now: float) -> set[str]:
        """The ending child's parent, if it waits for this child, becomes due."""
        cursor.execute(self._lock.sql, self._lock.params({"_id": parent_id}))
        cursor.fetchall()
        values = {"_id": parent_id, "_child": child_id, "_now": now}
        cursor.execute(self._wake.sql, self._wake.params(values))
        return {row[0] for row in cursor.fetchall()}

    def cancel_children(self, cursor: Any, parent_id: str, reason: str, now: float) -> set[str]:
        """Cancel requests to the ending parent's CANCEL children; the queues to wake."""
        values = {"_id": parent_id, "_reason": reason, "_now": now}
        cursor.execute(self._cancel.sql, self._cancel.params(values))
        return {row[0] for row in cursor.fetchall()}

    def recheck(self, cursor: Any, instance_id: str, child_id: str, now: float) -> set[str]:
        """The suspending parent's lost-wakeup guard: due at once if its child ended (its
        queue, to wake, then)."""
        values = {"_id": instance_id, "_child": child_id, "_now": now}
        cursor.execute(self._recheck.sql, self._recheck.params(values))
        return {row[0] for row in cursor.fetchall()}

    def notify(self, cursor: Any, queues: set[str]) -> None:
        """PostgreSQL: NOTIFY the workers of ``queues`` (delivered at the commit)."""
        if self._notify is not None:
            for queue in sorted(queues):
                cursor.execute(self._notify.sql, self._notify.params({"_queue": queue}))


# -- the operator actions' side (a SQLAlchemy connection in their transaction) ---------------


def wake_parent(
    store: Store, conn: sa.Connection, parent_id: str, child_id: str, now: float
) -> None:
    """The instance ``child_id`` ended (terminated): its parent, waiting for it, is due."""
    conn.execute(_lock_statement(), {"_id": parent_id}).fetchall()
    woken = conn.execute(_wake_statement(), {"_id": parent_id, "_child": child_id, "_now": now})
    for (queue,) in woken.fetchall():
        store.notify_workers(conn, queue)


def cancel_children(
    store: Store, conn: sa.Connection, parent_id: str, reason: str, now: float
) -> int:
    """Cancel requests to the CANCEL children of ``parent_id`` that are active; how many."""
    cancelled = conn.execute(
        _cancel_statement(), {"_id": parent_id, "_reason": reason, "_now": now}
    ).fetchall()
    for queue in sorted({row[0] for row in cancelled}):
        store.notify_workers(conn, queue)
    return len(cancelled)


def relatives_of(
    store: Store, instance_id: str, parent_id: str | None
) -> tuple[Relative | None, list[Relative]]:
    """The parent (when ``parent_id`` is set) and the children of an instance (one query
    by ``parent_id``, on its index), oldest child first."""
    columns = (instances.c.id, instances.c.workflow, instances.c.status)
    with store.read() as conn:
        parent = None
        if parent_id is not None:
            found = conn.execute(sa.select(*columns).where(instances.c.id == parent_id)).first()
            parent = (
                Relative(parent_id, "?", "purged", None)
                if found is None
                else Relative(found[0], found[1], found[2], None)
            )
        rows = conn.execute(
            sa.select(*columns, instances.c.parent_close)
            .where(instances.c.parent_id == instance_id)
            .order_by(instances.c.created_at, instances.c.id)
        ).all()
    return parent, [Relative(row[0], row[1], row[2], row[3]) for row in rows]
