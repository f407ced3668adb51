"""Every query daytwo runs, behind one class.

The engine, the worker, the app and (later) the operations packages talk to the database
only through :class:`Store`. Writes that a running instance makes are bundled into an
:class:`InstanceWrite` and applied by :meth:`Store.apply` in one transaction, many
instances at a time when a worker group-commits.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, RowMapping
from sqlalchemy.exc import IntegrityError

from daytwo.store._claims import UNLIMITED, ClaimRequest, QueueLimits, claim_params, of_pairs
from daytwo.store._schema import (
    READY,
    RUNNING,
    TIMED,
    history,
    human_tasks,
    instances,
    signals,
    step_attempts,
    transitions,
    workers,
)
from daytwo.store._write_lock import write_lock_for
from daytwo.store._writes import InstanceWrite, WriteApplier, WriteOutcome

__all__ = ["ACTIVE_STATUSES", "TERMINAL_STATUSES", "InstanceWrite", "Store", "WriteOutcome"]

TERMINAL_STATUSES = frozenset(
    {"SUCCEEDED", "FAILED", "COMPENSATED", "COMPENSATION_FAILED", "CANCELLED", "INCOMPATIBLE"}
)
ACTIVE_STATUSES = frozenset({"RUNNABLE", "RUNNING", "WAITING"})


def initial_transition(row: dict[str, Any]) -> dict[str, Any]:
    """The first ``transitions`` row of a new instance (into its initial state)."""
    return {
        "instance_id": row["id"],
        "seq": 0,
        "from_state": None,
        "to_state": row["state"],
        "status": row["status"],
        "at": row["created_at"],
    }


#: The PostgreSQL notification channel on which workers hear about new work.
WAKE_CHANNEL = "daytwo_wake"
#: The channel on which flow-control changes (queues, pauses, dependency limits) are announced.
SETTINGS_CHANNEL = "daytwo_settings"


def _locked_instance(instance_id: str) -> sa.Select[Any]:
    """The instance row, locked until the end of the write transaction.

    SQLite serializes whole write transactions, PostgreSQL only row writes: without the
    lock, a signal could be recorded while the instance's suspension commits, each
    transaction missing the other's change (a lost wake-up). Locking the row first orders
    the two, exactly like SQLite's write lock does.
    """
    return sa.select(instances).where(instances.c.id == instance_id).with_for_update()


class Store:
    """Queries over one database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._lock = write_lock_for(self.dialect, engine.url.database)
        self._applier = WriteApplier(engine, self._lock)

    def close(self) -> None:
        """Release the connections."""
        self._applier.close()
        self.engine.dispose()
        self._lock.close()

    # -- transactions ---------------------------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """A write transaction (SQLite: holds the write lock from its first statement)."""
        with self._lock.hold(), self.engine.connect() as conn:
            conn = conn.execution_options(daytwo_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        """A read transaction with a consistent snapshot."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def notify_workers(self, conn: sa.Connection, queue: str) -> None:
        """Wake idle workers (PostgreSQL: NOTIFY, delivered when ``conn``'s transaction commits).

        SQLite has no cross-process notification; its workers poll.
        """
        if self.dialect == "postgresql":
            conn.execute(sa.select(sa.func.pg_notify(WAKE_CHANNEL, queue)))

    def notify_settings_changed(self, conn: sa.Connection) -> None:
        """Tell listening workers that flow-control settings changed (PostgreSQL: NOTIFY).

        Delivered when ``conn``'s transaction commits; SQLite workers re-read every second.
        """
        if self.dialect == "postgresql":
            conn.execute(sa.select(sa.func.pg_notify(SETTINGS_CHANNEL, "")))

    # -- instances ------------------------------------------------------------------------

    def insert_instance(self, row: dict[str, Any]) -> tuple[bool, RowMapping]:
        """Insert a new instance; if the id exists, return the existing row instead."""
        try:
            with self.write() as conn:
                conn.execute(instances.insert(), row)
                conn.execute(transitions.insert(), initial_transition(row))
                self.notify_workers(conn, row["queue"])
            created = True
        except IntegrityError:
            created = False
        existing = self.get_instance(row["id"])
        assert existing is not None
        return created, existing

    def get_instance(self, instance_id: str) -> RowMapping | None:
        """One instance row, or None."""
        with self.read() as conn:
            return (
                conn.execute(sa.select(instances).where(instances.c.id == instance_id))
                .mappings()
                .first()
            )

    def list_instances(
        self,
        *,
        workflow: str | None = None,
        statuses: Sequence[str] | None = None,
        state: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[RowMapping]:
        """Instances, newest first, filtered."""
        query = sa.select(instances)
        if workflow:
            query = query.where(instances.c.workflow == workflow)
        if statuses:
            query = query.where(instances.c.status.in_(list(statuses)))
        if state:
            query = query.where(instances.c.state == state)
        query = query.order_by(instances.c.created_at.desc(), instances.c.id).limit(limit)
        with self.read() as conn:
            return list(conn.execute(query.offset(offset)).mappings())

    def count_by_status(self, workflow: str | None = None) -> dict[str, int]:
        """Number of instances per status."""
        query = sa.select(instances.c.status, sa.func.count()).group_by(instances.c.status)
        if workflow:
            query = query.where(instances.c.workflow == workflow)
        with self.read() as conn:
            return {status: count for status, count in conn.execute(query)}

    # -- history --------------------------------------------------------------------------

    def load_history(self, instance_id: str) -> list[RowMapping]:
        """The instance's history in sequence order."""
        query = sa.select(history).where(history.c.instance_id == instance_id)
        return self._all(query.order_by(history.c.seq))

    def load_attempts(self, instance_id: str) -> list[RowMapping]:
        """Failed step attempts of the instance."""
        query = sa.select(step_attempts).where(step_attempts.c.instance_id == instance_id)
        return self._all(query.order_by(step_attempts.c.seq, step_attempts.c.attempt))

    def load_transitions(self, instance_id: str) -> list[RowMapping]:
        """State transitions of the instance in order."""
        query = sa.select(transitions).where(transitions.c.instance_id == instance_id)
        return self._all(query.order_by(transitions.c.seq))

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
            result = conn.execute(
                instances.update()
                .where(
                    instances.c.id.in_(list(instance_ids)),
                    instances.c.lease_owner == owner,
                    instances.c.status == "RUNNING",
                )
                .values(run_at=expiry)
            )
            return result.rowcount

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
            result = conn.execute(
                instances.update()
                .where(
                    instances.c.id.in_(list(instance_ids)),
                    instances.c.lease_owner == owner,
                    instances.c.status == "RUNNING",
                )
                .values(
                    status="RUNNABLE",
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

    def pending_signal(
        self, instance_id: str, name: str, exclude: Sequence[int] = ()
    ) -> RowMapping | None:
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
            return conn.execute(query).mappings().first()

    # -- signals, cancellation ------------------------------------------------------------

    def send_signal(
        self, instance_id: str, name: str, payload: str, *, now: float, sent_by: str | None
    ) -> RowMapping | None:
        """Record a signal and wake the instance if it waits for it.

        Returns the instance row as it was before, or None if there is no such instance.
        Also completes the open human task of that name, if any.
        """
        with self.write() as conn:
            row = conn.execute(_locked_instance(instance_id)).mappings().first()
            if row is None or row["status"] in TERMINAL_STATUSES:
                return row
            self._deliver(conn, row, name, payload, now=now, sent_by=sent_by)
            conn.execute(
                human_tasks.update()
                .where(
                    human_tasks.c.instance_id == instance_id,
                    human_tasks.c.name == name,
                    human_tasks.c.status == "open",
                )
                .values(status="completed", result=payload, completed_at=now, completed_by=sent_by)
            )
            return row

    def complete_task(
        self, task_id: str, payload: str, *, now: float, by: str | None
    ) -> tuple[RowMapping | None, bool]:
        """Complete an open task and deliver its result as the signal of its name.

        Returns the task as it was and whether this call completed it. The task row is
        updated only while it is still open, in the transaction that delivers the signal:
        of two simultaneous completions exactly one wins, and the other leaves nothing
        behind (no stray signal that a later wait of that name would take).
        """
        with self.write() as conn:
            task = conn.execute(sa.select(human_tasks).where(human_tasks.c.id == task_id))
            before = task.mappings().first()
            if before is None or before["status"] != "open":
                return before, False
            # Lock the instance first, in the same order as signals and suspensions do.
            row = conn.execute(_locked_instance(before["instance_id"])).mappings().one()
            if row["status"] in TERMINAL_STATUSES:
                return before, False
            completed = conn.execute(
                human_tasks.update()
                .where(human_tasks.c.id == task_id, human_tasks.c.status == "open")
                .values(status="completed", result=payload, completed_at=now, completed_by=by)
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
                instances.c.status == "WAITING",
                instances.c.wait_kind.in_(["signal", "task"]),
                instances.c.wait_name == name,
            )
            .values(status="RUNNABLE", run_at=now, updated_at=now)
        ).rowcount
        if woken:
            self.notify_workers(conn, row["queue"])

    def request_cancel(self, instance_id: str, reason: str, now: float) -> RowMapping | None:
        """Mark the instance for cancellation and make it claimable if it is not running.

        Returns the row as it was; nothing changes when the instance ended or is already
        compensating after a failure (its ``error`` is set).
        """
        with self.write() as conn:
            row = conn.execute(_locked_instance(instance_id)).mappings().first()
            if row is None or row["status"] in TERMINAL_STATUSES or row["error"] is not None:
                return row
            values: dict[str, Any] = {"cancel_reason": reason, "updated_at": now}
            if row["status"] != "RUNNING":
                values.update(status="RUNNABLE", run_at=now)
                self.notify_workers(conn, row["queue"])
            conn.execute(instances.update().where(instances.c.id == instance_id).values(**values))
            return row

    # -- human tasks ----------------------------------------------------------------------

    def list_tasks(
        self, *, status: str | None = "open", assignee: str | None = None, limit: int = 100
    ) -> list[RowMapping]:
        """Human tasks, oldest first."""
        query = sa.select(human_tasks).order_by(human_tasks.c.created_at, human_tasks.c.id)
        if status:
            query = query.where(human_tasks.c.status == status)
        if assignee:
            query = query.where(human_tasks.c.assignee == assignee)
        with self.read() as conn:
            return list(conn.execute(query.limit(limit)).mappings())

    def get_task(self, task_id: str) -> RowMapping | None:
        """One human task."""
        with self.read() as conn:
            return (
                conn.execute(sa.select(human_tasks).where(human_tasks.c.id == task_id))
                .mappings()
                .first()
            )

    def reassign_task(self, task_id: str, assignee: str) -> bool:
        """Change the assignee of an open task; False if it is not open."""
        with self.write() as conn:
            result = conn.execute(
                human_tasks.update()
                .where(human_tasks.c.id == task_id, human_tasks.c.status == "open")
                .values(assignee=assignee)
            )
            return result.rowcount > 0

    # -- workers --------------------------------------------------------------------------

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
