"""Schema migrations with Alembic, run automatically when a database is opened.

A database made by an older daytwo is upgraded in place. The upgrade runs under SQLite's
write lock (``BEGIN IMMEDIATE``) or a PostgreSQL advisory lock, so that several processes
opening a new database at once serialize instead of racing to create the same tables.

The migrations are several Alembic branches: the core chain (``0001``, ``0002``, ...) and
one per operations package that owns tables (``slo_0001``, ...), found by
:mod:`daytwo.store._branches` without importing the packages. A database is at the current
schema when it is at the head of every branch, and it is always upgraded to all of them
(``heads``). How a package adds a migration, how ids are formed and what a revision may
depend on: the rule in :mod:`daytwo.store._branches` and ``migrations/README.md``.

Before anything is written, :func:`schema_state` says what the database is: empty, another
application's, daytwo's at an older (some branch behind), the current or a newer revision
(one this daytwo does not know). Tables are created only in an empty database, and only
when the opener may create one.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from enum import Enum
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from daytwo.store._branches import branches, check_branches

__all__ = [
    "SchemaRefused",
    "SchemaState",
    "alembic_config",
    "branch_positions",
    "database_revisions",
    "forget_scripts",
    "head_revisions",
    "known_revisions",
    "schema_state",
    "shown_revisions",
    "upgrade_to_head",
]

#: The PostgreSQL advisory lock key that serializes migrations ("daytwo" in ASCII).
MIGRATION_LOCK_KEY = 0x646179747776

_MIGRATIONS = Path(__file__).parent / "migrations"


def _option(path: Path) -> str:
    # Alembic's options go through ConfigParser, which reads "%" as interpolation.
    return str(path).replace("%", "%%")


def alembic_config(engine: Engine | None = None) -> Config:
    """An Alembic configuration with every branch's migration scripts (core and packages)."""
    config = Config()
    config.set_main_option("script_location", _option(_MIGRATIONS))
    # One directory per branch, joined with the OS path separator ("path_separator" is
    # Alembic >= 1.16's name for the option, "version_path_separator" the older one's).
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_path_separator", "os")
    locations = os.pathsep.join(_option(branch.directory) for branch in check_branches())
    config.set_main_option("version_locations", locations)
    if engine is not None:
        config.attributes["engine"] = engine
    return config


class SchemaState(Enum):
    """What a database is, as far as daytwo is concerned."""

    #: No tables at all: a new database.
    EMPTY = "empty"
    #: Tables, but no daytwo schema (no revision, or one daytwo does not know and no
    #: ``instances`` table): another application's database.
    FOREIGN = "foreign"
    #: daytwo's, with some branch behind its head (or missing): upgraded in place.
    OLDER = "older"
    #: daytwo's, at the head of every branch (:func:`head_revisions`).
    CURRENT = "current"
    #: daytwo's tables stamped with a revision this daytwo does not know: a newer daytwo
    #: (or a package with a migration branch that is not installed here).
    NEWER = "newer"


