"""What a result wait reads of an instance, by id, on the driver's cursor.

A caller of ``result()`` reads its instance once before it waits, and the shared poller of
a client's waits reads the waited instances that have ended, round after round. Through
SQLAlchemy's per-execution machinery such a read costs about ten times what the database
spends on it (a primary-key look-up), and a pool checkout as much again; in a process
whose worker runs the instances, that time is taken from the worker. So these reads use
statements compiled once (see :class:`~daytwo.store._prepared.Prepared`) on DBAPI
connections kept for them, in autocommit mode: each SELECT is its own consistent
snapshot, and no transaction stays open between reads (PostgreSQL would end such a
session). A read takes an idle one of these connections without a lock (a list's
``pop``/``append`` are atomic) or, if all are busy, another from the engine's pool: waits
in many threads do not queue behind one connection. They
read only the columns a wait needs (:class:`OutcomeRow`). Which rows have ended is decided
here, not in the statement: next to an ``id IN (...)`` list, SQLite evaluates a test of
the status (``IN``, or ``=`` on bound values) several times slower than the look-ups
themselves, and the rows of instances still going are a few short columns.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any, TypedDict, cast

import sqlalchemy as sa

from daytwo.store._prepared import Prepared
from daytwo.store._schema import instances
from daytwo.store._vocabulary import TERMINAL_STATUSES

__all__ = ["LOOKUP_CHUNK", "InstanceLookups", "OutcomeRow"]

#: Most ids in one ``IN`` list (SQLite allows 999 parameters in older builds).
LOOKUP_CHUNK = 512
#: Most idle connections kept for the reads (more in use at once go back to the pool).
IDLE_CONNECTIONS = 4


class OutcomeRow(TypedDict):
    """What a wait reads of an ``instances`` row: enough for its outcome (output or
    error) and for a timeout's message (status and state)."""

    id: str
    #: An :class:`~daytwo.store.InstanceStatus`.
    status: str
    state: str
    output: str | None
    error: str | None


_COLUMNS = [instances.c[name] for name in OutcomeRow.__annotations__]


class InstanceLookups:
    """Reads instance rows by id with precompiled statements (one per ``IN`` list size),
    on connections of its own (thread-safe; :meth:`close` gives them back to the pool)."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._one = Prepared(
            sa.select(*_COLUMNS).where(instances.c.id == sa.bindparam("id")), engine.dialect
        )
        # ``IN`` lists are padded to a power of two (repeating the last id), so that a few
        # compiled statements serve every number of ids.
        self._by_size: dict[int, Prepared] = {}
        self._lock = threading.Lock()
        #: Idle (connection, cursor) pairs.
        self._idle: list[tuple[Any, Any]] = []
        self._closed = False
        self._autocommit = engine.dialect.name == "postgresql"  # SQLite's already is

    def get(self, instance_id: str) -> OutcomeRow | None:
        """The instance row with that id, whatever its status, or None."""
        rows = self._fetch(self._one, {"id": instance_id})
        return rows[0] if rows else None

    def ended(self, instance_ids: Iterable[str]) -> list[OutcomeRow]:
        """The rows of those of ``instance_ids`` that have ended (a terminal status)."""
        unique = list(dict.fromkeys(instance_ids))
        rows: list[OutcomeRow] = []
        for start in range(0, len(unique), LOOKUP_CHUNK):
            chunk = unique[start : start + LOOKUP_CHUNK]
            size = 1 << (len(chunk) - 1).bit_length()
            padded = chunk + [chunk[-1]] * (size - len(chunk))
            values = {f"id_{k}": instance_id for k, instance_id in enumerate(padded)}
            rows += self._fetch(self._by_ids(size), values)
        return [row for row in rows if row["status"] in TERMINAL_STATUSES]

    def _by_ids(self, size: int) -> Prepared:
        """The statement reading ``size`` ids (one bind each: a list would compile to one
        "expanding" parameter, which only SQLAlchemy's execution can fill in)."""
        statement = self._by_size.get(size)
        if statement is None:
            with self._lock:  # built once per size, whichever thread comes first
                ids: list[sa.BindParameter[str]] = [sa.bindparam(f"id_{k}") for k in range(size)]
                query = sa.select(*_COLUMNS).where(instances.c.id.in_(ids))
                statement = self._by_size[size] = Prepared(query, self._engine.dialect)
        return statement

    def _fetch(self, statement: Prepared, values: Mapping[str, Any]) -> list[OutcomeRow]:
        connection: Any
        try:
            connection, cursor = self._idle.pop()
        except IndexError:
            connection = self._engine.raw_connection()
            if self._autocommit:
                connection.driver_connection.autocommit = True
            cursor = connection.cursor()
        try:
            cursor.execute(statement.sql, statement.params(values))
            names = [column[0] for column in cursor.description]
            rows = cursor.fetchall()
        except Exception:
            # Perhaps the connection broke (a server restart): the next read opens another.
            connection.invalidate()
            raise
        if self._closed or len(self._idle) >= IDLE_CONNECTIONS:
            self._release(connection, cursor)
        else:
            self._idle.append((connection, cursor))
            if self._closed:  # closed meanwhile: close() may have missed it
                self._release_idle()
        return [cast(OutcomeRow, dict(zip(names, row, strict=True))) for row in rows]

    def close(self) -> None:
        """Give the connections back to the pool (reads still going give theirs back
        when they end)."""
        self._closed = True
        self._release_idle()

    def _release_idle(self) -> None:
        while True:
            try:
                connection, cursor = self._idle.pop()
            except IndexError:
                return
            self._release(connection, cursor)

    def _release(self, connection: Any, cursor: Any) -> None:
        cursor.close()
        if self._autocommit:
            connection.driver_connection.autocommit = False
        connection.close()
