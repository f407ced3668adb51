"""Acceptance (issue 13, item 3): an async workflow with async steps, a durable timer and a
signal replays correctly after SIGKILLs of its worker processes: every instance ends with
the history of one execution, each step's recorded result is one its side effect
produced, and a step runs again only when a kill interrupted it."""

from __future__ import annotations

import os
import random
import time
from collections import defaultdict
from pathlib import Path

from _harness import read_side_effects, run_to_completion, wait_until, worker_pool
from workloads.async_app import build_app

SEED = int(os.environ.get("DAYTWO_CRASH_SEED", "20261201"))
INSTANCES = 24
APP = "workloads.async_app:app"


def test_async_workflow_replays_after_sigkills(db_url: str, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    log_path = tmp_path / "effects.log"
    app = build_app(db_url, str(log_path))
    ids = [f"a-{n}" for n in range(INSTANCES)]
    for n, instance_id in enumerate(ids):
        app.start("async-order", n, id=instance_id)

    def effects(label: str) -> int:
        return sum(e.label == label for e in read_side_effects(log_path))

    def waiting_for_signal() -> int:
        return sum(app.get(i).wait_kind == "signal" for i in ids)

    kills = 0
    with worker_pool(db_url, log_path, tmp_path) as pool:
        # Killed while reservations run, then while instances sleep or wait.
        first = pool.spawn(concurrency=4, app_spec=APP)
        wait_until(lambda: effects("reserve") >= 3, timeout=60, what="reservations")
        time.sleep(rng.uniform(0.0, 0.1))
        first.kill()
        kills += 1
        second = pool.spawn(concurrency=4, app_spec=APP)
        wait_until(lambda: waiting_for_signal() >= INSTANCES // 2, timeout=60, what="waits")
        second.kill()
        kills += 1
        for instance_id in ids:
            app.signal(instance_id, "approve", f"ok-{instance_id}")
        third = pool.spawn(concurrency=4, app_spec=APP)
        wait_until(lambda: effects("charge") >= 3, timeout=60, what="charges")
        time.sleep(rng.uniform(0.0, 0.1))
        third.kill()
        kills += 1
        last = pool.spawn(concurrency=4, app_spec=APP)
        run_to_completion(
            pool, [last], lambda: all(app.get(i).status == "SUCCEEDED" for i in ids), timeout=120
        )
    by_key: dict[str, list[str]] = defaultdict(list)
    for effect in read_side_effects(log_path):
        by_key[effect.idempotency_key].append(effect.result)
    for n, instance_id in enumerate(ids):
        history = app.history(instance_id)
        assert [(e.kind, e.name) for e in history] == [
            ("step", "reserve"), ("timer", "cooling-off"), ("signal", "approve"),
            ("step", "charge"),
        ]  # fmt: skip
        output = app.result(instance_id, timeout=5)
        assert output["n"] == n and output["approval"] == f"ok-{instance_id}"
        # The recorded result is one the step's effect produced (the last of its runs:
        # a run killed after its effect left one more record than the history holds).
        assert output["reservation"] in by_key[f"{instance_id}:0"]
        assert output["charge"] in by_key[f"{instance_id}:3"]
    repeated = sum(len(results) - 1 for results in by_key.values())
    assert repeated <= kills * 4  # only a killed worker's in-flight steps ran again
    app.close()
