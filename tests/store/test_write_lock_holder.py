"""A long wait for SQLite's write lock names the process that really holds it (issue 9,
item 16): a foreign process in ``BEGIN IMMEDIATE`` (here Python's sqlite3 module, as the
``sqlite3`` shell would) holds SQLite's own lock, and daytwo's lock-file holder waits for
it like everyone else."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import daytwo
from daytwo.store import _write_lock

#: Holds SQLite's write lock on the database argv[1] until its stdin closes.
FOREIGN_WRITER = (
    "import sqlite3, sys; conn = sqlite3.connect(sys.argv[1], isolation_level=None); "
    "conn.execute('BEGIN IMMEDIATE'); print('holding', flush=True); sys.stdin.read(); "
    "conn.execute('ROLLBACK')"
)


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Path]:
    """A daytwo SQLite database (WAL mode, migrated)."""
    path = tmp_path / "orders.db"
    daytwo.App(f"sqlite:///{path}").store.close()
    yield path


@pytest.fixture
def foreign_holder(database: Path) -> Iterator[subprocess.Popen[str]]:
    """Another program in the middle of a write transaction on the database."""
    holder = subprocess.Popen(
        [sys.executable, "-c", FOREIGN_WRITER, str(database)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdin is not None
    assert holder.stdout.readline().strip() == "holding"
    try:
        yield holder
    finally:
        if holder.poll() is None:
            holder.stdin.close()
            holder.wait(30)


def _reports(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "daytwo.store"]


def _wait_for_report(caplog: pytest.LogCaptureFixture) -> str:
    deadline = time.monotonic() + 60
    while not _reports(caplog) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _reports(caplog), "no report of the long wait"
    return _reports(caplog)[0]


def test_the_foreign_holder_of_sqlites_lock_is_named_not_the_waiting_daytwo_writer(
    database: Path,
    foreign_holder: subprocess.Popen[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(_write_lock, "SLOW_WAIT_SECONDS", 0.2)
    app = daytwo.App(f"sqlite:///{database}")
    app.store  # noqa: B018  # opened before the watch starts
    queued = _write_lock.WriteLock(f"{database}.lock")  # a second daytwo process's lock
    written = threading.Event()
    entered = threading.Event()

    def daytwo_writer() -> None:  # takes daytwo's lock file, then waits for SQLite's
        with app.store.write() as conn:
            conn.exec_driver_sql("DELETE FROM pauses")
        written.set()

    def next_in_line() -> None:
        with queued.hold():
            entered.set()

    writer = threading.Thread(target=daytwo_writer)
    waiter = threading.Thread(target=next_in_line)
    with caplog.at_level(logging.WARNING, logger="daytwo.store"):
        writer.start()
        time.sleep(0.1)  # the daytwo writer holds the lock file
        waiter.start()
        deadline = time.monotonic() + 60
        while len(_reports(caplog)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not written.is_set() and not entered.is_set()
        assert foreign_holder.stdin is not None
        foreign_holder.stdin.close()
        foreign_holder.wait(30)
        writer.join(30)
        waiter.join(30)
    queued.close()
    app.close()
    assert written.is_set() and entered.is_set()
    reports = _reports(caplog)
    assert len(reports) >= 2, reports
    for report in reports:
        assert f"process {foreign_holder.pid} ({sys.executable}" in report, report
        assert "does not queue on daytwo's lock file" in report, report
    [queued_report] = [r for r in reports if r.startswith("waited") and "for the SQLite" in r]
    assert "holds daytwo's lock file and waits for it too" in queued_report, queued_report


def test_a_lone_daytwo_writer_says_who_holds_sqlites_lock(
    database: Path,
    foreign_holder: subprocess.Popen[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(_write_lock, "SLOW_WAIT_SECONDS", 0.2)
    app = daytwo.App(f"sqlite:///{database}")
    started = threading.Event()

    def daytwo_writer() -> None:
        started.set()
        with app.store.write() as conn:
            conn.exec_driver_sql("DELETE FROM pauses")

    writer = threading.Thread(target=daytwo_writer)
    with caplog.at_level(logging.WARNING, logger="daytwo.store"):
        writer.start()
        report = _wait_for_report(caplog)
        assert foreign_holder.stdin is not None
        foreign_holder.stdin.close()
        writer.join(30)
    app.close()
    assert f"process {foreign_holder.pid} ({sys.executable}" in report, report
    assert f"to write to {database}" in report, report
