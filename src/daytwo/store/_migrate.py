"""Schema migrations with Alembic, run automatically when a database is opened.

A database made by an older daytwo is upgraded in place. The upgrade runs under SQLite's
write lock (``BEGIN IMMEDIATE``) or a PostgreSQL advisory lock, so that several processes
opening a new database at once serialize instead of racing to create the same tables.

Before anything is written, :func:`schema_state` says what the database is: empty, another
application's, daytwo's at an older, the current or a newer revision. Tables are created
only in an empty database, and only when the opener may create one.
"""

from __future__ import annotations

from enum import Enum
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

__all__ = [
    "HEAD_REVISION",
    "SchemaRefused",
    "SchemaState",
    "alembic_config",
    "current_revision",
    "schema_state",
    "upgrade_to_head",
]

#: The newest migration; a test checks that it is Alembic's head.
HEAD_REVISION = "0008"

#: The PostgreSQL advisory lock key that serializes migrations ("daytwo" in ASCII).
MIGRATION_LOCK_KEY = 0x646179747776

_MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine | None = None) -> Config:
    """An Alembic configuration pointing at daytwo's migration scripts."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
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
    #: daytwo's, at a revision before :data:`HEAD_REVISION`: upgraded in place.
    OLDER = "older"
    #: daytwo's, at :data:`HEAD_REVISION`.
    CURRENT = "current"
    #: daytwo's tables stamped with a revision this daytwo does not know: a newer daytwo.
    NEWER = "newer"


class SchemaRefused(Exception):
    """The database is in a state that this opener may not migrate (see SchemaState)."""

    def __init__(self, state: SchemaState, revision: str | None, tables: set[str]) -> None:
        super().__init__(state.value)
        self.state = state
        self.revision = revision
        self.tables = tables


@cache
def known_revisions() -> frozenset[str]:
    """Every revision of daytwo's migration scripts."""
    scripts = ScriptDirectory.from_config(alembic_config())
    return frozenset(script.revision for script in scripts.walk_revisions())


def schema_state(conn: Connection) -> tuple[SchemaState, str | None, set[str]]:
    """The database's state, its Alembic revision and (unless current) its tables."""
    revision = MigrationContext.configure(conn).get_current_revision()
    if revision == HEAD_REVISION:
        return SchemaState.CURRENT, revision, set()
    tables = set(sa.inspect(conn).get_table_names())
    if revision is None:
        return (SchemaState.FOREIGN if tables else SchemaState.EMPTY), None, tables
    if revision in known_revisions():
        return SchemaState.OLDER, revision, tables
    if "instances" in tables:
        return SchemaState.NEWER, revision, tables
    return SchemaState.FOREIGN, revision, tables


def _check(state: SchemaState, revision: str | None, tables: set[str], *, create: bool) -> None:
    if state is SchemaState.EMPTY and create:
        return
    if state in (SchemaState.EMPTY, SchemaState.FOREIGN, SchemaState.NEWER):
        raise SchemaRefused(state, revision, tables)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade_to_head(engine: Engine, *, create: bool = True) -> tuple[str | None, str] | None:
    """Bring the schema to :data:`HEAD_REVISION`; returns (from, to) revisions if it did.

    A no-op when the schema is current. Creates the tables in an empty database only when
    ``create``; raises :class:`SchemaRefused` for an empty database otherwise, and for
    another application's database or a newer daytwo's, before writing anything.
    """
    with engine.connect() as conn:
        state, revision, tables = schema_state(conn)
    if state is SchemaState.CURRENT:
        return None
    _check(state, revision, tables, create=create)
    with engine.connect() as conn:
        conn = conn.execution_options(daytwo_write=True)
        with conn.begin():
            if conn.dialect.name == "postgresql":
                # PostgreSQL has no database-wide write lock; a transaction-scoped advisory
                # lock makes concurrent first openers queue just the same.
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
            # Re-read under the write lock: another process may have migrated meanwhile.
            state, revision, tables = schema_state(conn)
            if state is SchemaState.CURRENT:
                return None
            _check(state, revision, tables, create=create)
            _renumber_slo_revision(conn)
            config = alembic_config(engine)
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    return revision, HEAD_REVISION


def _renumber_slo_revision(conn: Connection) -> None:
    """Step a database stamped by the old numbering back to 0001.

    daytwo releases before flow control numbered the SLO migration 0002; flow control took
    that number and the SLO migration became 0003. A database at the old 0002 has the SLO
    tables and no flow-control tables. Back at 0001 it gets flow control (0002), and 0003
    sees its tables exist and leaves them, with their counts, as they are.
    """
    inspector = sa.inspect(conn)
    if (
        MigrationContext.configure(conn).get_current_revision() == "0002"
        and inspector.has_table("slo_buckets")
        and not inspector.has_table("queues")
    ):
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0001'"))


def head_of_scripts() -> str | None:
    """The head revision according to the migration scripts on disk."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
