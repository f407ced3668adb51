"""Worker processes sharing one SQLite file (DESIGN.md §3 "Workers"): claiming without
double execution, graceful shutdown, and fencing of a worker whose lease was taken over.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

from _harness import (
    WorkerProcess,
    check_saga_instances,
    count_lines,
    count_rows,
    finished_count,
    read_side_effects,
    run_to_completion,
    saga_id,
    wait_until,
    worker_ids_of,
    worker_pool,
)
from workloads.crash_app import STEP_SECONDS_ENV, build_app

import daytwo
from daytwo.store._writes import RUN_COLUMNS, InstanceWrite

#: Instances run by the three workers together.
SHARED_INSTANCES = 300
#: Worker processes sharing the work.
WORKERS = 3


def _running_leased_by(app: daytwo.App, process: WorkerProcess) -> int:
    ids = worker_ids_of(app, process.pid)
    assert ids, f"worker pid {process.pid} never registered"
    return count_rows(
        app,
        "SELECT count(*) FROM instances WHERE status = 'RUNNING' AND lease_owner IN "
        "(SELECT id FROM workers WHERE pid = :pid)",
        pid=process.pid,
    )


def test_three_worker_processes_share_the_work_and_run_each_step_once(
    tmp_path: Path, db_url: str
) -> None:
    """Three worker processes on one SQLite file run 300 sagas: each step exactly once.

    Proves that concurrent claims by separate processes never hand one instance to two
    workers: every instance ends as designed with one history row per position, the
    external log shows each step attempt executed exactly once (no kills, so no
    re-execution is acceptable), and more than one process did the work.
    """
    log_path = tmp_path / "side-effects.log"
    app = build_app(db_url, str(log_path))
    app.store  # migrate before the workers start  # noqa: B018
    try:
        with worker_pool(db_url, log_path, tmp_path) as pool:
            workers = [
                pool.spawn(concurrency=4, lease_seconds=5.0, env={STEP_SECONDS_ENV: "0.04"})
                for _ in range(WORKERS)
            ]
            wait_until(
                lambda: all(worker_ids_of(app, w.pid) for w in workers),
                timeout=30,
                what="all workers to register",
            )
            for n in range(SHARED_INSTANCES):
                app.start("saga", n, id=saga_id(n))
            run_to_completion(
                pool, workers, lambda: finished_count(app) == SHARED_INSTANCES, timeout=120
            )
        report = check_saga_instances(app, range(SHARED_INSTANCES), log_path, killed_pids=())
        assert report.duplicates == 0
        executions_by_pid = Counter(effect.pid for effect in read_side_effects(log_path))
        assert set(executions_by_pid) <= {w.pid for w in workers}
        assert len(executions_by_pid) > 1, f"one process did all the work: {executions_by_pid}"
        print(f"\nstep executions per worker process: {dict(executions_by_pid)}")
    finally:
        app.close()


def _slow_instances(app: daytwo.App, count: int, *, steps: int, seconds: float) -> list[str]:
    ids = [f"slow-{i:02d}" for i in range(count)]
    for instance_id in ids:
        app.start("slow", {"steps": steps, "seconds": seconds}, id=instance_id)
    return ids


def _check_slow_instances(
    app: daytwo.App, ids: list[str], log_path: Path, *, steps: int
) -> dict[tuple[str, int], list[int]]:
    """Every slow instance succeeded once; returns the pids that executed each position.

    An execution interrupted by a shutdown is recorded as a lost attempt, so the execution
    that finished the position carries the next attempt number (same idempotency key).
    """
    effects = read_side_effects(log_path)
    pids: dict[tuple[str, int], list[int]] = {}
    attempts: dict[tuple[str, int], list[int]] = {}
    for effect in effects:
        assert effect.idempotency_key == f"{effect.instance_id}:{effect.seq}", effect
        pids.setdefault((effect.instance_id, effect.seq), []).append(effect.pid)
        attempts.setdefault((effect.instance_id, effect.seq), []).append(effect.attempt)
    for instance_id in ids:
        lost = [(a.seq, a.attempt) for a in app.attempts(instance_id)]
        assert all(a.error["type"] == "WorkerLost" for a in app.attempts(instance_id))
        finals = {e.seq: e.attempt for e in app.history(instance_id)}
        for seq in range(steps):
            # Attempts 1..final: the lost ones, then the one recorded. An interrupted attempt
            # may have logged its side effect or not (killed before it got that far).
            made = attempts.get((instance_id, seq), [])
            earlier = [a for s, a in lost if s == seq]
            assert [*earlier, finals[seq]] == list(range(1, finals[seq] + 1)), (instance_id, seq)
            assert made and made[-1] == finals[seq] and set(made) <= set(range(1, finals[seq] + 1))
    # The recorded result of a position is the one of its last execution.
    last_results = {(effect.instance_id, effect.seq): effect.result for effect in effects}
    for instance_id in ids:
        instance = app.get(instance_id)
        assert instance.status == "SUCCEEDED", (instance_id, instance.status, instance.error)
        events = app.history(instance_id)
        assert [(e.seq, e.kind, e.outcome) for e in events] == [
            (seq, "step", "completed") for seq in range(steps)
        ]
        assert instance.output == [e.result for e in events]
        for event in events:
            assert event.result == last_results[(instance_id, event.seq)]
    return pids


def test_sigterm_lets_running_instances_finish_and_leaves_no_lease_behind(
    tmp_path: Path,
    db_url: str,
) -> None:
    """SIGTERM during long steps: the worker finishes what it runs and exits 0.

    Proves graceful shutdown within the grace period: the worker stops claiming, lets the
    steps it is running complete, exits with status 0, and leaves no RUNNING instance
    leased to it; a second worker then finishes the rest, and no step ran twice (nothing
    in flight was abandoned).
    """
    log_path = tmp_path / "side-effects.log"
    app = build_app(db_url, str(log_path))
    steps, grace = 3, 10.0
    try:
        ids = _slow_instances(app, 10, steps=steps, seconds=0.5)
        with worker_pool(db_url, log_path, tmp_path) as pool:
            first = pool.spawn(concurrency=4, lease_seconds=5.0, shutdown_grace=grace)
            wait_until(
                lambda: count_lines(log_path) >= 1 or not first.alive(),
                timeout=30,
                what="the first step to run",
            )
            assert count_rows(app, "SELECT count(*) FROM instances WHERE status = 'RUNNING'")
            assert first.terminate(timeout=grace + 10) == 0, pool.outputs()
            assert _running_leased_by(app, first) == 0
            statuses = Counter(app.get(i).status for i in ids)
            assert set(statuses) <= {"SUCCEEDED", "RUNNABLE"}, statuses

            second = pool.spawn(concurrency=4, lease_seconds=5.0)
            wait_until(
                lambda: finished_count(app) == len(ids) or not second.alive(),
                timeout=60,
                what="the second worker to finish everything",
            )
            assert second.terminate(timeout=30) == 0, pool.outputs()
        executed = _check_slow_instances(app, ids, log_path, steps=steps)
        repeated = {position: pids for position, pids in executed.items() if len(pids) > 1}
        assert not repeated, f"steps executed twice after a graceful shutdown: {repeated}"
        assert len(executed) == len(ids) * steps
    finally:
        app.close()


def test_sigterm_with_short_grace_releases_leases_for_another_worker(
    tmp_path: Path, db_url: str
) -> None:
    """SIGTERM with a grace shorter than the running steps: leases are given back.

    Proves that a worker which cannot finish within its grace period still exits 0,
    releases the leases of the instances it was running (they become RUNNABLE at once, no
    RUNNING row keeps its lease), and that another worker completes them; only the step
    attempts that were in flight at shutdown may run again, under the same key.
    """
    log_path = tmp_path / "side-effects.log"
    app = build_app(db_url, str(log_path))
    steps, concurrency = 4, 4
    try:
        ids = _slow_instances(app, 6, steps=steps, seconds=0.8)
        with worker_pool(db_url, log_path, tmp_path) as pool:
            first = pool.spawn(concurrency=concurrency, lease_seconds=30.0, shutdown_grace=0.2)
            wait_until(
                lambda: count_lines(log_path) >= 1 or not first.alive(),
                timeout=30,
                what="the first step to run",
            )
            time.sleep(0.3)  # the second steps are under way
            assert first.terminate(timeout=30) == 0, pool.outputs()
            assert _running_leased_by(app, first) == 0
            released = [i for i in ids if app.get(i).status == "RUNNABLE" and app.history(i)]
            assert released, "no instance was in flight at shutdown"
            # With a 30 s lease, only the release makes them claimable before it expires.
            for instance_id in released:
                instance = app.get(instance_id)
                assert instance.lease_owner is None

            second = pool.spawn(concurrency=concurrency, lease_seconds=30.0)
            wait_until(
                lambda: finished_count(app) == len(ids) or not second.alive(),
                timeout=60,
                what="the second worker to finish everything",
            )
            assert second.terminate(timeout=30) == 0, pool.outputs()
        executed = _check_slow_instances(app, ids, log_path, steps=steps)
        repeated = {position: pids for position, pids in executed.items() if len(pids) > 1}
        for pids in repeated.values():
            assert pids[:-1] == [first.pid], repeated
        assert len(repeated) <= concurrency, repeated
    finally:
        app.close()


def test_a_worker_whose_lease_was_taken_over_cannot_write(fake_app: daytwo.App) -> None:
    """Fencing: a write carrying a lease token that was superseded is not applied.

    Proves that the lease token fences a worker that lost its lease (it stalled past
    expiry and another worker claimed the instance): its write changes neither the history
    nor the instance row, and it cannot renew the lease either, while the new holder's
    write with the current token is applied.
    """
    app = fake_app

    @app.workflow(name="fenced")
    def fenced(ctx: daytwo.Context, _: Any) -> None:
        return None

    app.start("fenced", None, id="f-1")
    store, pairs = app.store, app.registry.pairs()
    t0 = app.clock.now()
    [old] = store.claim("old-worker", pairs, now=t0, lease_seconds=1.0, limit=1)
    assert store.claim("other", pairs, now=t0 + 0.5, lease_seconds=1.0, limit=1) == []
    [new] = store.claim("new-worker", pairs, now=t0 + 2.0, lease_seconds=30.0, limit=1)
    assert new["lease_token"] > old["lease_token"]
    row_before = dict(app.store.get_instance("f-1") or {})

    def write(token: int, owner: str, *, progress: bool) -> InstanceWrite:
        values = {column: new[column] for column in RUN_COLUMNS}
        values.update(state=f"step-by-{owner}", history_size=1, lease_owner=owner,
                      updated_at=t0 + 3.0)  # fmt: skip
        history_row = {
            "instance_id": "f-1", "seq": 0, "kind": "step", "name": f"by-{owner}",
            "outcome": "completed", "args": "[[], {}]", "result": f'"{owner}"', "error": None,
            "attempt": 1, "idempotency_key": "f-1:0", "started_at": t0 + 2.5,
            "finished_at": t0 + 3.0, "detail": None,
        }  # fmt: skip
        transition = {
            "instance_id": "f-1", "seq": 1, "from_state": "queued", "to_state": f"step-by-{owner}",
            "status": "RUNNING", "at": t0 + 2.5,
        }  # fmt: skip
        return InstanceWrite(
            instance_id="f-1",
            lease_token=token,
            values=values,
            history=[history_row],
            transitions=[transition],
            progress=progress,
        )

    for progress in (True, False):
        [outcome] = store.apply([write(old["lease_token"], "old-worker", progress=progress)])
        assert not outcome.applied
        assert app.history("f-1") == []
        assert dict(app.store.get_instance("f-1") or {}) == row_before
        assert [t.to_state for t in app.transitions("f-1")] == ["queued"]
    assert store.renew_leases("old-worker", ["f-1"], t0 + 60) == 0

    [outcome] = store.apply([write(new["lease_token"], "new-worker", progress=True)])
    assert outcome.applied
    assert [(e.seq, e.name, e.result) for e in app.history("f-1")] == [
        (0, "by-new-worker", "new-worker")
    ]
    assert store.renew_leases("new-worker", ["f-1"], t0 + 60) == 1


def test_leases_stay_renewed_while_a_stopping_worker_finishes(tmp_path: Path, db_url: str) -> None:
    """A worker in its shutdown grace period keeps its leases: no concurrent re-execution.

    SIGTERM a worker (lease 1.5 s, grace 10 s) during a 4 s step while a second worker
    runs: the first worker legitimately finishes the step within its grace period, so the
    second must not claim the instance meanwhile and execute the same step again.
    """
    log_path = tmp_path / "side-effects.log"
    app = build_app(db_url, str(log_path))
    try:
        [instance_id] = _slow_instances(app, 1, steps=1, seconds=4.0)
        with worker_pool(db_url, log_path, tmp_path) as pool:
            first = pool.spawn(concurrency=1, lease_seconds=1.5, shutdown_grace=10.0)
            wait_until(
                lambda: app.get(instance_id).status == "RUNNING" or not first.alive(),
                timeout=30,
                what="the first worker to claim the instance",
            )
            time.sleep(0.5)  # the 4 s step is under way
            first.popen.send_signal(signal.SIGTERM)
            second = pool.spawn(concurrency=1, lease_seconds=1.5)
            assert first.popen.wait(timeout=30) == 0, pool.outputs()
            wait_until(
                lambda: finished_count(app) == 1 or not second.alive(),
                timeout=30,
                what="the instance to finish",
            )
            assert second.terminate(timeout=30) == 0, pool.outputs()
        executed = _check_slow_instances(app, [instance_id], log_path, steps=1)
        assert executed == {(instance_id, 0): [first.pid]}, (
            f"the step ran in two processes at once, none of them crashed: {executed}"
        )
    finally:
        app.close()


#: Instances whose signals race their suspension.
RACING_SIGNALS = 1_000


def test_signals_racing_suspension_are_never_lost(tmp_path: Path, db_url: str) -> None:
    """Signals sent while a worker process suspends their instances all get through.

    Proves the lost-wakeup guard across processes: the test process signals each instance
    as soon as it sees a worker process running it (or already waiting), so many signals
    arrive between the claim and the committed suspension on ``wait_for_signal``; every
    instance completes with its signal's payload and none is left WAITING (a lost wake-up
    would wait forever: a signal wait has no timer to fall back on).
    """
    log_path = tmp_path / "side-effects.log"
    app = build_app(db_url, str(log_path))
    ids = [f"sig-{n:04d}" for n in range(RACING_SIGNALS)]
    sent: set[str] = set()
    sent_while_running = 0
    try:
        for n, instance_id in enumerate(ids):
            app.start("signalled", n, id=instance_id)
        with worker_pool(db_url, log_path, tmp_path) as pool:
            worker = pool.spawn(concurrency=8, lease_seconds=5.0)
            deadline = time.monotonic() + 120
            while len(sent) < RACING_SIGNALS:
                assert time.monotonic() < deadline, f"only {len(sent)} instances ever ran"
                assert worker.alive(), pool.outputs()
                with app.store.read() as conn:
                    rows = conn.exec_driver_sql(
                        "SELECT id, status FROM instances "
                        "WHERE status IN ('RUNNING', 'WAITING') AND workflow = 'signalled'"
                    ).all()
                fresh = [
                    (instance_id, status) for instance_id, status in rows if instance_id not in sent
                ]
                for instance_id, status in fresh:
                    app.signal(instance_id, "go", {"for": int(instance_id[4:])})
                    sent.add(instance_id)
                    sent_while_running += status == "RUNNING"
                if not fresh:
                    time.sleep(0.002)
            try:
                wait_until(
                    lambda: finished_count(app) == RACING_SIGNALS or not worker.alive(),
                    timeout=60,
                    interval=0.1,
                    what="all signalled instances to finish",
                )
            except AssertionError:
                stuck = [i for i in ids if app.get(i).status != "SUCCEEDED"]
                raise AssertionError(f"instances never woken: {stuck[:20]}") from None
            assert worker.alive(), pool.outputs()
            assert worker.terminate(timeout=30) == 0, pool.outputs()
        for n, instance_id in enumerate(ids):
            assert app.result(instance_id) == {"n": n, "payload": {"for": n}}
        unconsumed = count_rows(app, "SELECT count(*) FROM signals WHERE consumed_seq IS NULL")
        assert unconsumed == 0
        print(
            f"\nracing signals: {sent_while_running} of {RACING_SIGNALS} signals were sent "
            "while a worker was running the instance"
        )
    finally:
        app.close()
