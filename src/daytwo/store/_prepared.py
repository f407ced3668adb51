"""Statements built with SQLAlchemy Core, compiled once, executed on the DBAPI cursor.

The durable write of a running instance is the engine's hot path: a few statements per
step, each commit a disk flush. SQLAlchemy's per-execution machinery (cache key, result
set-up, events) costs more than SQLite itself spends on such a statement, so the hot path
compiles its statements once per dialect and hands SQL and parameters straight to the
driver. The SQL still comes from the Core schema: one definition, every dialect.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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
        # Literal values in the statement (e.g. status == "WAITING") are binds with a value.
        self.defaults = {
            name: bind.value for name, bind in compiled.binds.items() if not bind.required
        }

    def params(self, values: Mapping[str, Any]) -> Any:
        """Driver parameters for ``values`` (keyed by bind name)."""
        if self.defaults:
            values = {**self.defaults, **values}
        if self.positional:
            return tuple([values[name] for name in self.names])
        return {name: values[name] for name in self.names}

    def many(self, rows: Iterable[Mapping[str, Any]]) -> list[Any]:
        """Driver parameters for executemany."""
        return [self.params(row) for row in rows]
