"""A purge with archives killed by SIGKILL half-way loses nothing: every instance that was
deleted is in a complete archive file, the rest are still stored, and the audit row counts
exactly what was deleted."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

import daytwo
from daytwo.store import read_archive

INSTANCES = 400


def test_a_purge_killed_half_way_loses_nothing_not_archived(db_url: str, tmp_path: Path) -> None:
    app = daytwo.App(db_url)

    @app.workflow()
    def note(ctx: daytwo.Context, n: int) -> int:
        return n

    ids = [f"n{i:04d}" for i in range(INSTANCES)]
    app.start_many(note, list(range(INSTANCES)), ids=ids)
    with app.worker(concurrency=8) as worker:
        worker.drain()
    archive = tmp_path / "archive"
    env = {**os.environ, "DAYTWO_DATABASE": db_url, "COLUMNS": "200"}
    purge = subprocess.Popen(
        [sys.executable, "-m", "daytwo", "purge", "--before", "0s", "--yes",
         "--archive", str(archive), "--batch", "5", "--reason", "crash test"],
        env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert purge.stderr is not None
    for line in purge.stderr:  # killed in full flow, after a few batches
        if line.startswith("purged") and int(line.split()[1]) >= 50:
            break
    time.sleep(random.uniform(0.0, 0.05))
    purge.send_signal(signal.SIGKILL)
    purge.wait(30)
    with app.store.read() as conn:
        stored = set(conn.execute(sa.text("SELECT id FROM instances")).scalars())
        history = conn.execute(sa.text("SELECT COUNT(*) FROM history")).scalar_one()
    archived = {record["instance"]["id"] for record in read_archive(archive)}
    assert stored | archived == set(ids)  # nothing lost
    assert 50 <= len(set(ids) - stored) < INSTANCES, "the kill came after the end"
    assert not (set(ids) - stored) - archived  # every deleted one is archived
    assert history == 0  # this workflow has no steps; its transitions went with it
    with app.store.read() as conn:
        orphans = conn.execute(
            sa.text("SELECT COUNT(*) FROM transitions WHERE instance_id NOT IN "
                    "(SELECT id FROM instances)")
        ).scalar_one()  # fmt: skip
    assert orphans == 0
    [entry] = app.client.audit.list(action="purge")
    assert entry.outcome == daytwo.AuditOutcome.RUNNING  # it never finished
    assert entry.count == INSTANCES - len(stored)
    # Running it again finishes the job; the duplicates are in other files, never lost.
    report = app.purge("0s", dry_run=False, archive_dir=archive)
    assert report.deleted == len(stored)
    assert {record["instance"]["id"] for record in read_archive(archive)} == set(ids)
    app.close()
