"""A bulk job survives a SIGKILL of the worker process running it (issue 12, "Done when"):
2,000 ended instances are restarted in bulk by a worker process that is killed in the
middle of a batch; a second worker finishes the job. Each instance is acted on exactly
once (one restart link and one new instance each, none made twice), and no second of the
job saw more instances acted on than its rate allows."""

from __future__ import annotations

import bisect
from pathlib import Path

import sqlalchemy as sa
from _harness import count_rows, wait_until, worker_pool
from workloads.bulk_app import HELD, build_app

import daytwo
from daytwo import BulkStatus, Selection
from daytwo.store import bulk_items

INSTANCES = 2000
RATE = 400.0
BULK_APP = "workloads.bulk_app:app"


def _ended_instances(app: daytwo.App) -> None:
    app.start_many("parcel", list(range(INSTANCES)), ids=[f"p-{n:04d}" for n in range(INSTANCES)])
    with app.worker(concurrency=8, poll_interval=0.05, queues=[HELD]) as worker:
        worker.drain(timeout=300)
    assert app.store.count_by_status("parcel") == {"SUCCEEDED": INSTANCES}


def _acted(app: daytwo.App, job_id: str) -> int:
    return count_rows(
        app, "SELECT count(*) FROM bulk_items WHERE job_id = :job AND outcome <> 'pending'",
        job=job_id,
    )  # fmt: skip


def test_a_bulk_restart_survives_a_sigkill_acting_on_each_instance_once(
    db_url: str, tmp_path: Path
) -> None:
    app = build_app(db_url)
    _ended_instances(app)
    job = app.bulk("restart", Selection(workflow="parcel"), dry_run=False, rate=RATE,
                   reason="crash test")  # fmt: skip
    assert isinstance(job, daytwo.BulkJob)
    with worker_pool(db_url, tmp_path / "effects.log", tmp_path) as pool:
        first = pool.spawn(concurrency=2, lease_seconds=2.0, app_spec=BULK_APP)
        # Killed in the middle of the second batch of 400.
        wait_until(lambda: _acted(app, job.id) >= 600, timeout=120, what="the job to start")
        first.kill()
        at_kill = _acted(app, job.id)
        assert at_kill < INSTANCES, "the job finished before the kill"
        second = pool.spawn(concurrency=2, lease_seconds=2.0, app_spec=BULK_APP)
        wait_until(lambda: job.progress().finished, timeout=180, what="the job to finish")
        assert second.alive(), pool.outputs()

    progress = job.progress()
    assert (progress.status, progress.selected, progress.done) == (
        BulkStatus.DONE, INSTANCES, INSTANCES,
    ), progress  # fmt: skip
    assert (progress.refused, progress.failed, progress.pending) == (0, 0, 0)
    # Exactly once: one link and one new instance per old one, and no "-restart-2".
    links = count_rows(app, "SELECT count(*) FROM instance_links WHERE kind = 'restarted_from'")
    assert links == INSTANCES
    assert count_rows(app, "SELECT count(DISTINCT linked_id) FROM instance_links") == INSTANCES
    assert count_rows(app, "SELECT count(*) FROM instances WHERE id LIKE '%-restart-2'") == 0
    assert app.store.count_by_status("parcel") == {
        "SUCCEEDED": INSTANCES, "RUNNABLE": INSTANCES,
    }  # fmt: skip
    # The batch the kill interrupted was run again: its attempt is recorded as lost.
    lost = [a for a in app.attempts(job.id) if a.error["type"] == "WorkerLost"]
    assert lost, app.attempts(job.id)

    # The rate: no window of one second holds more than RATE actions.
    with app.store.read() as conn:
        moments = sorted(
            conn.execute(
                sa.select(bulk_items.c.acted_at).where(bulk_items.c.job_id == job.id)
            ).scalars()
        )
    busiest = max(bisect.bisect_left(moments, at + 1.0) - index for index, at in enumerate(moments))
    assert busiest <= RATE, busiest
    app.close()
