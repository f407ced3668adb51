"""Statements built with SQLAlchemy Core, compiled once, executed on the DBAPI cursor.

The durable write of a running instance is the engine's hot path: a few statements per
step, each commit a disk flush. SQLAlchemy's per-execution machinery (cache key, result
set-up, events) costs more than SQLite itself spends on such a statement, so the hot path
compiles its statements once per dialect and hands SQL and parameters straight to the
driver. The SQL still comes from the Core schema: one definition, every dialect.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from typing import Any, cast

from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = ["Prepared"]


class Prepared:
    """A Core statement compiled for one dialect."""

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        self.sql = str(compiled)
        self.positional = bool(compiled.positional)
        self.names: tuple[str, ...] = tuple(compiled.positiontup or ())
        if not self.positional:
            self.names = tuple(compiled.bind_names.values())
        # Literal values in the statement (e.g. status == WAITING) are binds with a value. A
        # vocabulary member is bound as its plain text: the SQLite driver looks up an adapter
        # for every parameter of a str subclass.
        self.defaults = {
            name: bind.value.value if isinstance(bind.value, Enum) else bind.value
            for name, bind in compiled.binds.items()
            if not bind.required
        }

        # itemgetter builds the positional tuple in C: this runs for every row written.
        getter = operator.itemgetter(*self.names) if self.names else (lambda _values: ())
        self._positional: Callable[[Mapping[str, Any]], Any] = (
            getter if len(self.names) != 1 else (lambda values: (getter(values),))
        )
        # A fenced UPDATE binds its values, then "_id" and "_token" (see fenced()).
        self._values_getter: Callable[[Mapping[str, Any]], Any] | None = None
        if (
            self.positional
            and not self.defaults
            and len(self.names) > 3
            and self.names[-2:] == ("_id", "_token")
        ):
            self._values_getter = operator.itemgetter(*self.names[:-2])

    def params(self, values: Mapping[str, Any]) -> Any:
        """Driver parameters for ``values`` (keyed by bind name)."""
        if self.defaults:
            values = {**self.defaults, **values}
        if self.positional:
            return self._positional(values)
        return {name: values[name] for name in self.names}

    def fenced(self, values: Mapping[str, Any], instance_id: str, token: int) -> Any:
        """Parameters of a fenced instance UPDATE: ``values`` plus ``_id`` and ``_token``.

        Avoids merging the three into a new dict on every durable point.
        """
        if self._values_getter is not None:
            return (*self._values_getter(values), instance_id, token)
        return self.params({"_id": instance_id, "_token": token, **values})

    def many(self, rows: Iterable[Mapping[str, Any]]) -> list[Any]:
        """Driver parameters for executemany."""
        return [self.params(row) for row in rows]
