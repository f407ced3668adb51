"""Opening a database: URL checks, SQLite settings, and schema migration on first use."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError

from daytwo._errors import StoreUnavailable

__all__ = ["DEFAULT_URL", "open_engine", "resolve_url"]

DEFAULT_URL = "sqlite:///daytwo.db"
#: How long a SQLite writer waits for another process's write lock before failing.
SQLITE_BUSY_TIMEOUT_MS = 30_000

#: How long PostgreSQL lets a daytwo session sit idle inside a transaction (ms).
IDLE_IN_TRANSACTION_MS = 15_000

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
    elif backend in ("postgresql", "postgres"):
        engine = _postgres_engine(url, parsed)
    else:
        raise StoreUnavailable(
            f"unsupported database backend {backend!r} in {url!r}; use sqlite:///path/to/file.db "
            "or postgresql://user:password@host/dbname"
        )
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except DatabaseError as exc:
        engine.dispose()
        raise StoreUnavailable(_open_failure(url, backend, exc)) from None
    if migrate:
        _migrate(engine, url)
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


def _postgres_engine(url: str, parsed: URL) -> Engine:
    driver = parsed.get_driver_name()
    if driver not in ("psycopg", "psycopg2", ""):
        raise StoreUnavailable(
            f"unsupported PostgreSQL driver {driver!r} in {url!r}; daytwo uses psycopg 3: "
            "write postgresql://user:password@host/dbname"
        )
    if not parsed.database:
        raise StoreUnavailable(
            f"no database name in {url!r}; write postgresql://user:password@host/dbname"
        )
    # Whatever driver the URL names, daytwo talks to PostgreSQL through psycopg 3.
    parsed = parsed.set(drivername="postgresql+psycopg")
    return sa.create_engine(
        parsed,
        # A worker uses a handful of connections (its writer, readers, heartbeat); the
        # overflow absorbs bursts from many concurrent API callers without holding them.
        pool_size=10,
        max_overflow=30,
        # After a server restart or a dropped connection the pool would hand out dead
        # connections; a ping on checkout replaces them transparently.
        pool_pre_ping=True,
        pool_recycle=3600,
        connect_args={
            "connect_timeout": 10,
            "application_name": "daytwo",
            # daytwo's transactions last milliseconds. One left open by a stalled process
            # (SIGSTOP, a long GC pause) would block other workers on its row locks until
            # it resumes; the server ends such a session instead, and the write fails and
            # is retried like any other.
            "options": f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS}",
        },
    )


def _reason(exc: DatabaseError) -> str:
    """The driver's own first line: the part of the error that says what went wrong."""
    return str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)


def _shown(url: str) -> str:
    """The URL for an error message, password hidden."""
    return make_url(url).render_as_string(hide_password=True)


def _open_failure(url: str, backend: str, exc: DatabaseError) -> str:
    reason = _reason(exc)
    if backend == "sqlite":
        return (
            f"cannot open database {url!r}: {reason}; check that the path exists and is "
            "writable, or pass another URL with --database / $DAYTWO_DATABASE"
        )
    shown = _shown(url)
    if "password authentication failed" in reason or "no password supplied" in reason:
        fix = "check the user name and password in the URL"
    elif "does not exist" in reason and "database" in reason:
        fix = "create the database (createdb NAME) or name an existing one in the URL"
    elif "role" in reason and "does not exist" in reason:
        fix = "create the role (createuser NAME) or use an existing user in the URL"
    else:
        fix = "check that the server is running and reachable at the host and port in the URL"
    return f"cannot connect to PostgreSQL at {shown!r}: {reason}; {fix}"


def _migrate(engine: Engine, url: str) -> None:
    # No per-process memo of migrated URLs: a file deleted and created again under the
    # same name must be migrated again. Checking the revision costs one query per App.
    with _migrate_lock:
        from daytwo.store._migrate import upgrade_to_head

        try:
            upgrade_to_head(engine)
        except DatabaseError as exc:
            reason = _reason(exc)
            fix = "check the database's state and the URL"
            if "permission denied" in reason:
                fix = (
                    "connect as the database owner once to create the tables, or GRANT CREATE "
                    "ON SCHEMA public to this user"
                )
            shown = _shown(url)
            raise StoreUnavailable(
                f"cannot create or upgrade daytwo's tables in {shown!r}: {reason}; {fix}"
            ) from None
