"""A deadline is met exactly once under SIGKILL (issue 13, item 5): instances whose short
deadline passes while they wait or run, a worker process killed at random moments around
it and replaced; every instance ends with one ``deadline`` row, its completed step
compensated once, and one ``instance.deadline_exceeded`` event."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import sqlalchemy as sa
from _harness import WorkerProcess, wait_until, worker_pool
from workloads.deadline_app import build_app

from daytwo.store import TERMINAL_STATUSES, EventKind, InstanceDeadlines, events_after
from daytwo.store._schema import history

SEED = int(os.environ.get("DAYTWO_CRASH_SEED", "20261201"))
INSTANCES = 24
KILLS = 3
APP_SPEC = "workloads.deadline_app:app"


def test_a_deadline_is_met_once_when_workers_are_killed_around_it(
    db_url: str, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    app = build_app(db_url)
    queries = InstanceDeadlines(app.store)  # opens (creates) the database first
    with worker_pool(db_url, tmp_path / "effects.log", tmp_path) as pool:

        def spawn() -> WorkerProcess:
            worker = pool.spawn(app_spec=APP_SPEC, concurrency=8, lease_seconds=1.0)
            wait_until(lambda: "started (concurrency" in worker.output(), timeout=60,
                       what="the worker to start")  # fmt: skip
            return worker

        worker = spawn()
        for n in range(INSTANCES):
            app.start("late", n, id=f"late-{n}", timeout=rng.uniform(0.5, 3.0))
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.3, 1.5))
            worker.kill()
            # The dead worker holds the deadline service's lease for a while: meet what
            # is due from here meanwhile (the same compare-and-set the service makes).
            for instance_id in queries.due(time.time()):
                queries.meet(instance_id, time.time())
            worker = spawn()

        def ended() -> bool:
            for instance_id in queries.due(time.time()):
                queries.meet(instance_id, time.time())
            return all(app.get(f"late-{n}").status in TERMINAL_STATUSES for n in range(INSTANCES))

        wait_until(ended, timeout=120, interval=0.2, what="every instance to end")
        assert worker.terminate(timeout=30) == 0, pool.outputs()
    with app.store.read() as conn:
        rows = conn.execute(
            sa.select(history.c.instance_id, history.c.kind).order_by(history.c.seq)
        ).all()
        events = events_after(conn, 0, [EventKind.INSTANCE_DEADLINE_EXCEEDED], limit=1000)
    compensated = 0
    for n in range(INSTANCES):
        instance = app.get(f"late-{n}")
        assert instance.error is not None and instance.error["type"] == "DeadlineExceeded"
        kinds = [kind for instance_id, kind in rows if instance_id == instance.id]
        assert kinds.count("deadline") == 1, (instance.id, kinds)
        # Its hold is undone once; one whose deadline came before a worker ran it has none.
        held = kinds[:1] == ["step"]
        assert kinds.count("compensation") == int(held), (instance.id, kinds)
        assert instance.status == ("COMPENSATED" if held else "FAILED"), instance
        compensated += held
    assert compensated >= INSTANCES // 2, pool.outputs()  # most started before their deadline
    assert sorted(event.key for event in events) == sorted(f"late-{n}" for n in range(INSTANCES))
