"""Durability under kill -9 (DESIGN.md §1.1, §3): a worker process is SIGKILLed at random
moments while it runs a multi-step saga, and restarted each time.

The side-effect log written by the steps (see ``workloads/crash_app.py``) stands for the
external world; :func:`_harness.check_saga_instances` checks it against the database.
Run with ``-s`` to see the numbers (re-executions, restart times).
"""

from __future__ import annotations

import os
import random
import statistics
import time
from pathlib import Path

import pytest
from _harness import (
    SagaReport,
    WorkerPool,
    WorkerProcess,
    check_sagas_after_kills,
    count_lines,
    finished_count,
    run_to_completion,
    saga_id,
    wait_until,
    worker_pool,
)
from workloads.crash_app import STEP_SECONDS_ENV, TIMER_SECONDS_ENV, build_app

#: Saga instances run (they arrive in one wave per restart).
INSTANCES = 300
#: SIGKILLs of the worker process, each followed by a restart.
KILLS = 20
#: Seed of the kill schedule (``$DAYTWO_CRASH_SEED`` explores other schedules).
SEED = int(os.environ.get("DAYTWO_CRASH_SEED", "20260101"))
#: Worker settings.
CONCURRENCY = 8
LEASE_SECONDS = 2.0
#: Longest simulated external call of a step (seconds).
MAX_STEP_SECONDS = 0.06
#: Share of kills made at a random moment of the worker's start-up (before its first step).
STARTUP_KILL_SHARE = 0.2
#: Start-up kills come this long (uniformly drawn, seconds) after the process started.
STARTUP_KILL_DELAY = (0.05, 0.5)
#: Other kills come this long (uniformly drawn, seconds) after the restarted worker's
#: first side effect.
KILL_DELAY = (0.0, 1.0)
#: The saga's durable timer: longer than any kill delay, so that the wave of instances
#: started before a restart cannot have finished when the kill comes.
TIMER_SECONDS = KILL_DELAY[1] + 0.5


def _spawn(pool: WorkerPool) -> WorkerProcess:
    return pool.spawn(
        concurrency=CONCURRENCY,
        lease_seconds=LEASE_SECONDS,
        env={STEP_SECONDS_ENV: str(MAX_STEP_SECONDS), TIMER_SECONDS_ENV: str(TIMER_SECONDS)},
    )


def _wait_for_first_side_effect(worker: WorkerProcess, log_path: Path, lines_before: int) -> None:
    wait_until(
        lambda: count_lines(log_path) > lines_before or not worker.alive(),
        timeout=30,
        interval=0.01,
        what="the restarted worker's first step",
    )


def _run_crash_scenario(
    tmp_path: Path, database: str, *, instances: int, kills: int, seed: int
) -> SagaReport:
    """Run ``instances`` sagas through ``kills`` SIGKILLs and restarts, check, report."""
    log_path = tmp_path / "side-effects.log"
    app = build_app(database, str(log_path))
    numbers = range(instances)
    # Instances arrive in waves, one before each restart, so that kills find work in every
    # phase: fresh instances, retries, durable timers, compensations.
    wave = -(-instances // kills)

    rng = random.Random(seed)
    killed: list[int] = []
    unfinished_at_kill: list[int] = []
    first_side_effect_after: list[float] = []
    began = time.monotonic()
    try:
        with worker_pool(database, log_path, tmp_path) as pool:
            for kill in range(kills):
                for n in numbers[kill * wave : (kill + 1) * wave]:
                    app.start("saga", n, id=saga_id(n))
                lines_before = count_lines(log_path)
                worker = _spawn(pool)
                spawned = time.monotonic()
                if rng.random() < STARTUP_KILL_SHARE:
                    time.sleep(rng.uniform(*STARTUP_KILL_DELAY))
                else:
                    _wait_for_first_side_effect(worker, log_path, lines_before)
                    first_side_effect_after.append(time.monotonic() - spawned)
                    time.sleep(rng.uniform(*KILL_DELAY))
                assert worker.alive(), f"the worker exited on its own\n{pool.outputs()}"
                worker.kill()
                killed.append(worker.pid)
                unfinished_at_kill.append(min(instances, (kill + 1) * wave) - finished_count(app))

            run_to_completion(
                pool,
                [_spawn(pool)],
                lambda: finished_count(app) == instances,
                timeout=120,
                what="all instances to finish after the last restart",
            )
        elapsed = time.monotonic() - began

        # Every kill hit a worker that had work to do (otherwise it would prove nothing).
        report = check_sagas_after_kills(
            app,
            numbers,
            log_path,
            killed_pids=killed,
            unfinished_at_kill=unfinished_at_kill,
            max_duplicates=kills * CONCURRENCY,
        )
        print(
            f"\ncrash test: {instances} instances ({report.compensated} compensated), "
            f"{kills} SIGKILLs, {elapsed:.1f} s; {report.executions} step executions, "
            f"{report.duplicates} re-executions after kills "
            f"{dict(report.duplicated_labels)} (bound {kills * CONCURRENCY}); "
            f"unfinished at each kill: {unfinished_at_kill}; restart to first side effect: "
            f"median {statistics.median(first_side_effect_after):.2f} s, "
            f"max {max(first_side_effect_after):.2f} s"
        )
        return report
    finally:
        app.close()


def test_sigkilled_worker_loses_nothing_and_repeats_only_interrupted_steps(
    tmp_path: Path,
    db_url: str,
) -> None:
    """A worker SIGKILLed 20 times at random moments while running 300 sagas loses nothing.

    Proves, with a real worker process and a real SQLite file: every instance ends
    SUCCEEDED (or COMPENSATED where the saga rejects) with exactly one history row per
    position, in the expected shape; outputs are the recorded step results; retries, the
    durable timer and compensations survive kills; state transitions chain up to the
    terminal state; in the external log every execution of a position used the same
    idempotency key, the recorded result is the one of the last execution, and a step ran
    more than once only when the process that ran it before was killed (at most
    kills x concurrency re-executions in total). Restarted workers free the dead worker's
    leases at once instead of waiting for them to expire.
    """
    _run_crash_scenario(tmp_path, db_url, instances=INSTANCES, kills=KILLS, seed=SEED)


@pytest.mark.soak
@pytest.mark.timeout(1200)
def test_sigkilled_worker_soak(tmp_path: Path, db_url: str) -> None:
    """The crash test at a larger scale: 1,000 sagas, 100 kills (soak runs only)."""
    _run_crash_scenario(tmp_path, db_url, instances=1000, kills=100, seed=SEED + 1)