class SchemaRefused(Exception):
    """The database is in a state that this opener may not migrate (see SchemaState)."""

    def __init__(self, state: SchemaState, revisions: frozenset[str], tables: set[str]) -> None:
        super().__init__(state.value)
        self.state = state
        self.revisions = revisions
        self.tables = tables


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def _ids(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


@cache
def _graph() -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Each revision's previous revision in its branch, and what it depends on."""
    return {
        script.revision: (_ids(script.down_revision), _ids(script.dependencies))
        for script in _scripts().walk_revisions()
    }


@cache
def _applied_with(revision: str) -> frozenset[str]:
    """``revision`` and every revision that must be applied before it (all branches)."""
    downs, dependencies = _graph()[revision]
    needed = {revision}
    for before in (*downs, *dependencies):
        needed |= _applied_with(before)
    return frozenset(needed)


@cache
def head_revisions() -> frozenset[str]:
    """The head of every branch: where a current database's branches are."""
    return frozenset(_scripts().get_heads())


@cache
def known_revisions() -> frozenset[str]:
    """Every revision of every branch's migration scripts."""
    return frozenset(_graph())


def branch_positions(stamped: frozenset[str]) -> frozenset[str]:
    """Where each branch of a database stamped with ``stamped`` is (revisions unknown
    here are kept as they are).

    Alembic's version table holds only the revisions nothing applied depends on: once
    ``slo_0001`` (which depends on ``0007``) is applied, ``0007`` is no longer stamped,
    yet the core branch is at ``0007``. This gives ``{0007, slo_0001}`` back.
    """
    graph = _graph()
    applied: set[str] = set()
    for revision in stamped & graph.keys():
        applied |= _applied_with(revision)
    superseded = {down for revision in applied for down in graph[revision][0]}
    return frozenset(applied - superseded) | (stamped - graph.keys())


def forget_scripts() -> None:
    """Read the branches and their scripts again at the next open (they are read once per
    process): for a tool or test that installs a package with migrations while running."""
    importlib.invalidate_caches()  # the new package's files, and its entry points
    for cached in (_scripts, _graph, _applied_with, head_revisions, known_revisions):
        cached.cache_clear()
    check_branches.cache_clear()
    branches.cache_clear()


def shown_revisions(revisions: frozenset[str]) -> str:
    """Revisions for a message: ``0007, slo_0001`` (core first: digits sort first)."""
    return ", ".join(sorted(revisions)) or "none"


def _stamped(conn: Connection) -> frozenset[str]:
    return frozenset(MigrationContext.configure(conn).get_current_heads())


def schema_state(conn: Connection) -> tuple[SchemaState, frozenset[str], set[str]]:
    """The database's state, where its branches are and (unless current) its tables."""
    stamped = _stamped(conn)
    revisions = branch_positions(stamped)
    if revisions == head_revisions():
        return SchemaState.CURRENT, revisions, set()
    tables = set(sa.inspect(conn).get_table_names())
    # Read the stamp again after the tables: without a transaction around both reads (a
    # read-only probe of a SQLite file), another process's first migration may commit in
    # between, and its tables without its stamp would look like another application's.
    stamped = _stamped(conn)
    revisions = branch_positions(stamped)
    if revisions == head_revisions():
        return SchemaState.CURRENT, revisions, set()
    if not stamped:
        return (SchemaState.FOREIGN if tables else SchemaState.EMPTY), revisions, tables
    if stamped <= known_revisions():
        return SchemaState.OLDER, revisions, tables
    if "instances" in tables:
        return SchemaState.NEWER, revisions, tables
    return SchemaState.FOREIGN, revisions, tables


def _check(
    state: SchemaState, revisions: frozenset[str], tables: set[str], *, create: bool
) -> None:
    if state is SchemaState.EMPTY and create:
        return
    if state in (SchemaState.EMPTY, SchemaState.FOREIGN, SchemaState.NEWER):
        raise SchemaRefused(state, revisions, tables)


def database_revisions(engine: Engine) -> frozenset[str]:
    """Where each branch of the database is (empty for an empty database)."""
    with engine.connect() as conn:
        return branch_positions(_stamped(conn))


def upgrade_to_head(
    engine: Engine, *, create: bool = True
) -> tuple[frozenset[str], frozenset[str]] | None:
    """Bring every branch to its head; returns the (from, to) revisions if it did anything.

    A no-op when the schema is current. Creates the tables in an empty database only when
    ``create``; raises :class:`SchemaRefused` for an empty database otherwise, and for
    another application's database or a newer daytwo's, before writing anything.
    """
    with engine.connect() as conn:
        state, revisions, tables = schema_state(conn)
    if state is SchemaState.CURRENT:
        return None
    _check(state, revisions, tables, create=create)
    with engine.connect() as conn:
        conn = conn.execution_options(daytwo_write=True)
        with conn.begin():
            if conn.dialect.name == "postgresql":
                # PostgreSQL has no database-wide write lock; a transaction-scoped advisory
                # lock makes concurrent first openers queue just the same.
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
            # Re-read under the write lock: another process may have migrated meanwhile.
            state, revisions, tables = schema_state(conn)
            if state is SchemaState.CURRENT:
                return None
            _check(state, revisions, tables, create=create)
            _renumber_slo_revision(conn)
            config = alembic_config(engine)
            config.attributes["connection"] = conn
            command.upgrade(config, "heads")
    return revisions, head_revisions()


def _renumber_slo_revision(conn: Connection) -> None:
    """Step a database stamped by the old numbering back to 0001.

    daytwo releases before flow control numbered the SLO migration 0002; flow control took
    that number and the SLO migration became 0003. A database at the old 0002 has the SLO
    tables and no flow-control tables. Back at 0001 it gets flow control (0002), and 0003
    sees its tables exist and leaves them, with their counts, as they are.
    """
    inspector = sa.inspect(conn)
    if (
        _stamped(conn) == {"0002"}
        and inspector.has_table("slo_buckets")
        and not inspector.has_table("queues")
    ):
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0001'"))
