"""Schema migrations with Alembic, run automatically when a database is opened.

A database made by an older daytwo is upgraded in place. The upgrade runs under SQLite's
write lock (``BEGIN IMMEDIATE``) or a PostgreSQL advisory lock, so that several processes
opening a new database at once serialize instead of racing to create the same tables.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

__all__ = ["HEAD_REVISION", "alembic_config", "current_revision", "upgrade_to_head"]

#: The newest migration; a test checks that it is Alembic's head.
HEAD_REVISION = "0005"

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


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade_to_head(engine: Engine) -> None:
    """Bring the schema to :data:`HEAD_REVISION` (a no-op when it is there already)."""
    if current_revision(engine) == HEAD_REVISION:
        return
    with engine.connect() as conn:
        conn = conn.execution_options(daytwo_write=True)
        with conn.begin():
            if conn.dialect.name == "postgresql":
                # PostgreSQL has no database-wide write lock; a transaction-scoped advisory
                # lock makes concurrent first openers queue just the same.
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
            # Re-read under the write lock: another process may have migrated meanwhile.
            if MigrationContext.configure(conn).get_current_revision() == HEAD_REVISION:
                return
            _renumber_slo_revision(conn)
            config = alembic_config(engine)
            config.attributes["connection"] = conn
            command.upgrade(config, "head")


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
