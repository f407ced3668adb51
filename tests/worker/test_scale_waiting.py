"""Suspension at scale (DESIGN.md §3): waiting instances cost rows, not threads.

Ten thousand instances wait at once (half on durable timers, half on signals) while one
worker with four threads serves them all; then the timers fire, the signals arrive, and
every instance completes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psutil
import pytest
import sqlalchemy as sa

import daytwo
from daytwo import App, FakeClock

#: Waiting instances (half on a timer, half on a signal).
INSTANCES = 10_000
#: Threads of the one worker.
CONCURRENCY = 4
#: Threads a worker may run besides its pool: claim loop, heartbeat, group commit, its
#: wake-up reader (SQLite's socket or PostgreSQL's LISTEN), the task-deadline service, the
#: scheduler, the instance-deadline service, plus slack for one helper thread of the runtime.
WORKER_OVERHEAD_THREADS = 8
#: The durable timer (fake seconds).
TIMER_SECONDS = 3600.0


def _wait_for(
    predicate: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    sample: Callable[[], None],
    interval: float = 0.05,
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        sample()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def _grouped(app: App, sql: str) -> dict[str, int]:
    """``{key: count}`` from a ``SELECT key, count(*) ... GROUP BY`` query."""
    with app.store.read() as conn:
        return {str(key): int(count) for key, count in conn.exec_driver_sql(sql).all()}


@pytest.mark.soak_on_postgresql
def test_ten_thousand_waiting_instances_hold_no_threads(fake_app: App, clock: FakeClock) -> None:
    """10,000 instances wait on one 4-thread worker, then all complete SUCCEEDED.

    Proves that a waiting instance holds no thread: while all 10,000 are WAITING (5,000 on
    a durable timer, 5,000 on a signal) the process runs at most concurrency + a small
    constant threads, and nothing is in flight; advancing the clock fires every timer and
    sending the signals wakes every other instance; each ends SUCCEEDED with the recorded
    result of its wait.
    """
    app = fake_app

    @app.workflow(name="waiter")
    def waiter(ctx: daytwo.Context, data: dict[str, Any]) -> dict[str, Any]:
        if data["kind"] == "timer":
            ctx.sleep(TIMER_SECONDS, name="timer-wait")
            woken_by: Any = "timer"
        else:
            woken_by = ctx.wait_for_signal("go")
        return {"n": data["n"], "kind": data["kind"], "woken_by": woken_by}

    def kind(n: int) -> str:
        return "timer" if n % 2 == 0 else "signal"

    def counts() -> dict[str, int]:
        return app.store.count_by_status("waiter")

    process = psutil.Process()
    baseline_threads = threading.active_count()
    baseline_os_threads = process.num_threads()
    peak = {"python": baseline_threads, "os": baseline_os_threads}
    limit_python = baseline_threads + CONCURRENCY + WORKER_OVERHEAD_THREADS
    limit_os = baseline_os_threads + CONCURRENCY + WORKER_OVERHEAD_THREADS

    def sample() -> None:
        peak["python"] = max(peak["python"], threading.active_count())
        peak["os"] = max(peak["os"], process.num_threads())

    phases: dict[str, float] = {}
    began = time.monotonic()
    for n in range(INSTANCES):
        app.start("waiter", {"n": n, "kind": kind(n)}, id=f"w-{n:05d}")
    phases["10,000 started"] = time.monotonic() - began
    worker = app.worker(concurrency=CONCURRENCY)
    worker.start()
    try:
        _wait_for(
            lambda: counts().get("WAITING", 0) == INSTANCES,
            timeout=120,
            what="all instances to be WAITING",
            sample=sample,
        )
        phases["all waiting"] = time.monotonic() - began
        sample()
        assert counts() == {"WAITING": INSTANCES}
        assert worker.inflight == 0
        waits = _grouped(app, "SELECT wait_kind, count(*) FROM instances GROUP BY wait_kind")
        assert waits == {"timer": INSTANCES // 2, "signal": INSTANCES // 2}
        assert peak["python"] <= limit_python, (peak, baseline_threads)
        assert peak["os"] <= limit_os, (peak, baseline_os_threads)

        clock.advance(TIMER_SECONDS + 1)
        for n in range(1, INSTANCES, 2):
            app.signal(f"w-{n:05d}", "go", {"n": n})
            if n % 501 == 0:
                sample()
        phases["timers fired, signals sent"] = time.monotonic() - began
        _wait_for(
            lambda: counts().get("SUCCEEDED", 0) == INSTANCES,
            timeout=120,
            what="all instances to succeed",
            sample=sample,
        )
        phases["all succeeded"] = time.monotonic() - began
    finally:
        worker.stop()

    assert counts() == {"SUCCEEDED": INSTANCES}
    assert peak["python"] <= limit_python, (peak, baseline_threads)
    assert peak["os"] <= limit_os, (peak, baseline_os_threads)
    for n in (0, 1, 2, 4999, 5000, INSTANCES - 1):
        expected_woken_by = "timer" if kind(n) == "timer" else {"n": n}
        assert app.result(f"w-{n:05d}") == {"n": n, "kind": kind(n), "woken_by": expected_woken_by}
    histories = _grouped(app, "SELECT kind || ':' || outcome, count(*) FROM history GROUP BY 1")
    assert histories == {
        "timer:completed": INSTANCES // 2,
        "signal:completed": INSTANCES // 2,
    }
    print(
        "\nwaiting at scale: "
        + ", ".join(f"{name} at {seconds:.1f} s" for name, seconds in phases.items())
        + f"; peak threads {peak['python']} (baseline {baseline_threads}), "
        f"OS threads {peak['os']} (baseline {baseline_os_threads})"
    )


def _sqlite_work(app: App, action: Any) -> int:
    """SQLite virtual-machine instructions (in thousands) executed by ``action()``.

    A deterministic measure of the work a query does, unlike its duration.
    """
    ticks = [0]
    touched: list[Any] = []

    def tick() -> int:
        ticks[0] += 1
        return 0

    def before_execute(conn: Any, *_: Any) -> None:
        dbapi = conn.connection.dbapi_connection
        if dbapi not in touched:
            dbapi.set_progress_handler(tick, 1000)
            touched.append(dbapi)

    engine = app.store.engine
    sa.event.listen(engine, "before_cursor_execute", before_execute)
    try:
        action()
    finally:
        sa.event.remove(engine, "before_cursor_execute", before_execute)
        for dbapi in touched:
            dbapi.set_progress_handler(None, 0)
    return ticks[0]


def _add_finished_instances(app: App, workflow: str, count: int, offset: int) -> None:
    with app.store.write() as conn:
        conn.exec_driver_sql(
            "WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i + 1 < ?) "
            "INSERT INTO instances (id, workflow, version, status, state, state_entered_at, "
            "input, run_at, created_at, updated_at, finished_at) "
            "SELECT 'done-' || (i + ?), ?, '1', 'SUCCEEDED', 'succeeded', 0, 'null', NULL, "
            "0, 0, 0 FROM c",
            (count, offset, workflow),
        )


@pytest.mark.backends("sqlite")  # counts SQLite VM instructions
def test_claiming_costs_do_not_grow_with_finished_instances(app: App) -> None:
    """Claiming due work costs the same with 1,000 or 50,000 finished instances.

    Measured in SQLite VM instructions, not time: ``next_due`` and ``claim`` of four due
    instances must not visit the finished rows (which keep accumulating in production),
    or every worker poll slows down as history grows.
    """

    @app.workflow(name="job")
    def job(ctx: daytwo.Context, _: Any) -> None:
        return None

    pairs = app.registry.pairs()
    costs: list[tuple[int, int]] = []
    finished = 0
    for target in (1_000, 50_000):
        _add_finished_instances(app, "job", target - finished, finished)
        finished = target
        for n in range(4):
            app.start("job", None, id=f"due-{target}-{n}")
        poll = _sqlite_work(app, lambda: app.store.next_due(pairs))
        claim = _sqlite_work(
            app,
            lambda: app.store.claim("w", pairs, now=app.clock.now(), lease_seconds=30, limit=4),
        )
        costs.append((poll, claim))
    (small_poll, small_claim), (large_poll, large_claim) = costs
    assert large_poll <= 2 * small_poll + 5, costs
    assert large_claim <= 2 * small_claim + 5, costs
