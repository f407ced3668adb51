"""Opening a database: which URL, URL checks, SQLite settings, and the schema on first use.

Which database a process uses (one rule for the API and every command): ``--database``,
else ``$DAYTWO_DATABASE``, else the URL given in code to ``App(url)``, else
``sqlite:///daytwo.db``. A relative SQLite path written in code is relative to the file of
the module that created the App, so every process that imports it finds the same file
whatever its current directory; one given on the command line or in ``$DAYTWO_DATABASE``
is relative to the current directory. The URL kept on the App is absolute.

Only an App allowed to create a database (``create=True``: user code, workers, ``daytwo
start``, the demo) creates daytwo's tables, and only in an empty database. Every App
upgrades a daytwo database of an older schema in place; a database of another
application, or one stamped by a newer daytwo, is refused in one line.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import threading
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError
from sqlalchemy.pool import NullPool

from daytwo._errors import InvalidInput, StoreUnavailable

if TYPE_CHECKING:  # imported when a database is opened: Alembic is not needed before
    from daytwo.store._migrate import SchemaState


# Alembic reports every step at INFO ("setup plugin ...", "Context impl SQLiteImpl.",
# "Running upgrade ..."), some of it while being imported, even when daytwo only reads the
# revision: noise at every worker start. This module is imported before daytwo imports
# Alembic (daytwo.store's package imports it first; _migrate is imported lazily), so the
# level is set in time. daytwo logs one line of its own when it creates or upgrades the
# tables. An application that configured the "alembic" logger itself keeps its own level.
if logging.getLogger("alembic").level == logging.NOTSET:
    logging.getLogger("alembic").setLevel(logging.WARNING)

__all__ = [
    "DATABASE_ENV",
    "DEFAULT_URL",
    "InvalidDatabaseUrl",
    "NoDatabase",
    "NotADaytwoDatabase",
    "SchemaTooNew",
    "absolute_url",
    "display_url",
    "open_engine",
    "resolve_url",
]

log = logging.getLogger("daytwo.store")

DEFAULT_URL = "sqlite:///daytwo.db"
#: The environment variable naming the database (beats the URL given in code).
DATABASE_ENV = "DAYTWO_DATABASE"
#: How long a SQLite writer waits for another process's write lock before failing.
SQLITE_BUSY_TIMEOUT_MS = 30_000

#: How long PostgreSQL lets a daytwo session sit idle inside a transaction (ms).
IDLE_IN_TRANSACTION_MS = 15_000

_migrate_lock = threading.Lock()


class InvalidDatabaseUrl(StoreUnavailable, InvalidInput):
    """The database URL is malformed or names a backend daytwo does not support.

    A :class:`StoreUnavailable` (as before) and an :class:`InvalidInput`: it is bad usage,
    not an unreachable database (the command line exits 2).
    """


class NoDatabase(StoreUnavailable):
    """There is no daytwo database at the URL, and this App may not create one."""


class NotADaytwoDatabase(StoreUnavailable):
    """The database belongs to something else; daytwo neither reads nor changes it."""


class SchemaTooNew(StoreUnavailable):
    """The database was made by a newer daytwo than this one."""


_EXAMPLES = "use sqlite:///path/to/file.db or postgresql://user:password@host/dbname"
#: ``scheme://user:password@`` up to the last ``@`` (a password may contain ``@``).
_CREDENTIALS = re.compile(r"^(?P<head>[^:/?#]+://[^:/?#@]*:)(?P<password>.*)@(?=[^@]*$)")
_PASSWORD_PARAMETER = re.compile(r"(?i)([?&]password=)[^&]*")


def display_url(url: str) -> str:
    """``url`` as it may be shown in messages and logs: any password replaced by ``***``.

    Works on the text, so a URL that does not even parse is masked too.
    """
    shown = _CREDENTIALS.sub(r"\g<head>***@", url)
    return _PASSWORD_PARAMETER.sub(r"\1***", shown)


def absolute_url(url: str, base: Path) -> str:
    """``url`` with a relative SQLite path made absolute against ``base`` (others as given).

    A URL that does not parse is returned as it is: opening it explains the problem.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return url
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return url
    if database.startswith("file:"):  # a URI filename: SQLite resolves it itself
        return url
    path = Path(database).expanduser()
    if path.is_absolute() and str(path) == database:
        return url
    return parsed.set(database=os.path.normpath(base / path)).render_as_string(hide_password=False)


