"""Throwaway PostgreSQL clusters and databases for the tests (``scripts/postgres``)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

SCRIPT = str(Path(__file__).resolve().parent.parent / "scripts" / "postgres")
#: Read at import: some tests point ``tempfile`` at their private directory.
SYSTEM_TMP = tempfile.gettempdir()


@contextmanager
def private_cluster(prefix: str) -> Iterator[tuple[str, Path]]:
    """Start a cluster of its own (fsync off); yield its URL and data directory.

    The server is stopped and its directory removed on exit, and also by a guard process
    if this process is killed (SIGTERM or even SIGKILL, which run no teardown).
    """
    # Not under pytest's private temporary directory: as root, the server runs as the
    # postgres user, which must be able to reach its data directory.
    directory = Path(tempfile.mkdtemp(prefix=prefix, dir=SYSTEM_TMP))
    directory.chmod(0o755)
    started = subprocess.run(
        [SCRIPT, "start", str(directory), "--fast"], capture_output=True, text=True, check=False
    )
    if started.returncode != 0:
        shutil.rmtree(directory, ignore_errors=True)
        raise RuntimeError(f"could not start PostgreSQL: {started.stderr}")
    guard = _stop_when_gone(directory)
    try:
        yield started.stdout.strip(), directory
    finally:
        subprocess.run([SCRIPT, "stop", str(directory)], check=False)
        shutil.rmtree(directory, ignore_errors=True)
        assert guard.stdin is not None
        guard.stdin.close()
        guard.wait(timeout=60)


def _stop_when_gone(directory: Path) -> subprocess.Popen[bytes]:
    """A process of its own session that stops the server once this one is gone.

    It waits for the end of a pipe that only this process holds, which comes however this
    process ends.
    """
    code = (
        "import shutil, subprocess, sys; sys.stdin.buffer.read(); "
        "subprocess.run([sys.argv[1], 'stop', sys.argv[2]], check=False); "
        "shutil.rmtree(sys.argv[2], ignore_errors=True)"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, SCRIPT, str(directory)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def client_program(name: str) -> str:
    """The path of PostgreSQL's ``name`` (``psql``, ``pg_dump``): from the newest server
    installed where ``scripts/postgres`` finds it, else from ``$PATH``."""
    installed = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    found = str(installed[-1]) if installed else shutil.which(name)
    if found is None:
        raise RuntimeError(f"no {name} found; install PostgreSQL (scripts/postgres install)")
    return found


def database_url(server: str, name: str) -> str:
    """The URL of database ``name`` on ``server``."""
    return sa.make_url(server).set(database=name).render_as_string(hide_password=False)


def admin(server: str, sql: str) -> None:
    """Run ``sql`` on ``server`` outside a transaction (CREATE/DROP DATABASE, ALTER ...)."""
    engine = sa.create_engine(
        sa.make_url(server).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(sql)
    finally:
        engine.dispose()


@contextmanager
def new_database(server: str, prefix: str, template: str | None = None) -> Iterator[str]:
    """A new database on ``server`` (a copy of ``template``, else empty), dropped on exit."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin(server, f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
    try:
        yield database_url(server, name)
    finally:
        admin(server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
