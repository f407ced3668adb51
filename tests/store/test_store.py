"""The store: migrations, SQLite settings, bad database URLs."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import daytwo
from daytwo.api import _tables as _api_tables  # noqa: F401 -- its table joins the metadata
from daytwo.incidents import _tables as _incident_tables  # noqa: F401 -- its tables join
from daytwo.slo import _tables as _slo_tables  # noqa: F401 -- its tables join the metadata
from daytwo.store import _write_lock
from daytwo.store._migrate import database_revisions, head_revisions
from daytwo.store._schema import metadata


def test_migrations_build_exactly_the_declared_schema(app: daytwo.App) -> None:
    """Every branch at its head (core and packages) builds the tables daytwo declares."""
    engine = app.store.engine
    assert database_revisions(engine) == head_revisions()
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


@pytest.mark.backends("sqlite")
def test_sqlite_runs_in_wal_with_full_sync(app: daytwo.App) -> None:
    with app.store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() >= 1000


def test_database_from_the_first_release_is_upgraded_in_place(tmp_path: Path) -> None:
    """A database written by daytwo 0.1.0 opens, migrates to head and keeps its data."""
    path = tmp_path / "old.db"
    dump = Path(__file__).parents[1] / "fixtures" / "daytwo-0.1.0.sql"
    with sqlite3.connect(path) as conn:
        conn.executescript(dump.read_text())
    app = daytwo.App(f"sqlite:///{path}")

    @app.step
    def reserve(x: str) -> str:
        return f"r-{x}"

    @app.workflow(name="order", version="0.1.0")
    def order(ctx: daytwo.Context, x: str) -> dict[str, object]:
        return {"r": reserve(x), "approval": ctx.wait_for_signal("approval")}

    assert database_revisions(app.store.engine) == head_revisions()
    assert app.get("waiting-1").status == "WAITING"
    app.signal("waiting-1", "approval", "yes")
    with app.worker(concurrency=1):
        assert app.result("waiting-1", timeout=10) == {"r": "r-w", "approval": "yes"}


def test_many_processes_opening_a_new_file_migrate_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'race.db'}"
    code = "import daytwo, sys; app = daytwo.App(sys.argv[1]); print(len(app.list()))"
    processes = [
        subprocess.Popen([sys.executable, "-c", code, url], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=60)[0].strip() for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0, 0]
    assert outputs == ["0", "0", "0", "0"]


def test_a_file_deleted_and_made_again_in_one_process_is_migrated_again(tmp_path: Path) -> None:
    path = tmp_path / "again.db"
    for _ in range(2):
        app = daytwo.App(f"sqlite:///{path}")

        @app.workflow(name="noop")
        def noop(ctx: daytwo.Context, x: int) -> int:
            return x

        assert app.run("noop", 3) == 3
        app.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def test_a_long_wait_for_the_sqlite_write_lock_names_the_stopped_process_holding_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(_write_lock, "SLOW_WAIT_SECONDS", 0.2)
    path = str(tmp_path / "orders.db.lock")
    code = (
        "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
        "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.read()"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdin is not None
    assert holder.stdout.readline().strip() == "held"
    os.kill(holder.pid, signal.SIGSTOP)
    lock = _write_lock.WriteLock(path)
    entered = threading.Event()

    def write() -> None:
        with lock.hold():
            entered.set()

    def reported() -> list[str]:
        return [r.getMessage() for r in caplog.records if "write lock" in r.getMessage()]

    writer = threading.Thread(target=write)
    with caplog.at_level(logging.WARNING, logger="daytwo.store"):
        writer.start()
        deadline = time.monotonic() + 60
        while not reported() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not entered.is_set()
        os.kill(holder.pid, signal.SIGCONT)
        holder.stdin.close()  # the holder exits, and its lock goes with it
        holder.wait(30)
        writer.join(30)
    lock.close()
    assert entered.is_set()
    assert f"process {holder.pid}" in reported()[0]
    assert "stopped" in reported()[0]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite:////nonexistent-dir/x.db", "does not exist"),
        ("not a url", "malformed database URL"),
        ("mysql://u@h/db", "unsupported database backend"),
        ("sqlite://", "needs a SQLite file"),
    ],
)
def test_bad_database_urls_are_refused_with_the_fix(url: str, message: str) -> None:
    app = daytwo.App(url)
    with pytest.raises(daytwo.StoreUnavailable, match=message):
        app.list()


def test_database_from_the_release_whose_slo_migration_was_0002_is_upgraded_in_place(
    tmp_path: Path,
) -> None:
    """Before flow control the SLO migration was 0002: such a database upgrades in place,
    gets the flow-control tables and keeps its SLO counts (not counted a second time)."""
    path = tmp_path / "slo-0002.db"
    dump = Path(__file__).parents[1] / "fixtures" / "daytwo-slo-0002.sql"
    succeeded = (
        "SELECT sum(events) FROM slo_buckets"
        " WHERE resolution = 60 AND series LIKE 'end:SUCCEEDED:%'"
    )
    with sqlite3.connect(path) as conn:
        conn.executescript(dump.read_text())
        assert conn.execute(succeeded).fetchone() == (1,)
    app = daytwo.App(f"sqlite:///{path}")

    @app.step
    def reserve(x: str) -> str:
        return f"r-{x}"

    @app.workflow(name="order", version="0.2.0")
    def order(ctx: daytwo.Context, x: str) -> dict[str, object]:
        return {"r": reserve(x), "approval": ctx.wait_for_signal("approval")}

    assert database_revisions(app.store.engine) == head_revisions()
    assert app.flow.list_pauses() == []
    assert app.get("done-1").status == "SUCCEEDED"
    app.signal("waiting-1", "approval", "yes")
    with app.worker(concurrency=1):
        assert app.result("waiting-1", timeout=10) == {"r": "r-w", "approval": "yes"}
    app.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute(succeeded).fetchone() == (2,)
