"""Schedules ticked by three worker processes on the real clock, one of them SIGKILLed:
every tick from the first to the last starts exactly one instance (issue 13 item 4).

It waits for real ticks (a schedule of one second) but asserts no duration: only that
the ticks are consecutive, each started once, none lost to the kill.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from _harness import wait_until, worker_pool

import daytwo
from daytwo import TickOutcome
from daytwo.store import schedule_ticks

APP = "workloads.schedule_app:app"


def _ticks(app: daytwo.App) -> list[tuple[float, str, str | None]]:
    with app.store.read() as conn:
        rows = conn.execute(
            sa.select(schedule_ticks.c.tick_at, schedule_ticks.c.outcome,
                      schedule_ticks.c.instance_id).order_by(schedule_ticks.c.tick_at)
        ).all()  # fmt: skip
    return [(row[0], row[1], row[2]) for row in rows]


def test_three_worker_processes_start_each_tick_once_through_a_kill(
    db_url: str, tmp_path: Path
) -> None:
    app = daytwo.App(db_url)
    app.store  # noqa: B018 -- creates the database before the workers race to
    try:
        with worker_pool(db_url, tmp_path / "effects.log", tmp_path) as pool:
            workers = [pool.spawn(app_spec=APP, concurrency=2) for _ in range(3)]
            wait_until(lambda: len(_ticks(app)) >= 3, timeout=60, what="three ticks")
            workers[0].kill()
            seen = len(_ticks(app))
            wait_until(lambda: len(_ticks(app)) >= seen + 4, timeout=60, what="four more")
            for worker in workers[1:]:
                assert worker.terminate(timeout=30) == 0, pool.outputs()
        ticks = _ticks(app)
        assert {outcome for _, outcome, _ in ticks} == {TickOutcome.STARTED}, pool.outputs()
        times = [tick for tick, _, _ in ticks]
        assert times == [times[0] + k for k in range(len(times))]  # consecutive, each once
        ids = {instance for _, _, instance in ticks}
        assert len(ids) == len(ticks)
        stored = {i.id for i in app.list(workflow="beat", limit=10_000)}
        assert stored == ids
    finally:
        app.close()
