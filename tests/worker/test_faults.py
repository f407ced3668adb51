"""Fault tests on real worker processes (issue 3, item 5): a cluster of workers SIGKILLed
at random, a worker SIGSTOPped past its lease, flow-control limits under load.

The server-restart fault test lives with the other PostgreSQL tests (``test_postgres.py``).
Run with ``-s`` to see the numbers.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import random
import time
from pathlib import Path

import pytest
from _harness import (
    SideEffect,
    WorkerPool,
    WorkerProcess,
    check_sagas_after_kills,
    count_rows,
    finished_count,
    read_side_effects,
    run_to_completion,
    saga_id,
    wait_until,
    worker_ids_of,
    worker_pool,
)
from workloads import flow_app
from workloads.crash_app import STEP_SECONDS_ENV, TIMER_SECONDS_ENV, build_app

import daytwo

#: Seed of the kill schedule (``$DAYTWO_CRASH_SEED`` explores other schedules).
SEED = int(os.environ.get("DAYTWO_CRASH_SEED", "20260301"))


# -- a cluster of workers SIGKILLed at random ----------------------------------------------

#: Worker processes kept running (each killed one is replaced at once).
CLUSTER_WORKERS = 4
CLUSTER_CONCURRENCY = 8
#: Long enough that a live worker on a loaded machine never loses a lease to a missed
#: heartbeat (killed workers' leases are freed at once: their process is gone).
CLUSTER_LEASE_SECONDS = 5.0
CLUSTER_ENV = {STEP_SECONDS_ENV: "0.01", TIMER_SECONDS_ENV: "0.2"}


def _run_cluster_under_kills(
    tmp_path: Path, database: str, *, instances: int, kills: int, seed: int
) -> None:
    """Run ``instances`` sagas on a cluster of workers while ``kills`` of them are
    SIGKILLed (a random one each time, replaced at once); check everything."""
    log_path = tmp_path / "side-effects.log"
    app = build_app(database, str(log_path))
    rng = random.Random(seed)
    numbers = range(instances)
    killed: list[int] = []
    unfinished_at_kill: list[int] = []
    began = time.monotonic()

    def spawn(pool: WorkerPool) -> WorkerProcess:
        return pool.spawn(
            concurrency=CLUSTER_CONCURRENCY, lease_seconds=CLUSTER_LEASE_SECONDS, env=CLUSTER_ENV
        )

    try:
        # Half the instances are there when the cluster starts, the rest arrive while it
        # runs (and while workers die).
        for n in numbers[: instances // 2]:
            app.start("saga", n, id=saga_id(n))
        with worker_pool(database, log_path, tmp_path) as pool:
            cluster = [spawn(pool) for _ in range(CLUSTER_WORKERS)]
            for n in numbers[instances // 2 :]:
                app.start("saga", n, id=saga_id(n))
            # Kills are spread over the run by progress, not by time: the k-th comes once
            # k/(kills+1) of the instances finished, a random moment later.
            for kill in range(kills):
                threshold = instances * (kill + 1) // (kills + 1)

                def reached(t: int = threshold) -> bool:
                    return finished_count(app) >= t or not all(w.alive() for w in cluster)

                wait_until(
                    reached,
                    timeout=120,
                    interval=0.05,
                    what=f"{threshold} instances to finish",
                )
                assert all(w.alive() for w in cluster), f"a worker exited\n{pool.outputs()}"
                time.sleep(rng.uniform(0.0, 0.3))
                victim = cluster.pop(rng.randrange(len(cluster)))
                victim.kill()
                killed.append(victim.pid)
                unfinished_at_kill.append(instances - finished_count(app))
                cluster.append(spawn(pool))
            run_to_completion(pool, cluster, lambda: finished_count(app) == instances, timeout=180)
        elapsed = time.monotonic() - began
        checking = time.monotonic()
        report = check_sagas_after_kills(
            app,
            numbers,
            log_path,
            killed_pids=killed,
            unfinished_at_kill=unfinished_at_kill,
            max_duplicates=kills * CLUSTER_CONCURRENCY,
        )
        print(
            f"\ncluster under kills: {instances} sagas on {CLUSTER_WORKERS} workers, "
            f"{kills} SIGKILLs, run {elapsed:.1f} s, check {time.monotonic() - checking:.1f} s; "
            f"{report.executions} step executions, {report.duplicates} re-executions "
            f"{dict(report.duplicated_labels)}; unfinished at each kill: {unfinished_at_kill}"
        )
    finally:
        app.close()


@pytest.mark.backends("postgresql")
@pytest.mark.timeout(600)
def test_cluster_of_four_loses_nothing_while_random_workers_are_sigkilled(
    tmp_path: Path, db_url: str
) -> None:
    """Four worker processes run 2,000 sagas while 12 of them, chosen at random, are
    SIGKILLed and replaced.

    Proves on PostgreSQL what ``test_crash`` proves for one worker: nothing is lost (every
    instance ends as designed), no instance completes twice and no step output is recorded
    twice (one history row per position, outputs equal the recorded results), and a step
    ran again only when the process that ran it before was killed, under the same
    idempotency key.
    """
    _run_cluster_under_kills(tmp_path, db_url, instances=2000, kills=12, seed=SEED)


# -- a worker SIGSTOPped past its lease ------------------------------------------------------

#: The stalled worker's lease, and the length of the step it stalls in (much longer).
STALLED_LEASE_SECONDS = 1.5
STALLED_STEP_SECONDS = 3.0


def _in_a_transaction(app: daytwo.App) -> bool:
    """Whether another process holds the database's write lock or an open transaction."""
    if app.store.dialect == "sqlite":
        database = app.store.engine.url.database
        assert database
        fd = os.open(os.path.abspath(database) + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # releases the lock if we got it
        return False
    return bool(
        count_rows(
            app,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL",
        )
    )


def _pause_outside_transactions(worker: WorkerProcess, app: daytwo.App) -> None:
    """SIGSTOP ``worker`` at a moment it holds no lock (resume and retry otherwise).

    A process stopped in the middle of a transaction (a heartbeat, say) would block the
    others until it is resumed; that is a different fault from the one under test.
    """
    for _ in range(50):
        worker.pause()
        time.sleep(0.05)
        if not _in_a_transaction(app):
            return
        worker.resume()
        time.sleep(random.uniform(0.01, 0.1))
    raise AssertionError("the worker was in a transaction every time it was stopped")


def test_a_worker_sigstopped_past_its_lease_is_fenced_off_when_it_resumes(
    tmp_path: Path, db_url: str
) -> None:
    """A worker stalls (SIGSTOP) in the middle of a step; its lease expires, another worker
    takes the instance over and finishes it; then the stalled worker resumes (SIGCONT).

    Proves fencing across processes: the resumed worker completes its step (an external
    call cannot be taken back) but its write is rejected by the lease token and logged as
    such, naming the instance and what was discarded; the instance's history keeps one
    row per position, holding the taking-over worker's result, and the output is that
    result; both executions used the same idempotency key; the resumed worker goes on and
    shuts down cleanly.
    """
    log_path = tmp_path / "side-effects.log"
    app = build_app(db_url, str(log_path))
    instance_id = "stalled"
    try:
        app.start("slow", {"steps": 1, "seconds": STALLED_STEP_SECONDS}, id=instance_id)
        with worker_pool(db_url, log_path, tmp_path) as pool:
            stalled = pool.spawn(concurrency=1, lease_seconds=STALLED_LEASE_SECONDS)

            def in_step_of_stalled() -> bool:
                instance = app.get(instance_id)
                return instance.state == "slow_step" and instance.status == "RUNNING"

            wait_until(
                lambda: in_step_of_stalled() or not stalled.alive(),
                timeout=30,
                what="the first worker to start the step",
            )
            [stalled_id] = worker_ids_of(app, stalled.pid)
            _pause_outside_transactions(stalled, app)
            row = app.store.get_instance(instance_id)
            assert row is not None and row["lease_owner"] == stalled_id, dict(row or {})
            stalled_token = row["lease_token"]

            taker = pool.spawn(concurrency=1, lease_seconds=STALLED_LEASE_SECONDS)
            wait_until(
                lambda: app.get(instance_id).status == "SUCCEEDED" or not taker.alive(),
                timeout=60,
                what="the second worker to take the instance over and finish it",
            )
            assert taker.alive(), pool.outputs()
            assert read_side_effects(log_path)[0].pid == taker.pid, "the stalled step ran on"

            stalled.resume()
            warning = f"instance {instance_id}: write rejected by the fencing token"
            wait_until(
                lambda: warning in stalled.output() or not stalled.alive(),
                timeout=30,
                what="the resumed worker to log its rejected write",
            )
            assert f"lease token {stalled_token} is stale" in stalled.output(), stalled.output()
            assert "step 'slow_step' at position 0" in stalled.output(), stalled.output()
            for worker in (stalled, taker):
                assert worker.terminate(timeout=30) == 0, pool.outputs()

        effects = read_side_effects(log_path)
        assert [e.pid for e in effects] == [taker.pid, stalled.pid], effects
        # The taker found the stalled worker's attempt 1 in flight: recorded as lost, and
        # the step ran again as attempt 2, under the same key.
        assert [(e.instance_id, e.seq, e.idempotency_key, e.attempt) for e in effects] == [
            (instance_id, 0, f"{instance_id}:0", 2),
            (instance_id, 0, f"{instance_id}:0", 1),
        ]
        [lost] = app.attempts(instance_id)
        assert (lost.seq, lost.attempt, lost.error["type"]) == (0, 1, "WorkerLost")
        instance = app.get(instance_id)
        events = app.history(instance_id)
        assert [(e.seq, e.kind, e.name, e.outcome) for e in events] == [
            (0, "step", "slow_step", "completed")
        ]
        assert events[0].result == effects[0].result != effects[1].result
        assert instance.status == "SUCCEEDED" and instance.output == [effects[0].result]
        moves = app.transitions(instance_id)
        for before, after in itertools.pairwise(moves):
            assert after.from_state == before.to_state, (before, after)
        assert moves[-1].to_state == "succeeded"
        row = app.store.get_instance(instance_id)
        assert row is not None and row["lease_owner"] is None and row["lease_token"] > stalled_token
    finally:
        app.close()


# -- flow-control limits under load across processes -----------------------------------------

#: Cluster-wide limits under test.
BULK_CONCURRENCY = 3
DEPENDENCY_CONCURRENCY = 2
RATE_LIMIT = 8
RATE_PERIOD = 1.0
#: Instances per workflow of the flow workload.
FLOW_INSTANCES = 40
FLOW_WORKERS = 3


def _intervals(effects: list[SideEffect]) -> dict[tuple[str, int, int], tuple[float, float]]:
    """(instance, seq, attempt) -> (entered, exited) of each step execution."""
    entered = {e.execution: float(e.result) for e in effects if e.outcome == "enter"}
    exited = {e.execution: float(e.result) for e in effects if e.outcome == "exit"}
    assert entered.keys() == exited.keys(), "every step that began must have ended"
    return {key: (entered[key], exited[key]) for key in entered}


def _peak(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at one moment (an exit before an entry at the same time)."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    open_now = peak = 0
    for _, change in events:
        open_now += change
        peak = max(peak, open_now)
    return peak


def _rate_excess(starts: list[float], limit: int, period: float) -> list[tuple[int, float]]:
    """Runs of starts that break ``limit`` per ``period`` with one period of tolerance.

    Claims never start more than ``limit`` instances in any window of ``period``, so the
    claims of starts spread over ``d`` seconds number at most ``limit x (d // period + 1)``;
    a step begins a little after its claim, and allowing that delay up to one period gives
    ``limit x (d // period + 2)``. Returns the (count, span) pairs above that bound.
    """
    starts = sorted(starts)
    excess = []
    for i, j in itertools.combinations(range(len(starts)), 2):
        span = starts[j] - starts[i]
        if j - i + 1 > limit * (span // period + 2):
            excess.append((j - i + 1, span))
    return excess


def _max_in_window(starts: list[float], period: float) -> int:
    starts = sorted(starts)
    return max(sum(1 for t in starts[i:] if t < start + period) for i, start in enumerate(starts))


def test_flow_control_limits_hold_across_worker_processes(tmp_path: Path, db_url: str) -> None:
    """Three worker processes serve a queue limited to 3 instances at once, a queue limited
    to 8 starts per second and a dependency limited to 2 concurrent calls, all loaded
    with a backlog.

    Proves, from the times each step logs on entry and exit in every process: never more
    than 3 steps of the limited queue in flight at once (its instances also come back
    from a timer through the same limit), never more than 2 concurrent calls of the
    dependency across both workflows that call it, and no more rated starts than 8 per
    second with one period of tolerance (unthrottled, the backlog would start within a
    fraction of a second); both concurrency limits were reached (so they were binding, not
    idle); every instance succeeded and each step ran exactly once.
    """
    log_path = tmp_path / "side-effects.log"
    app = flow_app.build_app(db_url, str(log_path))
    app.flow.set_queue(flow_app.BULK_QUEUE, concurrency=BULK_CONCURRENCY)
    app.flow.set_queue(flow_app.RATED_QUEUE, rate_limit=RATE_LIMIT, rate_period=RATE_PERIOD)
    app.flow.set_dependency_limit(flow_app.DEPENDENCY, DEPENDENCY_CONCURRENCY)
    workflows = ("bulk", "pay", "rated")
    ids = [f"{workflow}-{n:03d}" for workflow in workflows for n in range(FLOW_INSTANCES)]
    try:
        for instance_id in ids:
            app.start(instance_id.split("-")[0], int(instance_id.split("-")[1]), id=instance_id)
        with worker_pool(db_url, log_path, tmp_path) as pool:
            cluster = [
                pool.spawn(
                    app_spec="workloads.flow_app:app",
                    queues=(flow_app.BULK_QUEUE, flow_app.RATED_QUEUE, "default"),
                    concurrency=4,
                    lease_seconds=10.0,
                    poll_interval=0.1,
                )
                for _ in range(FLOW_WORKERS)
            ]
            run_to_completion(pool, cluster, lambda: finished_count(app) == len(ids), timeout=120)

        for instance_id in ids:
            instance = app.get(instance_id)
            assert instance.status == "SUCCEEDED", (instance_id, instance.status, instance.error)
        effects = read_side_effects(log_path)
        intervals = _intervals(effects)
        labels = {e.execution: e.label for e in effects}
        assert sorted(labels.values()) == sorted(
            [f"bulk.{step}" for step in ("prepare", "charge") for _ in range(FLOW_INSTANCES)]
            + ["pay.charge", "rated.ping"] * FLOW_INSTANCES
        ), "each step must run exactly once"
        assert len({e.pid for e in effects}) > 1, "one process did all the work"

        def peak_of(*wanted: str) -> int:
            return _peak([span for key, span in intervals.items() if labels[key] in wanted])

        bulk_peak = peak_of("bulk.prepare", "bulk.charge")
        dependency_peak = peak_of("bulk.charge", "pay.charge")
        starts = [span[0] for key, span in intervals.items() if labels[key] == "rated.ping"]
        print(
            f"\nflow control: bulk queue peak {bulk_peak} (limit {BULK_CONCURRENCY}), "
            f"{flow_app.DEPENDENCY} peak {dependency_peak} (limit {DEPENDENCY_CONCURRENCY}), "
            f"rated starts: at most {_max_in_window(starts, RATE_PERIOD)} in any "
            f"{RATE_PERIOD} s (limit {RATE_LIMIT}), span {max(starts) - min(starts):.1f} s"
        )
        assert bulk_peak == BULK_CONCURRENCY
        assert dependency_peak == DEPENDENCY_CONCURRENCY
        assert not _rate_excess(starts, RATE_LIMIT, RATE_PERIOD)
    finally:
        app.close()
