"""SQLite: the hot writers leave WAL checkpoints to a thread of their own (``_checkpoints.py``)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from _harness import wait_until

import daytwo

pytestmark = pytest.mark.backends("sqlite")


def _order(app: daytwo.App) -> None:
    @app.step
    def double(x: int) -> int:
        return 2 * x

    @app.workflow(name="order")
    def order(ctx: daytwo.Context, x: int) -> int:
        return double(x)


def test_the_log_is_checkpointed_by_the_thread_not_by_the_hot_writers(
    app: daytwo.App, db_url: str
) -> None:
    _order(app)
    app.start_many("order", range(2000))
    with app.worker(concurrency=8) as worker:
        worker.drain(timeout=120)
    store = app.store
    for connection in (store._starts._connection, store._applier._connection):
        cursor = connection.cursor()
        cursor.execute("PRAGMA wal_autocheckpoint")
        assert cursor.fetchone()[0] == 0
        cursor.close()
    checkpointer = store._checkpointer
    assert checkpointer is not None
    wait_until(lambda: checkpointer.checkpoints > 0, timeout=30, what="a checkpoint")
    with store.read() as conn:  # what the thread reports: the log is copied into the file
        busy, frames, copied = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
    assert busy == 0 and copied == frames
    database = Path(db_url.removeprefix("sqlite:///"))
    assert os.path.getsize(database) > 100_000  # the instances reached the database file
    app.close()
    assert "daytwo-checkpoint" not in {t.name for t in threading.enumerate()}
