"""The measurements of ``bench_e2e.py``, each on a fresh database it is given.

* :func:`start_rates` -- ``app.start`` from one thread, from 8 threads of one process, and
  ``app.start_many`` (batch), with no worker running.
* :func:`pre_inserted` -- instances bulk-inserted beforehand, then run by worker
  processes (``_common.processes_throughput``).
* :func:`closed_loop` -- a producer process starting instances as fast as it can while
  worker processes run them; timed from the first ``created_at`` to the last
  ``finished_at``.
* :func:`open_loop` -- the producer starting at a fixed rate; start-to-finish latency of
  each instance from its stored ``created_at`` to its ``finished_at``.

A ``database`` is a SQLite file path or a URL; every function creates the schema itself
before any child process opens the database. Importing this module has no side effects.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator

import sqlalchemy as sa
from _common import Result, WorkerProcesses, latency_summary, processes_throughput, progress
from _e2e_producer import ProducerProcess
from _workload import (
    STEPS_PER_WORKFLOW,
    THREE,
    expected,
    make_app,
    percentile,
    status_counts,
)

import daytwo
from daytwo.store import TERMINAL_STATUSES
from daytwo.store._schema import instances

__all__ = ["closed_loop", "open_loop", "pre_inserted", "start_rates"]

#: Seconds between two looks at the instance counts while waiting for a run to end (the
#: figures come from stored timestamps, so a coarse poll costs no precision, only load).
_DONE_POLL_S = 0.25
#: Starts made before a timed start-rate measurement (connections, statement caches).
_START_WARMUP = 20
#: A run whose backlog drained within this long after its last start kept up.
_KEPT_UP_DRAIN_S = 1.0


@contextlib.contextmanager
def opened(database: str) -> Iterator[daytwo.App]:
    """The benchmark app on ``database`` with its schema created; closed on exit."""
    app = make_app(database)
    try:
        app.store  # noqa: B018 -- migrate now, outside any timing and before any child
        yield app
    finally:
        app.close()


def _wait_finished(app: daytwo.App, n: int, timeout_s: float) -> None:
    """Wait until ``n`` instances of the workflow SUCCEEDED (raise on timeout or failure)."""
    deadline = time.monotonic() + timeout_s
    while True:
        counts = status_counts(app, THREE)
        if counts.get("SUCCEEDED", 0) >= n:
            return
        bad = {k: v for k, v in counts.items() if k in TERMINAL_STATUSES and k != "SUCCEEDED"}
        if bad:
            raise RuntimeError(f"unexpected instance statuses: {counts}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"instances not done after {timeout_s:g} s: {counts}")
        time.sleep(_DONE_POLL_S)


def _finished(app: daytwo.App, n: int) -> list[tuple[int, float, float]]:
    """``(input, created_at, finished_at)`` of every instance, checking each output."""
    query = sa.select(
        instances.c.input, instances.c.created_at, instances.c.finished_at, instances.c.output
    ).where(instances.c.workflow == THREE, instances.c.status == "SUCCEEDED")
    with app.store.read() as conn:
        rows = [(json.loads(r[0]), r[1], r[2], json.loads(r[3])) for r in conn.execute(query)]
    if len(rows) != n or any(out != expected(x) for x, _, _, out in rows):
        raise RuntimeError(f"expected {n} instances with the right outputs, found {len(rows)}")
    return [(x, created, finished) for x, created, finished, _ in rows]


# --------------------------------------------------------------------------------------
# Start rates
# --------------------------------------------------------------------------------------


def _rate(n: int, elapsed: float) -> Result:
    return {"n": n, "starts_per_s": n / elapsed, "elapsed_s": elapsed}


def _one_thread(app: daytwo.App, n: int) -> Result:
    t0 = time.perf_counter()
    for x in range(n):
        app.start(THREE, x)
    return _rate(n, time.perf_counter() - t0)


def _threads(app: daytwo.App, n: int, threads: int) -> Result:
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads + 1)

    def body(k: int) -> None:
        barrier.wait()
        try:
            for x in range(k, n, threads):
                app.start(THREE, x)
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=body, args=(k,)) for k in range(threads)]
    for thread in pool:
        thread.start()
    barrier.wait()
    t0 = time.perf_counter()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"{len(errors)} start thread(s) failed: {errors[0]!r}")
    return {**_rate(n, elapsed), "threads": threads}


def _batch(app: daytwo.App, n: int, batch_size: int) -> Result:
    start_many = getattr(app, "start_many", None)
    if start_many is None:
        return {"skipped": "app.start_many not available"}
    t0 = time.perf_counter()
    handles = 0
    for first in range(0, n, batch_size):
        handles += len(start_many(THREE, list(range(first, min(n, first + batch_size)))))
    elapsed = time.perf_counter() - t0
    if handles != n:
        raise RuntimeError(f"app.start_many returned {handles} handles for {n} inputs")
    return {**_rate(n, elapsed), "batch_size": batch_size, "calls": -(-n // batch_size)}


@contextlib.contextmanager
def _quiet_unserved_warning() -> Iterator[None]:
    """Hide the app's warning that no live worker serves the instances just started.

    These measurements start with no worker on purpose; the check behind the warning
    still runs (it is part of what a start costs), only its log line is dropped.
    """
    logger = logging.getLogger("daytwo.app")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def start_rates(
    new_database: Callable[[str], str], n: int, threads: int, batch_n: int, batch_size: int
) -> Result:
    """Start rates through the public API, each on a fresh database with no worker.

    ``new_database(name)`` makes an empty database and returns it. Each measurement
    follows a few untimed warm-up starts, and the stored count is checked afterwards.
    """
    measures: list[tuple[str, int, Callable[[daytwo.App], Result]]] = [
        ("one_thread", n, lambda app: _one_thread(app, n)),
        (f"{threads}_threads", n, lambda app: _threads(app, n, threads)),
        ("batch", batch_n, lambda app: _batch(app, batch_n, batch_size)),
    ]
    results: Result = {}
    for name, count, measure in measures:
        with opened(new_database(f"starts_{name}")) as app, _quiet_unserved_warning():
            for x in range(-_START_WARMUP, 0):
                app.start(THREE, x)
            result = measure(app)
            if "skipped" not in result:
                stored = status_counts(app, THREE).get("RUNNABLE", 0) - _START_WARMUP
                if stored != count:
                    raise RuntimeError(f"{name}: {stored} of {count} starts stored")
        results[name] = result
        progress(f"starts {name}: " + (
            f"{result['starts_per_s']:.0f} starts/s" if "starts_per_s" in result
            else str(result["skipped"])
        ))  # fmt: skip
    return results


# --------------------------------------------------------------------------------------
# Worker runs
# --------------------------------------------------------------------------------------


def pre_inserted(
    database: str, m: int, processes: int, concurrency: int, timeout_s: float
) -> Result:
    """``m`` instances bulk-inserted, then run by ``processes`` worker processes."""
    with opened(database) as app:
        result = processes_throughput(app, database, m, processes, concurrency, timeout_s)
    progress(
        f"pre-inserted, {processes} worker process(es): {result['workflows_per_s']:.0f} "
        f"workflows/s, {result['steps_per_s']:.0f} steps/s"
    )
    return {"m": m, "worker_processes": processes, "concurrency": concurrency, **result}


def _with_workers(
    database: str,
    processes: int,
    concurrency: int,
    producer_args: list[str],
    n: Callable[[Result], int],
    timeout_s: float,
) -> tuple[Result, list[tuple[int, float, float]], WorkerProcesses]:
    """Worker processes running, then a producer process; wait for all ``n`` to finish.

    Both kinds of process open the database first; the workers are told to go (and get
    half a second to settle into their idle loop, as running workers are), then the
    producer. Returns the producer's result, the finished rows and the stopped workers.
    """
    workers = WorkerProcesses(database, processes, concurrency)
    with opened(database) as app, workers:
        with ProducerProcess(database, producer_args, timeout_s) as producer:
            workers.go()
            time.sleep(0.5)
            produced = producer.run()
        _wait_finished(app, n(produced), timeout_s)
        rows = _finished(app, n(produced))
    return produced, rows, workers


def closed_loop(
    database: str, n: int, processes: int, concurrency: int, threads: int, timeout_s: float
) -> Result:
    """A producer process (``threads`` threads) starts ``n`` as fast as it can while
    ``processes`` worker processes run them."""
    args = ["closed", "--n", str(n), "--threads", str(threads)]
    produced, rows, workers = _with_workers(
        database, processes, concurrency, args, lambda _: n, timeout_s
    )
    first = min(created for _, created, _ in rows)
    last = max(finished for _, _, finished in rows)
    elapsed = last - first
    result: Result = {
        "n": n,
        "worker_processes": processes,
        "concurrency": concurrency,
        "producer_threads": threads,
        "workflows_per_s": n / elapsed,
        "steps_per_s": n * STEPS_PER_WORKFLOW / elapsed,
        "producer_starts_per_s": produced["starts_per_s"],
        "elapsed_s": elapsed,
        "start_to_finish": latency_summary([done - created for _, created, done in rows]),
        "producer": produced,
        "per_process": workers.reports,
        "group_commit": workers.group_commit(),
    }
    progress(
        f"end to end, {processes} worker process(es): {result['workflows_per_s']:.0f} "
        f"workflows/s, producer {produced['starts_per_s']:.0f} starts/s"
    )
    return result


def open_loop(
    database: str,
    rate: float,
    duration: float,
    processes: int,
    concurrency: int,
    threads: int,
    timeout_s: float,
) -> Result:
    """The producer starts at ``rate`` per second for ``duration`` seconds (a schedule)."""
    args = ["open", "--rate", f"{rate:.3f}", "--duration", str(duration), "--threads", str(threads)]
    produced, rows, workers = _with_workers(
        database, processes, concurrency, args, lambda p: int(p["n"]), timeout_s
    )
    t0 = produced["t0"]
    latencies = [done - created for _, created, done in rows]
    from_schedule = [done - (t0 + x / rate) for x, _, done in rows]
    drain = max(done for _, _, done in rows) - max(created for _, created, _ in rows)
    achieved = produced["achieved_starts_per_s"]
    summary = latency_summary(latencies)
    summary["p90_ms"] = percentile(sorted(latencies), 0.90) * 1000
    result: Result = {
        "rate_per_s": rate,
        "duration_s": duration,
        "n": produced["n"],
        "worker_processes": processes,
        "achieved_starts_per_s": achieved,
        "start_to_finish": summary,
        "scheduled_to_finish": latency_summary(from_schedule),
        "drain_after_last_start_s": drain,
        "kept_up": drain < _KEPT_UP_DRAIN_S and achieved >= 0.95 * rate,
        "producer": produced,
        "group_commit": workers.group_commit(),
    }
    progress(
        f"open loop at {rate:.0f}/s: achieved {achieved:.0f}/s, start-to-finish p50 "
        f"{summary['p50_ms']:.1f} / p99 {summary['p99_ms']:.1f} ms, kept up: {result['kept_up']}"
    )
    return result
