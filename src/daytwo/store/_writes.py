"""Applying the durable writes of running instances (the engine's hot path).

Everything one instance makes durable at one point is an :class:`InstanceWrite`
(``_write_records.py``); many of them (from many instances, when a worker group-commits)
are applied in one transaction by :class:`WriteApplier` on a dedicated connection with
precompiled statements.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from daytwo.store._aggregates import bucket_key, bucket_rows, bucket_upsert, merge_bucket_rows
from daytwo.store._children import ChildWrites
from daytwo.store._claims import (
    ClaimRequest,
    claim_one_statement,
    claim_statement,
    limit_statements,
)
from daytwo.store._one_statement import OneStatementWrites
from daytwo.store._outbox import HotPathAppender, reports_event
from daytwo.store._prepared import Prepared
from daytwo.store._schema import (
    START_COLUMNS,
    history,
    instances,
    signals,
    step_attempts,
    transitions,
)
from daytwo.store._task_writes import TaskWrites
from daytwo.store._vocabulary import InstanceStatus
from daytwo.store._write_lock import NoWriteLock, WriteLock
from daytwo.store._write_records import (
    _APPLIED,
    PROGRESS_COLUMNS,
    RUN_COLUMNS,
    InstanceWrite,
    WriteOutcome,
)

__all__ = ["RUN_COLUMNS", "InstanceWrite", "WriteApplier", "WriteOutcome"]

log = logging.getLogger("daytwo.store")

#: How often a write transaction aborted by a deadlock or serialization failure is retried.
TRANSIENT_RETRIES = 5
#: PostgreSQL SQLSTATEs of aborts that succeed when retried: deadlock, serialization.
_TRANSIENT = frozenset({"40P01", "40001"})


def _retry_after_abort(exc: BaseException, attempt: int) -> bool:
    """Whether a write aborted by ``exc`` on its ``attempt``-th try should run again.

    Only deadlock and serialization aborts qualify; the transaction (or autocommitted
    statement) rolled back as a whole, so running it again is safe. Waits a little first.
    """
    if getattr(exc, "sqlstate", None) not in _TRANSIENT or attempt == TRANSIENT_RETRIES:
        return False
    log.info("write aborted (%s); retrying", exc)
    time.sleep(0.005 * attempt * (0.5 + random.random()))
    return True


class WriteApplier:
    """Applies instance writes on one dedicated connection (serialized by a lock)."""

    def __init__(
        self, engine: Engine, write_lock: WriteLock | NoWriteLock, *, wake_channel: str
    ) -> None:
        self.engine = engine
        self._write_lock = write_lock
        dialect = engine.dialect
        self.dialect_name = dialect.name
        ident: sa.BindParameter[str] = sa.bindparam("_id")
        token: sa.BindParameter[int] = sa.bindparam("_token")
        fenced = sa.and_(instances.c.id == ident, instances.c.lease_token == token)

        def update(columns: Sequence[str], *, returning: bool) -> Prepared:
            statement = instances.update().values({name: sa.bindparam(name) for name in columns})
            if returning:
                return Prepared(
                    statement.where(fenced).returning(instances.c.cancel_reason), dialect
                )
            return Prepared(statement.where(fenced, instances.c.cancel_reason.is_(None)), dialect)

        insert_dialect = postgresql if dialect.name == "postgresql" else sqlite
        # The common case (lease held, no cancel requested) needs no RETURNING; when the
        # guarded UPDATE matches nothing, the RETURNING form tells a cancel from a lost lease.
        self._full = update(RUN_COLUMNS, returning=False)
        self._progress = update(PROGRESS_COLUMNS, returning=False)
        self._full_returning = update(RUN_COLUMNS, returning=True)
        self._progress_returning = update(PROGRESS_COLUMNS, returning=True)
        self._insert = Prepared(
            insert_dialect.insert(instances)
            .values({c.name: sa.bindparam(c.name) for c in START_COLUMNS})
            .on_conflict_do_nothing(),
            dialect,
        )
        self._history = Prepared(
            history.insert().values({c.name: sa.bindparam(c.name) for c in history.c}), dialect
        )
        self._attempts = Prepared(
            step_attempts.insert().values({c.name: sa.bindparam(c.name) for c in step_attempts.c}),
            dialect,
        )
        self._transitions = Prepared(
            transitions.insert().values({c.name: sa.bindparam(c.name) for c in transitions.c}),
            dialect,
        )
        self._consume = Prepared(
            signals.update()
            .where(signals.c.id == sa.bindparam("_sid"), signals.c.consumed_seq.is_(None))
            .values(consumed_seq=sa.bindparam("_seq")),
            dialect,
        )
        self._tasks = TaskWrites(dialect)
        self._children = ChildWrites(dialect, wake_channel)
        #: SQLite: wakes the workers of other processes after a commit that made a parent
        #: or a child due (PostgreSQL: a NOTIFY in the transaction). Set by the store.
        self.after_commit: Callable[[], object] | None = None
        self._wake_after = False
        self._wake = Prepared(
            instances.update()
            .where(
                instances.c.id == ident,
                instances.c.status == InstanceStatus.WAITING,
                sa.exists().where(
                    signals.c.instance_id == ident,
                    signals.c.name == sa.bindparam("_name"),
                    signals.c.consumed_seq.is_(None),
                ),
            )
            .values(status=InstanceStatus.RUNNABLE, run_at=sa.bindparam("_now")),
            dialect,
        )
        self._cancel_pending = Prepared(sa.select(instances.c.cancel_reason).where(fenced), dialect)
        self._claims: dict[Any, Prepared] = {}
        self._begin = "BEGIN IMMEDIATE" if dialect.name == "sqlite" else "BEGIN"
        self._one = (
            OneStatementWrites(dialect, RUN_COLUMNS, PROGRESS_COLUMNS)
            if dialect.name == "postgresql"
            else None
        )
        self._limits = limit_statements(dialect)
        self._outbox = HotPathAppender(dialect)
        self._buckets = Prepared(bucket_upsert(dialect.name), dialect)
        self._lock = threading.Lock()
        self._connection: Any = None
        self._cursor: Any = None

    def _dbapi(self) -> Any:
        if self._connection is None:
            self._connection = self.engine.raw_connection()
            if self._one is not None:
                # Transactions are explicit (BEGIN ... COMMIT) so that a single-statement
                # write can run as its own transaction without them.
                self._connection.driver_connection.autocommit = True
        return self._connection

    def close(self) -> None:
        """Return the dedicated connection to the pool."""
        with self._lock:
            if self._connection is not None:
                if self._one is not None:
                    self._connection.driver_connection.autocommit = False
                self._connection.close()
                self._connection = self._cursor = None

    def apply(
        self, writes: Sequence[InstanceWrite], claims: Sequence[ClaimRequest] = ()
    ) -> list[WriteOutcome]:
        """Apply ``writes`` (and run ``claims``) in one transaction.

        Stale-lease writes are skipped, not fatal. Claimed rows are set on each claim's
        future only after the commit.
        """
        with self._lock, self._write_lock.hold():
            connection = self._dbapi()
            if self._cursor is None:
                self._cursor = connection.cursor()
            cursor = self._cursor
            if self._one is not None and not claims and len(writes) == 1:
                outcome = self._apply_as_one_statement(connection, cursor, writes[0])
                if outcome is not None:
                    return [outcome]
            for attempt in range(1, TRANSIENT_RETRIES + 1):
                self._wake_after = False
                try:
                    cursor.execute(self._begin)
                    outcomes = self._apply_all(cursor, writes)
                    claimed = [self._claim(cursor, claim) for claim in claims] if claims else None
                    # Last before the commit (see _outbox.py); a write that neither ends its
                    # instance badly nor parks it costs a dict lookup or two here.
                    for write in writes:
                        if reports_event(write.values):
                            self._outbox.report_bad_ends(cursor, writes, outcomes)
                            break
                    cursor.execute("COMMIT")
                    if self._wake_after and self.after_commit is not None:
                        self.after_commit()
                    if claimed is None:
                        return outcomes
                    for claim, rows in zip(claims, claimed, strict=True):
                        claim.future.set_result(rows)
                    return outcomes
                except BaseException as exc:
                    try:
                        if self.dialect_name != "sqlite" or connection.in_transaction:
                            cursor.execute("ROLLBACK")
                    except Exception:
                        self._connection = self._cursor = None
                        connection.invalidate()
                        raise exc from None
                    # PostgreSQL may abort one of two transactions that lock the same rows
                    # in opposite orders (a heartbeat and a group commit of one worker, say).
                    # The whole transaction rolled back, so running it again is safe.
                    if not _retry_after_abort(exc, attempt):
                        raise
            raise AssertionError("unreachable")

    def _apply_as_one_statement(
        self, connection: Any, cursor: Any, write: InstanceWrite
    ) -> WriteOutcome | None:
        """PostgreSQL: the write in one autocommitted statement; None to take the long way.

        The long way is needed for writes with side rows (signals, tasks, the wake-up
        re-check), for an end that writes an outbox event (rare; the event's lock must be
        taken after every row lock, which one statement cannot promise) and to find out why
        a fenced update matched nothing. (A park writes an event too.)
        """
        if write.has_side_rows or reports_event(write.values):
            return None
        assert self._one is not None
        buckets = merge_bucket_rows(
            bucket_rows(write.identity, write.values, write.attempts, write.history)
        )
        rows = (write.history, write.attempts, write.transitions, buckets)
        statement = self._one.statement(
            insert=write.insert is not None,
            progress=write.progress,
            counts=(len(write.history), len(write.attempts), len(write.transitions), len(buckets)),
        )
        values = write.values if write.insert is None else write.insert
        params = self._one.params(values, write.instance_id, write.lease_token, rows)
        for attempt in range(1, TRANSIENT_RETRIES + 1):
            try:
                cursor.execute(statement.sql, params)
                applied = cursor.fetchone()[0] == 1
                break
            except BaseException as exc:
                if connection.driver_connection.closed:
                    self._connection = self._cursor = None
                    connection.invalidate()
                    raise
                # The statement was its own transaction and rolled back as a whole.
                if not _retry_after_abort(exc, attempt):
                    raise
        if applied:
            return _APPLIED
        # An insert found the id taken: that is the answer. An update matched nothing:
        # lease lost or cancel pending, which the multi-statement path tells apart.
        return WriteOutcome(applied=False) if write.insert is not None else None

    def _claim(self, cursor: Any, claim: ClaimRequest) -> list[dict[str, Any]]:
        params = claim.params
        if claim.limits.limited:
            allowed = self._allowed(cursor, claim)
            if allowed <= 0:
                return []
            params = {**params, "_limit": min(params["_limit"], allowed)}
        statement = self._claim_statement(claim)
        cursor.execute(statement.sql, statement.params(params))
        names = [column[0] for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        if claim.limits.rate_limit is not None:
            record = self._limits.record_start
            for row in rows:
                if row["history_size"] == 0 and row["attempt"] == 0:  # a first start
                    values = {"_queue": claim.queue, "_now": params["_now"], "_iid": row["id"]}
                    cursor.execute(record.sql, record.params(values))
        return rows

    def _claim_statement(self, claim: ClaimRequest) -> Prepared:
        # Claiming one instance by id does not depend on the workflows or the pauses.
        key = None if claim.queue is None else (claim.queue, claim.workflows, claim.paused)
        statement = self._claims.get(key)
        if statement is None:
            if claim.queue is None:
                built = claim_one_statement(dialect=self.dialect_name)
            else:
                built = claim_statement(
                    claim.queue, claim.workflows, dialect=self.dialect_name, paused=claim.paused
                )
            statement = self._claims[key] = Prepared(built, self.engine.dialect)
        return statement

    def _allowed(self, cursor: Any, claim: ClaimRequest) -> int:
        """How many more instances the queue's limits allow, counted in this transaction."""
        limits, statements = claim.limits, self._limits
        now = claim.params["_now"]
        values: dict[str, Any] = {"_queue": claim.queue, "_now": now}
        if self.dialect_name == "postgresql":
            cursor.execute(statements.lock.sql, statements.lock.params(values))
        allowed = claim.params["_limit"]
        if limits.concurrency is not None:
            cursor.execute(statements.running.sql, statements.running.params(values))
            allowed = min(allowed, limits.concurrency - cursor.fetchone()[0])
        if limits.rate_limit is not None:
            values["_since"] = now - (limits.rate_period or 1.0)
            cursor.execute(statements.prune.sql, statements.prune.params(values))
            cursor.execute(statements.started.sql, statements.started.params(values))
            allowed = min(allowed, limits.rate_limit - cursor.fetchone()[0])
        return int(allowed)

    def _apply_all(self, cursor: Any, writes: Sequence[InstanceWrite]) -> list[WriteOutcome]:
        if len(writes) > 1 and all(write.insert is None for write in writes):
            # Group commit: one executemany per table instead of a statement per write,
            # which keeps the committer thread (the one everyone waits for) short.
            params = [self._full.fenced(w.values, w.instance_id, w.lease_token) for w in writes]
            cursor.executemany(self._full.sql, params)
            if cursor.rowcount == len(writes):
                return self._insert_rows(cursor, writes)
            # A lease was lost or a cancel is pending somewhere: redo one by one to find out
            # which (re-applying the same values to the others is harmless).
        return [self._apply_one(cursor, write) for write in writes]

    def _insert_rows(self, cursor: Any, writes: Sequence[InstanceWrite]) -> list[WriteOutcome]:
        history_rows = [row for write in writes for row in write.history]
        if history_rows:
            cursor.executemany(self._history.sql, self._history.many(history_rows))
        attempt_rows = [row for write in writes for row in write.attempts]
        if attempt_rows:
            cursor.executemany(self._attempts.sql, self._attempts.many(attempt_rows))
        transition_rows = [row for write in writes for row in write.transitions]
        if transition_rows:
            cursor.executemany(self._transitions.sql, self._transitions.many(transition_rows))
        self._aggregate(cursor, writes)
        return [WriteOutcome(applied=True, woken=self._extras(cursor, write)) for write in writes]

    def _apply_one(self, cursor: Any, write: InstanceWrite) -> WriteOutcome:
        if write.insert is not None:
            cursor.execute(self._insert.sql, self._insert.params(write.insert))
            if cursor.rowcount != 1:
                return WriteOutcome(applied=False)
            cancel_reason = None
        else:
            statement = self._progress if write.progress else self._full
            params = statement.fenced(write.values, write.instance_id, write.lease_token)
            cursor.execute(statement.sql, params)
            cancel_reason = None
            if cursor.rowcount != 1 and write.yields_to_cancel:
                # Lease lost, or a cancel pending: then the instance does not end this way.
                check = self._cancel_pending
                cursor.execute(check.sql, check.params({"_id": write.instance_id,
                                                        "_token": write.lease_token}))  # fmt: skip
                row = cursor.fetchone()
                return WriteOutcome(applied=False, cancel_reason=row[0] if row else None)
            if cursor.rowcount != 1:
                statement = self._progress_returning if write.progress else self._full_returning
                params = statement.fenced(write.values, write.instance_id, write.lease_token)
                cursor.execute(statement.sql, params)
                row = cursor.fetchone()
                if row is None:
                    return WriteOutcome(applied=False)
                cancel_reason = row[0]
        # One instance's rows: usually one history row and one transition, so plain
        # executes (executemany would build a list per table for a single row).
        execute = cursor.execute
        for row in write.history:
            execute(self._history.sql, self._history.params(row))
        for row in write.attempts:
            execute(self._attempts.sql, self._attempts.params(row))
        for row in write.transitions:
            execute(self._transitions.sql, self._transitions.params(row))
        self._aggregate(cursor, (write,))
        if write.has_side_rows:
            woken = self._extras(cursor, write)
            return WriteOutcome(applied=True, cancel_reason=cancel_reason, woken=woken)
        return _APPLIED if cancel_reason is None else WriteOutcome(True, cancel_reason)

    def _aggregate(self, cursor: Any, writes: Sequence[InstanceWrite]) -> None:
        """Count ends, retries and compensations into ``slo_buckets`` (``_aggregates.py``)."""
        rows = [
            row for w in writes for row in bucket_rows(w.identity, w.values, w.attempts, w.history)
        ]
        if rows:
            # Every worker increments the same few bucket rows: taking their locks in one
            # global order keeps concurrent transactions from deadlocking on them.
            rows.sort(key=bucket_key)
            cursor.executemany(self._buckets.sql, self._buckets.many(rows))

    def _extras(self, cursor: Any, write: InstanceWrite) -> bool:
        """Signals consumed, tasks created, and the lost-wakeup re-check; True if woken."""
        for signal_id, seq in write.consumed_signals:
            cursor.execute(
                self._consume.sql, self._consume.params({"_sid": signal_id, "_seq": seq})
            )
        if write.new_tasks:
            self._tasks.insert(cursor, write.new_tasks)
        if write.close_tasks is not None:
            self._tasks.close(
                cursor, write.instance_id, write.close_tasks, write.values["updated_at"]
            )
        woken = False
        if write.family is not None:
            woken = self._family(cursor, write)
        if write.recheck_signal is not None:
            params = {
                "_id": write.instance_id,
                "_name": write.recheck_signal,
                "_now": write.values["updated_at"],
            }
            cursor.execute(self._wake.sql, self._wake.params(params))
            woken = cursor.rowcount > 0
        return woken

    def _family(self, cursor: Any, write: InstanceWrite) -> bool:
        """A parent's or a child's rows and wake-ups (``_children.py``); True if the
        suspending instance itself was made due again."""
        family, children = write.family, self._children
        assert family is not None
        now = write.values["updated_at"]
        queues: set[str] = set()
        if family.starts:
            queues |= children.start(cursor, write.instance_id, family.starts)
        if family.parent_to_wake is not None:
            queues |= children.wake_parent(cursor, family.parent_to_wake, write.instance_id, now)
        if family.cancel_children is not None:
            queues |= children.cancel_children(
                cursor, write.instance_id, family.cancel_children, now
            )
        woken = False
        if family.recheck_child is not None:
            own = children.recheck(cursor, write.instance_id, family.recheck_child, now)
            woken = bool(own)
            queues |= own
        if queues:
            children.notify(cursor, queues)
            self._wake_after = True
        return woken
