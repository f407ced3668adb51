"""A fan-out of 100 parallel steps survives repeated SIGKILLs of its worker process
(issue 13, "Done when").

The worker is killed three times while branches are in flight; a fresh worker takes the
instance over each time. In the end every branch has exactly one history row at its own
position, every branch's side effect happened (at least once, under its own idempotency
key; more than once only for the branches in flight at a kill), and the instance
completes with the sum of all the branches' results.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from _harness import count_rows, run_to_completion, wait_until, worker_pool
from workloads.fanout_app import BRANCHES, EFFECTS_ENV, build_app

from daytwo import InstanceStatus

FANOUT_APP = "workloads.fanout_app:app"
#: Kill the worker once this many branch rows are recorded, each time.
KILL_AT = (15, 45, 75)


def _recorded(app: object, instance_id: str) -> int:
    return count_rows(
        app,  # type: ignore[arg-type]
        "SELECT count(*) FROM history WHERE instance_id = :id AND kind = 'step'",
        id=instance_id,
    )


def test_a_fan_out_of_100_steps_survives_repeated_sigkills(db_url: str, tmp_path: Path) -> None:
    app = build_app(db_url)
    effects = tmp_path / "effects.log"
    app.start("fanout", BRANCHES, id="fan-1")
    env = {EFFECTS_ENV: str(effects)}
    with worker_pool(db_url, tmp_path / "unused.log", tmp_path) as pool:
        for threshold in KILL_AT:
            worker = pool.spawn(concurrency=2, lease_seconds=1.0, app_spec=FANOUT_APP, env=env)
            wait_until(
                lambda t=threshold: _recorded(app, "fan-1") >= t,  # type: ignore[misc]
                timeout=120,
                what=f"{threshold} branches recorded",
            )
            recorded = _recorded(app, "fan-1")
            worker.kill()
            assert recorded < BRANCHES, "the fan-out finished before the kill"
        last = pool.spawn(concurrency=2, lease_seconds=1.0, app_spec=FANOUT_APP, env=env)
        run_to_completion(
            pool, [last], lambda: app.get("fan-1").status.terminal, timeout=180,
            what="the fan-out to complete",
        )  # fmt: skip
    instance = app.get("fan-1")
    assert instance.status is InstanceStatus.SUCCEEDED, instance.error
    assert instance.output == sum(n * n for n in range(BRANCHES))
    history = app.history("fan-1")
    assert [event.seq for event in history] == list(range(BRANCHES + 1))
    assert history[0].kind == "gather"
    branches = history[1:]
    assert all(event.outcome == "completed" for event in branches)
    keys = [event.idempotency_key for event in branches]
    assert keys == [f"fan-1:{seq}" for seq in range(1, BRANCHES + 1)]
    assert [event.result for event in branches] == [n * n for n in range(BRANCHES)]
    # The external world: every branch's effect happened; repeats only of those in flight
    # at a kill (at most the fan-out's concurrency, 8, per kill).
    executed = Counter(line.split(" ")[0] for line in effects.read_text().splitlines())
    assert set(executed) == set(keys)
    repeats = sum(count - 1 for count in executed.values())
    assert repeats <= 8 * len(KILL_AT), executed.most_common(10)
    app.close()
