"""Every query daytwo runs, behind one class (built by layer: ``_base.py``, ``_inbox.py``,
``_tasks.py``).

The engine, the worker, the app and (later) the operations packages talk to the database
only through :class:`Store`. Writes that a running instance makes are bundled into an
:class:`InstanceWrite` and applied by :meth:`Store.apply` in one transaction, many
instances at a time when a worker group-commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping

from daytwo.store._base import ACTIVE_STATUSES, SETTINGS_CHANNEL, TERMINAL_STATUSES, WAKE_CHANNEL
from daytwo.store._claims import UNLIMITED, ClaimRequest, QueueLimits, claim_params, of_pairs
from daytwo.store._rows import (
    AttemptRow,
    HistoryRow,
    InstanceRow,
    TransitionRow,
    typed_row,
    typed_rows,
)
from daytwo.store._schema import (
    READY,
    RUNNING,
    TIMED,
    history,
    instances,
    step_attempts,
    transitions,
    workers,
)
from daytwo.store._starts import Check, StartOutcome, initial_transition
from daytwo.store._tasks import TaskInbox
from daytwo.store._vocabulary import InstanceStatus
from daytwo.store._writes import InstanceWrite, WriteOutcome

__all__ = [
    "ACTIVE_STATUSES",
    "SETTINGS_CHANNEL",
    "TERMINAL_STATUSES",
    "WAKE_CHANNEL",
    "InstanceWrite",
    "Store",
    "WriteOutcome",
    "initial_transition",
]


class Store(TaskInbox):
    """Queries over one database (the layers below: :class:`TaskInbox`, :class:`Inbox`,
    :class:`StoreBase`)."""

    def insert_instance(self, row: dict[str, Any]) -> StartOutcome:
        """Insert a new instance; if the id exists, return the existing row instead.

        Concurrent calls of one process share commits (``_starts.py``).
        """
        return self._starts.insert([row])[0]

    def insert_instances(
        self, rows: Sequence[dict[str, Any]], check: Check | None = None
    ) -> list[StartOutcome]:
        """Insert many new instances in one transaction (an existing id: its stored row).

        ``check`` sees the outcomes before the commit and may raise to store none of them.
        """
        return self._starts.insert(rows, check)

    def get_instance(self, instance_id: str) -> InstanceRow | None:
        """One instance row, or None."""
        with self.read() as conn:
            query = sa.select(instances).where(instances.c.id == instance_id)
            return typed_row(conn.execute(query).mappings().first(), InstanceRow)

    def list_instances(
        self,
        *,
        workflow: str | None = None,
        statuses: Sequence[str] | None = None,
        state: str | None = None,
        limit: int = 100,
        offset: int = 0,
        workflows: Sequence[str] | None = None,
        after: tuple[float, str] | None = None,
    ) -> list[InstanceRow]:
        """Instances, newest first, filtered; ``workflows``: only these (a token's scope);
        ``after``: the (created_at, id) of the last row of the previous page (keyset
        paging, which stays fast and misses nothing while instances are added)."""
        query = sa.select(instances)
        if workflow:
            query = query.where(instances.c.workflow == workflow)
        if workflows is not None:
            query = query.where(instances.c.workflow.in_(list(workflows)))
        if after is not None:
            created, last_id = after
            query = query.where(
                sa.or_(
                    instances.c.created_at < created,
                    sa.and_(instances.c.created_at == created, instances.c.id > last_id),
                )
            )
        if statuses:
            query = query.where(instances.c.status.in_(list(statuses)))
        if state:
            query = query.where(instances.c.state == state)
        query = query.order_by(instances.c.created_at.desc(), instances.c.id).limit(limit)
        with self.read() as conn:
            return typed_rows(conn.execute(query.offset(offset)).mappings(), InstanceRow)

    def count_by_status(self, workflow: str | None = None) -> dict[str, int]:
        """Number of instances per status."""
        query = sa.select(instances.c.status, sa.func.count()).group_by(instances.c.status)
        if workflow:
            query = query.where(instances.c.workflow == workflow)
        with self.read() as conn:
            return {status: count for status, count in conn.execute(query)}

    # -- history --------------------------------------------------------------------------

    def load_history(self, instance_id: str) -> list[HistoryRow]:
        """The instance's history in sequence order."""
        query = sa.select(history).where(history.c.instance_id == instance_id)
        return typed_rows(self._all(query.order_by(history.c.seq)), HistoryRow)

    def load_attempts(self, instance_id: str) -> list[AttemptRow]:
        """Failed step attempts of the instance."""
        query = sa.select(step_attempts).where(step_attempts.c.instance_id == instance_id)
        query = query.order_by(step_attempts.c.seq, step_attempts.c.attempt)
        return typed_rows(self._all(query), AttemptRow)

    def load_transitions(self, instance_id: str) -> list[TransitionRow]:
        """State transitions of the instance in order."""
        query = sa.select(transitions).where(transitions.c.instance_id == instance_id)
        return typed_rows(self._all(query.order_by(transitions.c.seq)), TransitionRow)

    def _all(self, query: sa.Select[Any]) -> list[RowMapping]:
        with self.read() as conn:
            return list(conn.execute(query).mappings())

    # -- claiming and leases --------------------------------------------------------------

    def claim(
        self,
        owner: str,
        workflows: Sequence[tuple[str, str]],
        *,
        now: float,
        lease_seconds: float,
        limit: int,
        queue: str = "default",
        paused: frozenset[str] = frozenset(),
        limits: QueueLimits = UNLIMITED,
        instance_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Lease up to ``limit`` claimable instances of ``queue`` and the given workflows.

        Claimable means due (``run_at <= now``): runnable (by priority, then FIFO), a
        waiting instance whose timer fired, or a running instance whose lease expired
        because its worker died. The lease token is incremented, which fences off the
        previous holder's writes. With ``instance_id``, only that instance is considered,
        whatever its queue.
        """
        if (not workflows and instance_id is None) or limit <= 0:
            return []
        request = ClaimRequest(
            None if instance_id is not None else queue,
            tuple(workflows),
            claim_params(
                owner, now=now, lease_seconds=lease_seconds, limit=limit, instance_id=instance_id
            ),
            paused=paused,
            limits=limits,
        )
        self._applier.apply([], [request])
        return request.future.result()

    def next_due(
        self,
        workflows: Sequence[tuple[str, str]],
        queues: Sequence[str] = ("default",),
        paused: frozenset[str] = frozenset(),
    ) -> float | None:
        """The earliest time at which one of these workflows' instances becomes claimable.

        Instances that a claim leaves out by the same rule (unstarted instances of a
        workflow in ``paused``) are left out here too; queue limits are not looked at.
        """
        if not workflows:
            return None
        # MIN per index range reads one index entry each; MIN over an IN list of pairs
        # scans every entry of those workflows.
        ready = [
            sa.select(sa.func.min(instances.c.run_at).label("run_at")).where(
                sa.text(READY), instances.c.queue == queue, of_pairs(workflows, paused)
            )
            for queue in queues
        ]
        # Lease expiries: the first running instance of these workflows in the queue's
        # ix_instances_running order (MIN would visit every running one to check the pairs).
        leases = [
            sa.select(
                sa.select(instances.c.run_at)
                .where(sa.text(RUNNING), instances.c.queue == queue, of_pairs(workflows))
                .order_by(instances.c.run_at)
                .limit(1)
                .subquery()
                .c.run_at
            )
            for queue in queues
        ]
        timed = [
            sa.select(sa.func.min(instances.c.run_at).label("run_at")).where(
                instances.c.workflow == name,
                instances.c.version == version,
                sa.text(TIMED),
            )
            for name, version in workflows
        ]
        earliest = sa.union_all(*ready, *leases, *timed).subquery()
        query = sa.select(sa.func.min(earliest.c.run_at))
        with self.read() as conn:
            value = conn.execute(query).scalar()
        return float(value) if value is not None else None

    def renew_leases(self, owner: str, instance_ids: Sequence[str], expiry: float) -> int:
        """Extend the leases this owner still holds; returns how many it still holds."""
        if not instance_ids:
            return 0
        with self.write() as conn:
            self._lock_in_order(conn, instance_ids)
            result = conn.execute(
                instances.update()
                .where(
                    instances.c.id.in_(list(instance_ids)),
                    instances.c.lease_owner == owner,
                    instances.c.status == InstanceStatus.RUNNING,
                )
                .values(run_at=expiry)
            )
            return result.rowcount

    def _lock_in_order(self, conn: sa.Connection, instance_ids: Sequence[str]) -> None:
        """PostgreSQL: lock the rows by id first, the order the group commit takes them in.

        An UPDATE over an IN list locks rows in whatever order it finds them; the same
        worker's group commit, updating some of the same rows, could then deadlock with it.
        SQLite's single writer has nothing to order.
        """
        if self.dialect == "postgresql":
            conn.execute(
                sa.select(instances.c.id)
                .where(instances.c.id.in_(list(instance_ids)))
                .order_by(instances.c.id)
                .with_for_update()
            )

    def release_leases(
        self,
        owner: str,
        instance_ids: Sequence[str],
        now: float,
        *,
        claimable_at: float | None = None,
    ) -> int:
        """Give back leases (graceful shutdown): the instances become runnable, at once or
        at ``claimable_at``.

        The lease token is bumped so that a run still finishing in this process cannot
        write after the release.
        """
        if not instance_ids:
            return 0
        with self.write() as conn:
            self._lock_in_order(conn, instance_ids)
            result = conn.execute(
                instances.update()
                .where(
                    instances.c.id.in_(list(instance_ids)),
                    instances.c.lease_owner == owner,
                    instances.c.status == InstanceStatus.RUNNING,
                )
                .values(
                    status=InstanceStatus.RUNNABLE,
                    lease_owner=None,
                    lease_token=instances.c.lease_token + 1,
                    run_at=now if claimable_at is None else claimable_at,
                    updated_at=now,
                )
            )
            return result.rowcount

    # -- durable writes of a running instance --------------------------------------------

    def apply(
        self, writes: Sequence[InstanceWrite], claims: Sequence[ClaimRequest] = ()
    ) -> list[WriteOutcome]:
        """Apply many instances' writes (and claims) in one transaction: one commit."""
        return self._applier.apply(writes, claims)

    def register_worker(self, row: dict[str, Any]) -> None:
        """Record a starting worker process."""
        with self.write() as conn:
            conn.execute(workers.insert(), row)

    def worker_heartbeat(self, worker_id: str, now: float, *, stopped: bool = False) -> None:
        """Record that a worker is alive (or that it stopped)."""
        values: dict[str, Any] = {"heartbeat_at": now}
        if stopped:
            values["stopped_at"] = now
        with self.write() as conn:
            conn.execute(workers.update().where(workers.c.id == worker_id).values(**values))
