"""Starting instances: new instance rows, as many as are waiting, in one commit.

A start must be durable before it is acknowledged, so its cost is a commit: one disk
flush, which is what a raw commit costs too. Everything else a start did before (a pooled
connection and SQLAlchemy's per-statement machinery, reading the row back) cost three
times as much again, so starts use one dedicated connection and statements compiled once,
like the durable points of running instances (``_writes.py``).

Starts from several threads of one process share commits. There is no committer thread
(a hand-off to it would cost a single start more than it saves): the first caller that
finds no commit in progress commits every start queued until then, its own included; the
others wait for the outcome of theirs, and when a commit ends, one of those still waiting
commits the next batch. One start alone never waits for anybody.

Each start is idempotent on its id: ``INSERT ... ON CONFLICT DO NOTHING`` tells which rows
are new, and for the others the stored row is returned (the caller decides whether it is
the same start or a conflict). An id given twice in one batch is inserted once; the second
gets the first's row, as if it had come a moment later.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, Engine

from daytwo.store._prepared import Prepared
from daytwo.store._rows import InstanceRow
from daytwo.store._schema import START_COLUMNS, instances, transitions
from daytwo.store._write_lock import NoWriteLock, WriteLock
from daytwo.store._writes import _retry_after_abort

__all__ = ["StartCommits", "StartOutcome", "initial_transition"]

#: Looks at the outcomes of one caller's starts before the commit; raises to refuse them.
Check = Callable[[Sequence["StartOutcome"]], None]
#: How many rows one batched statement of PostgreSQL carries (one round trip each).
_PG_ROWS_PER_STATEMENT = 500


class StartOutcome(NamedTuple):
    """What became of one start."""

    #: True if this start stored the instance; False if its id existed already.
    created: bool
    #: The instance as stored: the new row, or the existing one.
    row: InstanceRow


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


class _Pending:
    """The starts of one caller, waiting for a commit."""

    __slots__ = ("check", "done", "error", "outcomes", "rows", "turn")

    def __init__(self, rows: Sequence[dict[str, Any]], check: Check | None) -> None:
        self.rows = rows
        self.check = check
        self.outcomes: list[StartOutcome] = []
        self.error: BaseException | None = None
        self.done = False
        # Released when the outcome is in, or when it is this caller's turn to commit. A
        # lock per caller wakes exactly one thread (a shared condition would wake them all).
        self.turn = threading.Lock()
        self.turn.acquire()


class StartCommits:
    """Commits new instances for every thread of one process (see the module docstring).

    ``after_commit`` runs after each commit that stored a new instance, outside the write
    lock (SQLite: the wake-up datagrams; PostgreSQL's NOTIFY is part of the transaction).
    """

    def __init__(
        self,
        engine: Engine,
        write_lock: WriteLock | NoWriteLock,
        *,
        wake_channel: str,
        after_commit: Callable[[], object] | None = None,
    ) -> None:
        self.engine = engine
        self._wake_channel = wake_channel
        self._write_lock = write_lock
        self._after_commit = after_commit
        dialect = engine.dialect
        self._postgres = dialect.name == "postgresql"
        insert = (postgresql if self._postgres else sqlite).insert(instances)
        values = insert.values({c.name: sa.bindparam(c.name) for c in START_COLUMNS})
        self._insert = Prepared(values.on_conflict_do_nothing(), dialect)
        # PostgreSQL batches: one INSERT per chunk of rows, each column sent as an array.
        self._insert_arrays = _insert_from_arrays(instances, dialect, returning="id")
        self._transitions_arrays = _insert_from_arrays(transitions, dialect)
        self._transition = Prepared(
            transitions.insert().values({c.name: sa.bindparam(c.name) for c in transitions.c}),
            dialect,
        )
        self._stored = Prepared(
            sa.select(instances).where(instances.c.id == sa.bindparam("_id")), dialect
        )
        self._one = _one_statement_start(wake_channel, dialect) if self._postgres else None
        self._begin = "BEGIN" if self._postgres else "BEGIN IMMEDIATE"
        self._mutex = threading.Lock()
        self._queue: deque[_Pending] = deque()
        self._committing = False
        self._closing = False
        self._idle = threading.Condition(self._mutex)
        self._connection: Any = None
        #: Commits made and rows they carried (what the benchmark reports).
        self.commits = 0
        self.rows = 0

    def insert(
        self, rows: Sequence[dict[str, Any]], check: Check | None = None
    ) -> list[StartOutcome]:
        """Store ``rows`` (complete ``instances`` rows) durably; one outcome per row.

        ``check`` sees the outcomes before the commit; if it raises, none of ``rows`` is
        stored (other callers' starts in the same batch are committed without them).
        """
        pending = _Pending(rows, check)
        with self._mutex:
            self._queue.append(pending)
            leading = not self._committing
            self._committing = True
        if not leading:
            pending.turn.acquire()  # the outcome, or the turn to commit the next batch
        if not pending.done:
            self._lead(pending)
        if pending.error is not None:
            raise pending.error
        return pending.outcomes

    def _lead(self, own: _Pending) -> None:
        """Commit everything queued (``own`` first), then hand the next batch to the first
        caller still waiting."""
        with self._mutex:
            batch = list(self._queue)
            self._queue.clear()
        try:
            self._commit_batch(batch)
        finally:
            for pending in batch:
                pending.done = True
            with self._mutex:
                following = self._queue[0] if self._queue else None
                if following is None:
                    self._committing = False
                    if self._closing:
                        self._idle.notify_all()
            for pending in batch:
                if pending is not own:
                    pending.turn.release()
            if following is not None:
                following.turn.release()

    def close(self) -> None:
        """Return the dedicated connection to the pool."""
        with self._idle:
            self._closing = True
            while self._committing:
                self._idle.wait()
            if self._connection is not None:
                if self._postgres:
                    self._connection.driver_connection.autocommit = False
                self._connection.close()
                self._connection = None

    def _commit_batch(self, batch: list[_Pending]) -> None:
        try:
            outcomes = self._commit(
                [row for pending in batch for row in pending.rows],
                [(len(pending.rows), pending.check) for pending in batch],
            )
        except BaseException as exc:
            if len(batch) == 1:
                batch[0].error = exc
            else:  # one caller's bad row or refused check must not fail the others
                for pending in batch:
                    try:
                        pending.outcomes = self._commit(
                            pending.rows, [(len(pending.rows), pending.check)]
                        )
                    except BaseException as alone:
                        pending.error = alone
            return
        start = 0
        for pending in batch:
            pending.outcomes = outcomes[start : start + len(pending.rows)]
            start += len(pending.rows)

    def _commit(
        self, rows: Sequence[dict[str, Any]], checks: Sequence[tuple[int, Check | None]]
    ) -> list[StartOutcome]:
        """One transaction storing ``rows``; retried when PostgreSQL aborts it.

        ``checks``: per caller, how many of ``rows`` are theirs and their check.
        """
        if not rows:
            return []
        if self._one is not None and len(rows) == 1 and checks[0][1] is None:
            return [self._commit_one_statement(rows[0])]
        attempt = 0
        while True:
            attempt += 1
            with self._write_lock.hold():
                connection = self._dbapi()
                cursor = connection.cursor()
                try:
                    cursor.execute(self._begin)
                    created = self._insert_rows(cursor, rows)
                    outcomes = self._outcomes(cursor, rows, created)
                    start = 0
                    for count, check in checks:
                        if check is not None:
                            check(outcomes[start : start + count])
                        start += count
                    cursor.execute("COMMIT")
                except BaseException as exc:
                    self._roll_back(connection, cursor)
                    if not _retry_after_abort(exc, attempt):  # a refused check too
                        raise
                    continue
                finally:
                    cursor.close()
            break
        self.commits += 1
        self.rows += len(rows)
        if self._after_commit is not None and any(outcome.created for outcome in outcomes):
            self._after_commit()
        return outcomes

    def _commit_one_statement(self, row: dict[str, Any]) -> StartOutcome:
        """PostgreSQL, one start alone: one autocommitted statement, one round trip.

        A transaction of its own would add BEGIN and COMMIT, and each statement another
        round trip; the commit's flush is what a start must pay, the round trips are not.
        """
        assert self._one is not None
        params = self._one.params(
            {**row, "_to_state": row["state"], "_status": row["status"],
             "_at": row["created_at"], "_queue": row["queue"]}
        )  # fmt: skip
        attempt = 0
        while True:
            attempt += 1
            connection = self._dbapi()
            cursor = connection.cursor()
            try:
                cursor.execute(self._one.sql, params)
                created = cursor.fetchone()[0] == 1
                outcome = (
                    StartOutcome(True, _as_instance_row(row))
                    if created
                    else self._outcomes(cursor, [row], set())[0]
                )
            except BaseException as exc:
                if connection.driver_connection.closed:
                    self._connection = None
                    connection.invalidate()
                    raise
                # The statement was its own transaction and rolled back as a whole.
                if not _retry_after_abort(exc, attempt):
                    raise
                continue
            finally:
                cursor.close()
            self.commits += 1
            self.rows += 1
            return outcome

    def _insert_rows(self, cursor: Any, rows: Sequence[dict[str, Any]]) -> set[int]:
        """Insert what is new; the positions in ``rows`` that this transaction stored."""
        created: set[int] = set()
        if self._postgres:
            # Round trips dominate on PostgreSQL: batched statements whose RETURNING says
            # which ids were free. A repeated id is sent once (ON CONFLICT cannot tell).
            first: dict[str, int] = {}
            for position, row in enumerate(rows):
                first.setdefault(row["id"], position)
            positions = list(first.values())
            for chunk in range(0, len(positions), _PG_ROWS_PER_STATEMENT):
                part = positions[chunk : chunk + _PG_ROWS_PER_STATEMENT]
                columns = _columns([rows[p] for p in part], instances)
                cursor.execute(self._insert_arrays, columns)
                stored = {row[0] for row in cursor.fetchall()}
                created.update(p for p in part if rows[p]["id"] in stored)
        else:
            # In-process SQLite: a statement per row costs microseconds, and its rowcount
            # says whether the id was free (a repeated id finds its first occurrence).
            execute, sql, params = cursor.execute, self._insert.sql, self._insert.params
            for position, row in enumerate(rows):
                execute(sql, params(row))
                if cursor.rowcount == 1:
                    created.add(position)
        if created:
            new = [initial_transition(rows[p]) for p in sorted(created)]
            if self._postgres:
                cursor.execute(self._transitions_arrays, _columns(new, transitions))
            else:
                cursor.executemany(self._transition.sql, self._transition.many(new))
            if self._postgres:
                for queue in sorted({rows[p]["queue"] for p in created}):
                    cursor.execute("SELECT pg_notify(%s, %s)", (self._wake_channel, queue))
        return created

    def _outcomes(
        self, cursor: Any, rows: Sequence[dict[str, Any]], created: set[int]
    ) -> list[StartOutcome]:
        """Per row: new, or the row stored under its id (read in the same transaction)."""
        outcomes = []
        for position, row in enumerate(rows):
            if position in created:
                outcomes.append(StartOutcome(True, _as_instance_row(row)))
                continue
            cursor.execute(self._stored.sql, self._stored.params({"_id": row["id"]}))
            names = [column[0] for column in cursor.description]
            values = cursor.fetchone()
            assert values is not None, "an id that was not free is stored"
            outcomes.append(
                StartOutcome(False, _as_instance_row(dict(zip(names, values, strict=True))))
            )
        return outcomes

    def _dbapi(self) -> Any:
        if self._connection is None:
            self._connection = self.engine.raw_connection()
            if self._postgres:  # transactions are explicit (BEGIN ... COMMIT)
                self._connection.driver_connection.autocommit = True
        return self._connection

    def _roll_back(self, connection: Any, cursor: Any) -> None:
        try:
            if self._postgres or connection.in_transaction:
                cursor.execute("ROLLBACK")
        except Exception:  # the connection is broken: the next start opens another
            self._connection = None
            connection.invalidate()


def _one_statement_start(wake_channel: str, dialect: Dialect) -> Prepared:
    """The instance, its first transition and the workers' NOTIFY as one statement."""
    anchor = (
        postgresql.insert(instances)
        .values({c.name: sa.bindparam(c.name) for c in START_COLUMNS})
        .on_conflict_do_nothing()
        .returning(instances.c.id)
        .cte("anchor")
    )
    # Casts: a bare parameter in a select list would be typed text.
    first = sa.select(
        anchor.c.id,
        sa.literal(0, transitions.c.seq.type),
        sa.null(),
        sa.cast(sa.bindparam("_to_state"), transitions.c.to_state.type),
        sa.cast(sa.bindparam("_status"), transitions.c.status.type),
        sa.cast(sa.bindparam("_at"), transitions.c.at.type),
    ).select_from(anchor)
    transition = postgresql.insert(transitions).from_select([c.name for c in transitions.c], first)
    # The NOTIFY is sent even when the id existed: a worker that looks finds nothing new.
    statement = sa.select(
        sa.select(sa.func.count()).select_from(anchor).scalar_subquery(),
        sa.func.pg_notify(wake_channel, sa.cast(sa.bindparam("_queue"), sa.Text)),
    ).add_cte(transition.cte("first_transition"))
    return Prepared(statement, dialect)


def _insert_from_arrays(table: sa.Table, dialect: Dialect, returning: str | None = None) -> str:
    """``INSERT ... SELECT * FROM unnest(%b::type[], ...)``: many rows in one statement.

    One statement carries a whole chunk in one round trip and one execution on the
    server, where a pipelined statement per row is parsed and run once per row (a batch
    start made 15,000-18,000 rows/s that way).
    """
    columns = START_COLUMNS if table is instances else tuple(table.c)
    names = ", ".join(column.name for column in columns)
    # %b: each array in binary form (psycopg's text form quotes every element, which cost
    # more than the server's work).
    arrays = ", ".join(f"%b::{column.type.compile(dialect=dialect)}[]" for column in columns)
    sql = f"INSERT INTO {table.name} ({names}) SELECT * FROM unnest({arrays})"
    if table is instances:
        sql += " ON CONFLICT DO NOTHING"
    return sql + (f" RETURNING {returning}" if returning else "")


def _columns(rows: Sequence[dict[str, Any]], table: sa.Table) -> tuple[list[Any], ...]:
    """``rows`` as one list per column of ``table`` (the arrays of :func:`_insert_from_arrays`)."""
    columns = START_COLUMNS if table is instances else tuple(table.c)
    return tuple([row[column.name] for row in rows] for column in columns)


def _as_instance_row(row: dict[str, Any]) -> InstanceRow:
    # The caller's dict is the row as stored (the new instance) or a fresh dict read back.
    return row  # type: ignore[return-value]
