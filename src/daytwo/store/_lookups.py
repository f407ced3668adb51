"""What a result wait reads of an instance, by id, on the driver's cursor.

A caller of ``result()`` reads its instance once before it waits, and the shared poller of
a client's waits reads the waited instances that have ended, round after round. Through
SQLAlchemy's per-execution machinery such a read costs about ten times what the database
spends on it (a primary-key look-up), and a pool checkout as much again; in a process
whose worker runs the instances, that time is taken from the worker. So these reads use
statements compiled once (see :class:`~daytwo.store._prepared.Prepared`) on one DBAPI
connection of their own, in autocommit mode: each SELECT is its own consistent snapshot,
and no transaction stays open between reads (PostgreSQL would end such a session). They
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
    on one connection taken from the pool at the first read (thread-safe: one read at a
    time; :meth:`close` gives it back)."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._one = Prepared(
            sa.select(*_COLUMNS).where(instances.c.id == sa.bindparam("id")), engine.dialect
        )
        # ``IN`` lists are padded to a power of two (repeating the last id), so that a few
        # compiled statements serve every number of ids.
        self._by_size: dict[int, Prepared] = {}
        self._lock = threading.Lock()
        self._connection: Any = None
        self._cursor: Any = None
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
        with self._lock:
            if self._cursor is None:
                self._connection = self._engine.raw_connection()
                if self._autocommit:
                    self._connection.driver_connection.autocommit = True
                self._cursor = self._connection.cursor()
            try:
                self._cursor.execute(statement.sql, statement.params(values))
                names = [column[0] for column in self._cursor.description]
                rows = self._cursor.fetchall()
            except Exception:
                # Perhaps the connection broke (a server restart): the next read opens another.
                self._connection.invalidate()
                self._connection = self._cursor = None
                raise
        return [cast(OutcomeRow, dict(zip(names, row, strict=True))) for row in rows]

    def close(self) -> None:
        """Give the connection back to the pool (a later read takes one again)."""
        with self._lock:
            if self._connection is not None:
                self._cursor.close()
                if self._autocommit:
                    self._connection.driver_connection.autocommit = False
                self._connection.close()
                self._connection = self._cursor = None
