"""A parent with 50 children survives repeated SIGKILLs of its worker (issue 13, "Done
when"): the parent starts its children with ``start_child`` and then waits for each
result; worker processes are killed at random moments while children start, run and end,
and fresh ones take over. Every child is started exactly once (one row, one first
transition, one link, one ``child_start`` row in the parent), every child's step result is
recorded exactly once and is the one its last execution produced, and the parent completes
with all the results, in order.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

from _harness import (
    WorkerPool,
    WorkerProcess,
    count_rows,
    read_side_effects,
    run_to_completion,
    wait_until,
    worker_pool,
)
from workloads.children_app import build_app

import daytwo

SEED = int(os.environ.get("DAYTWO_CRASH_SEED", "20261201"))
CHILDREN_APP = "workloads.children_app:app"


def _ended_children(app: daytwo.App, parent: str) -> int:
    return count_rows(
        app, "SELECT count(*) FROM instances WHERE parent_id = :p AND finished_at IS NOT NULL",
        p=parent,
    )  # fmt: skip


def _spawn(pool: WorkerPool) -> WorkerProcess:
    """A worker process, once it is serving (a kill before that tests nothing)."""
    worker = pool.spawn(concurrency=2, lease_seconds=1.0, poll_interval=0.1,
                        app_spec=CHILDREN_APP)  # fmt: skip
    wait_until(lambda: " started (concurrency" in worker.output(), timeout=60,
               what="the worker to start")  # fmt: skip
    return worker


def _started(app: daytwo.App) -> int:
    return count_rows(app, "SELECT count(*) FROM instances WHERE parent_id = 'fam'")


def _survives_kills(db_url: str, tmp_path: Path, size: int, kills: int) -> None:
    rng = random.Random(SEED + size)
    log_path = tmp_path / "effects.log"
    app = build_app(db_url, str(log_path))
    app.start("family", size, id="fam")
    with worker_pool(db_url, log_path, tmp_path) as pool:
        for kill in range(kills):
            worker = _spawn(pool)
            # The first kill lands while the children are being started, the others while
            # they run and end (and the parent collects their results).
            target = size * kill // kills
            wait_until(
                lambda t=target: _ended_children(app, "fam") >= t  # type: ignore[misc]
                and (t > 0 or _started(app) > 0),
                timeout=60, interval=0.01, what=f"{target} children to end",
            )  # fmt: skip
            time.sleep(rng.uniform(0.0, 0.1))
            worker.kill()
            assert app.get("fam").status != "SUCCEEDED", "the parent completed before a kill"
        last = _spawn(pool)
        run_to_completion(
            pool, [last], lambda: app.get("fam").status == "SUCCEEDED", timeout=120,
            what="the parent to complete",
        )  # fmt: skip

    children = [f"fam:{n}" for n in range(size)]
    # Started exactly once: one row, one first transition, one link and one child_start each.
    assert count_rows(app, "SELECT count(*) FROM instances WHERE parent_id = 'fam'") == size
    assert count_rows(
        app, "SELECT count(*) FROM transitions WHERE seq = 0 AND instance_id LIKE 'fam:%'"
    ) == size  # fmt: skip
    assert count_rows(
        app, "SELECT count(*) FROM instance_links WHERE linked_id = 'fam' AND kind = 'child_of'"
    ) == size  # fmt: skip
    parent_rows = app.history("fam")
    assert [(e.kind, e.name) for e in parent_rows] == (
        [("child_start", "member")] * size + [("child", "member")] * size
    )
    assert [e.result for e in parent_rows[:size]] == children
    # Each child's step result recorded exactly once, and it is what the parent got.
    effects = read_side_effects(log_path)
    last_result: dict[str, str] = {}
    for effect in effects:
        last_result[effect.instance_id] = effect.result
    results = []
    for child in children:
        [step] = app.history(child)
        assert (step.kind, step.name, step.outcome) == ("step", "work", "completed")
        assert app.get(child).status == "SUCCEEDED"
        results.append(step.result)
        assert step.result == last_result[child]
    assert app.result("fam", timeout=5) == results
    assert {e.instance_id for e in effects} == set(children)
    app.close()


# About 10 s on either backend: the PostgreSQL run is as light as SQLite's, so both run
# by default.
def test_a_parent_with_50_children_survives_repeated_sigkills(db_url: str, tmp_path: Path) -> None:
    _survives_kills(db_url, tmp_path, size=50, kills=4)