def resolve_url(url: str | None = None, *, relative_to: Path | None = None) -> str:
    """The absolute URL of the database to use when ``url`` is the one given in code.

    ``$DAYTWO_DATABASE`` wins (relative to the current directory), then ``url`` (a relative
    SQLite path in it is relative to ``relative_to``, default the current directory), then
    ``sqlite:///daytwo.db`` in the current directory. The command line's ``--database``
    beats all three (see :func:`absolute_url`).
    """
    from_env = os.environ.get(DATABASE_ENV)
    if from_env:
        return absolute_url(from_env, Path.cwd())
    if url:
        return absolute_url(url, relative_to or Path.cwd())
    return absolute_url(DEFAULT_URL, Path.cwd())


def open_engine(url: str, *, migrate: bool = True, create: bool = True) -> Engine:
    """Create an engine for ``url`` and bring its schema to the current version.

    ``create``: create daytwo's tables in an empty database; otherwise an empty (or, for
    SQLite, missing) database raises :class:`NoDatabase`. ``migrate=False`` opens the
    database as it is (for tests and tools). Raises :class:`InvalidDatabaseUrl` for a
    malformed URL or an unsupported backend, :class:`NotADaytwoDatabase` for another
    application's database, :class:`SchemaTooNew` for a newer daytwo's, and
    :class:`StoreUnavailable` with the fix when the database cannot be opened.
    """
    shown = display_url(url)
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise InvalidDatabaseUrl(f"malformed database URL {shown!r}; {_EXAMPLES}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        engine = _sqlite_engine(url, parsed.database, create=create, check=migrate)
    elif backend in ("postgresql", "postgres"):
        engine = _postgres_engine(url, parsed)
    else:
        raise InvalidDatabaseUrl(
            f"unsupported database backend {backend!r} in {shown!r}; daytwo runs on SQLite "
            f"and PostgreSQL: {_EXAMPLES}"
        )
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except DatabaseError as exc:
        engine.dispose()
        raise StoreUnavailable(_open_failure(url, backend, exc)) from None
    if migrate:
        try:
            _migrate(engine, url, create=create)
        except BaseException:
            engine.dispose()
            raise
    return engine


def _sqlite_engine(url: str, database: str | None, *, create: bool, check: bool) -> Engine:
    if not database or database == ":memory:":
        raise InvalidDatabaseUrl(
            f"daytwo needs a SQLite file, not an in-memory database ({display_url(url)!r}): "
            "workers and clients share it; use sqlite:///path/to/file.db"
        )
    path = Path(database).expanduser()
    if check and not create and not path.exists():
        raise NoDatabase(
            f"no daytwo database at {str(path.resolve())!r}; start an instance or run a "
            "worker to create it, or check --database / $DAYTWO_DATABASE"
        )
    directory = path.resolve().parent
    if not directory.is_dir():
        raise StoreUnavailable(
            f"cannot open database {display_url(url)!r}: directory {str(directory)!r} does "
            "not exist; create it or choose another path"
        )
    if check and path.exists():
        # Look before daytwo's connection settings touch the file (WAL mode is stored in
        # it): another application's database must be left exactly as it is.
        _check_existing_sqlite(url, path, create=create)
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
    shown = display_url(url)
    if driver not in ("psycopg", "psycopg2", ""):
        raise InvalidDatabaseUrl(
            f"unsupported PostgreSQL driver {driver!r} in {shown!r}; daytwo uses psycopg 3: "
            "write postgresql://user:password@host/dbname"
        )
    if not parsed.database:
        raise InvalidDatabaseUrl(
            f"no database name in {shown!r}; write postgresql://user:password@host/dbname"
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


def _open_failure(url: str, backend: str, exc: DatabaseError) -> str:
    reason = _reason(exc)
    if backend == "sqlite":
        return (
            f"cannot open database {display_url(url)!r}: {reason}; check that the path exists "
            "and is writable, or pass another URL with --database / $DAYTWO_DATABASE"
        )
    shown = display_url(url)
    if "password authentication failed" in reason or "no password supplied" in reason:
        fix = "check the user name and password in the URL"
    elif "does not exist" in reason and "database" in reason:
        fix = "create the database (createdb NAME) or name an existing one in the URL"
    elif "role" in reason and "does not exist" in reason:
        fix = "create the role (createuser NAME) or use an existing user in the URL"
    else:
        fix = "check that the server is running and reachable at the host and port in the URL"
    return f"cannot connect to PostgreSQL at {shown!r}: {reason}; {fix}"


def _check_existing_sqlite(url: str, path: Path, *, create: bool) -> None:
    """Refuse an existing SQLite file that daytwo may not use, reading it read-only."""
    from daytwo.store._migrate import SchemaState, schema_state

    uri = f"file:{urllib.parse.quote(str(path.resolve()))}?mode=ro"
    probe = sa.create_engine(
        "sqlite://", creator=lambda: sqlite3.connect(uri, uri=True), poolclass=NullPool
    )
    try:
        with probe.connect() as conn:
            state, revisions, tables = schema_state(conn)
    except DatabaseError as exc:
        raise StoreUnavailable(_open_failure(url, "sqlite", exc)) from None
    finally:
        probe.dispose()
    if state is not SchemaState.OLDER and state is not SchemaState.CURRENT:
        _refuse(state, revisions, tables, url, create=create)


def _refuse(
    state: SchemaState, revisions: frozenset[str], tables: set[str], url: str, *, create: bool
) -> None:
    """Raise the error for a database in ``state`` that this App may not use (if any)."""
    from daytwo.store._migrate import SchemaState

    where = _where(url)
    if state is SchemaState.EMPTY and not create:
        raise NoDatabase(
            f"no daytwo database at {where} (the database is empty); start an instance or "
            "run a worker to create it, or check --database / $DAYTWO_DATABASE"
        )
    if state is SchemaState.FOREIGN:
        listed = ", ".join(sorted(tables)[:4]) + (", ..." if len(tables) > 4 else "")
        stamp = f", and an alembic_version of {_quoted(revisions)}" if revisions else ""
        raise NotADaytwoDatabase(
            f"{where} is not a daytwo database (it has other tables: {listed}{stamp}); "
            "daytwo leaves it alone: pass the URL of daytwo's database, or a new file or an "
            "empty database for a new one"
        )
    if state is SchemaState.NEWER:
        raise SchemaTooNew(_too_new(where, revisions))


def _quoted(revisions: frozenset[str]) -> str:
    return ", ".join(repr(revision) for revision in sorted(revisions))


def _too_new(where: str, revisions: frozenset[str]) -> str:
    """Why a database stamped with revisions this daytwo does not know is refused."""
    from daytwo._version import __version__
    from daytwo.store._branches import ENTRY_POINT_GROUP, labels_not_installed
    from daytwo.store._migrate import head_revisions, known_revisions, shown_revisions

    unknown = revisions - known_revisions()
    missing = labels_not_installed(unknown)
    if missing:
        return (
            f"the database at {where} has tables of the package(s) {', '.join(missing)} "
            f"(schema revision {_quoted(unknown)}), whose migrations are not installed here; "
            f"install the package that declares them ({ENTRY_POINT_GROUP!r} entry points), "
            "or use another database"
        )
    return (
        f"the database at {where} was made by a newer daytwo (schema revision "
        f"{_quoted(unknown)}; daytwo {__version__} knows revisions up to "
        f"{shown_revisions(head_revisions())}); upgrade daytwo (pip install --upgrade "
        "daytwo), or use another database"
    )


def _where(url: str) -> str:
    """The database for a message: a SQLite file's path, else the URL (password hidden)."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return repr(display_url(url))
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return repr(str(Path(parsed.database).expanduser().resolve()))
    return repr(display_url(url))


def _migrate(engine: Engine, url: str, *, create: bool) -> None:
    # No per-process memo of migrated URLs: a file deleted and created again under the
    # same name must be migrated again. Checking the revision costs one query per App.
    with _migrate_lock:
        from daytwo.store._migrate import SchemaRefused, upgrade_to_head

        try:
            done = upgrade_to_head(engine, create=create)
        except SchemaRefused as refused:
            _refuse(refused.state, refused.revisions, refused.tables, url, create=create)
            raise StoreUnavailable(f"cannot use the database at {_where(url)}") from None
        except DatabaseError as exc:
            reason = _reason(exc)
            fix = "check the database's state and the URL"
            if "permission denied" in reason:
                fix = (
                    "connect as the database owner once to create the tables, or GRANT CREATE "
                    "ON SCHEMA public to this user"
                )
            shown = display_url(url)
            raise StoreUnavailable(
                f"cannot create or upgrade daytwo's tables in {shown!r}: {reason}; {fix}"
            ) from None
        if done is not None:
            from daytwo.store._migrate import shown_revisions

            before, after = done
            what = "created daytwo's tables"
            if before:
                what = f"upgraded from {shown_revisions(before)}"
            log.info("%s (schema %s) in %s", what, shown_revisions(after), _where(url))
