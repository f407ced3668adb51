"""PostgreSQL: one durable point of one instance as a single statement.

On PostgreSQL every statement is a network round trip, and a transaction adds two more
(BEGIN, COMMIT). An inline run's durable point (fenced UPDATE of the instance, a history
row, a transition) would cost five round trips plus the flush; the flush is what a commit
must pay, the round trips are not. Data-modifying CTEs put the whole point into one
statement that runs in autocommit mode, i.e. as its own transaction: one round trip.

Every INSERT selects from the fenced UPDATE's ``RETURNING``, so when the lease was lost (or
a cancel is pending) nothing is written, exactly as in the multi-statement path, which
then finds out which of the two happened. The statement is built with SQLAlchemy Core once
per shape (how many rows of each table) and compiled once. SLO bucket increments ride
along as upserts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

from daytwo.store._aggregates import add_events_on_conflict
from daytwo.store._prepared import Prepared
from daytwo.store._schema import (
    START_COLUMNS,
    history,
    instances,
    slo_buckets,
    step_attempts,
    transitions,
)

__all__ = ["OneStatementWrites"]

_ROWS = (("h", history), ("a", step_attempts), ("t", transitions), ("b", slo_buckets))
Counts = tuple[int, int, int, int]
Rows = list[dict[str, Any]]


class OneStatementWrites:
    """Builds and caches the single-statement form of instance writes."""

    def __init__(self, dialect: Dialect, run_columns: Sequence[str], progress: Sequence[str]):
        self._dialect = dialect
        self._columns = {False: tuple(run_columns), True: tuple(progress)}
        self._cache: dict[tuple[Any, ...], Prepared] = {}

    def statement(self, *, insert: bool, progress: bool, counts: Counts) -> Prepared:
        """The statement for this shape: returns one row, 1 if applied, else 0."""
        key = (insert, progress, counts)
        prepared = self._cache.get(key)
        if prepared is None:
            prepared = self._cache[key] = Prepared(
                self._build(insert, progress, counts), self._dialect
            )
        return prepared

    def params(
        self,
        values: dict[str, Any],
        instance_id: str,
        token: int,
        rows: tuple[Rows, Rows, Rows, Rows],
    ) -> dict[str, Any]:
        """Bind values: the instance's, then each row's under its prefix (``h0_seq``...)."""
        params = {**values, "_id": instance_id, "_token": token}
        for (prefix, _table), table_rows in zip(_ROWS, rows, strict=True):
            for i, row in enumerate(table_rows):
                params.update({f"{prefix}{i}_{name}": value for name, value in row.items()})
        return params

    def _build(self, insert: bool, progress: bool, counts: Counts) -> sa.Select[Any]:
        if insert:
            anchor = (
                postgresql.insert(instances)
                .values({c.name: sa.bindparam(c.name) for c in START_COLUMNS})
                .on_conflict_do_nothing()
                .returning(instances.c.id)
                .cte("anchor")
            )
        else:
            anchor = (
                instances.update()
                .where(
                    instances.c.id == sa.bindparam("_id"),
                    instances.c.lease_token == sa.bindparam("_token"),
                    instances.c.cancel_reason.is_(None),
                )
                .values({name: sa.bindparam(name) for name in self._columns[progress]})
                .returning(instances.c.id)
                .cte("anchor")
            )
        query = sa.select(sa.func.count()).select_from(anchor)
        for (prefix, table), count in zip(_ROWS, counts, strict=True):
            if not count:
                continue
            names = [column.name for column in table.c]
            # Casts: a bare parameter in a select list would be typed text.
            rows = [
                sa.select(
                    *(
                        sa.cast(sa.bindparam(f"{prefix}{i}_{column.name}"), column.type)
                        for column in table.c
                    )
                ).select_from(anchor)
                for i in range(count)
            ]
            # One INSERT per table, its rows in order (UNION ALL keeps the arms' order): bucket
            # rows are locked in key order, like every other writer does.
            source = rows[0] if count == 1 else sa.union_all(*rows)
            statement = postgresql.insert(table).from_select(names, source)
            if table is slo_buckets:
                statement = add_events_on_conflict(statement)
            query = query.add_cte(statement.cte(prefix))
        return query
