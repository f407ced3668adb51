"""Opening a database: URL checks, SQLite settings, and schema migration on first use."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError

from daytwo._errors import StoreUnavailable

__all__ = ["DEFAULT_URL", "open_engine", "resolve_url"]

DEFAULT_URL = "sqlite:///daytwo.db"
#: How long a SQLite writer waits for another process's write lock before failing.
SQLITE_BUSY_TIMEOUT_MS = 30_000

_migrated: set[str] = set()
_migrate_lock = threading.Lock()


def resolve_url(url: str | None) -> str:
    """The URL to use: the argument, else ``$DAYTWO_DATABASE``, else ``sqlite:///daytwo.db``."""
    return url or os.environ.get("DAYTWO_DATABASE") or DEFAULT_URL


def open_engine(url: str, *, migrate: bool = True) -> Engine:
    """Create an engine for ``url`` and bring its schema to the current version.

    Raises :class:`StoreUnavailable` with the fix when the URL is malformed, the backend is
    unsupported or the database cannot be opened.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreUnavailable(
            f"malformed database URL {url!r}; use sqlite:///path/to/file.db "
            "(or postgresql://user:password@host/dbname)"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        engine = _sqlite_engine(url, parsed.database)
    elif backend == "postgresql":
        raise StoreUnavailable(
            f"PostgreSQL is not supported by this release of daytwo ({url!r}); use a sqlite:/// URL"
        )
    else:
        raise StoreUnavailable(
            f"unsupported database backend {backend!r} in {url!r}; use sqlite:///path/to/file.db"
        )
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except DatabaseError as exc:
        raise StoreUnavailable(
            f"cannot open database {url!r}: {exc.orig}; check that the path exists and is "
            "writable, or pass another URL with --database / $DAYTWO_DATABASE"
        ) from None
    if migrate:
        _migrate_once(engine, url)
    return engine


def _sqlite_engine(url: str, database: str | None) -> Engine:
    if not database or database == ":memory:":
        raise StoreUnavailable(
            f"daytwo needs a SQLite file, not an in-memory database ({url!r}): workers and "
            "clients share it; use sqlite:///path/to/file.db"
        )
    directory = Path(database).expanduser().resolve().parent
    if not directory.is_dir():
        raise StoreUnavailable(
            f"cannot open database {url!r}: directory {str(directory)!r} does not exist; "
            "create it or choose another path"
        )
    engine = sa.create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        pool_size=20,
        max_overflow=40,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # We issue BEGIN ourselves (below); the driver's implicit transactions would start
        # writes as DEFERRED and fail with "database is locked" on lock upgrade.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        # Only takes effect on a new file. Each commit writes whole pages to the WAL, and a
        # durable point touches a few pages (instance row, history, transitions); 2 KiB
        # pages cut the bytes flushed per commit without splitting typical rows.
        cursor.execute("PRAGMA page_size = 2048")
        cursor.execute("PRAGMA journal_mode = WAL")
        # FULL: a commit is on disk before it is acknowledged, also across power loss.
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # Writers take the write lock up front so concurrent writers queue on busy_timeout
        # instead of failing; readers use a deferred transaction and never block writers.
        if conn.get_execution_options().get("daytwo_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")

    return engine


def _migrate_once(engine: Engine, url: str) -> None:
    with _migrate_lock:
        if url in _migrated:
            return
        from daytwo.store._migrate import upgrade_to_head

        upgrade_to_head(engine)
        _migrated.add(url)
