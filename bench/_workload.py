"""The workloads that the benchmarks run, and the subprocesses they spawn.

Everything here is shared by the benchmark drivers (``bench_engine.py`` on SQLite,
``bench_postgres.py`` on PostgreSQL) and their child processes:

* :func:`make_app` -- the benchmark app: the three-step workflow ``three``
  (``s3(s2(s1(x)))``, trivial arithmetic, the same shape as the DBOS peer in
  ``baselines.py``); ``parked``, which immediately waits for a signal; and ``resumed``,
  which waits for a signal and then runs a step that returns the wall-clock time at which
  it ran (for signal-to-resume latency).
* :func:`bulk_start` -- start many instances in one transaction (benchmark set-up only).
* Child entry points, run as ``python bench/_workload.py MODE ...``:

  - ``worker``: a worker process that says ``ready`` on stdout, waits for ``go`` on stdin,
    runs ``app.worker(concurrency=K).run()`` until SIGTERM, then prints its group-commit
    counters as one JSON line (``--db`` takes a SQLite path or a database URL).
  - ``memory``: start ``n`` parked instances, run a worker until all of them are WAITING
    and print the process's RSS before and after as one JSON line.

Importing this module has no side effects.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

import psutil
import sqlalchemy as sa

import daytwo
from daytwo._starts import new_row
from daytwo.store._group_commit import GroupCommitter
from daytwo.store._schema import instances, transitions
from daytwo.store._store import initial_transition

__all__ = [
    "PARKED",
    "RESUMED",
    "RESUME_SIGNAL",
    "STEPS_PER_WORKFLOW",
    "THREE",
    "bulk_start",
    "expected",
    "make_app",
    "percentile",
    "remove_db",
    "rss_mb",
    "status_counts",
    "writer_stats",
]

Result = dict[str, Any]
"""A JSON-serialisable measurement result."""

#: Name of the three-step workflow.
THREE = "three"
#: Name of the workflow that waits for a signal as its first operation.
PARKED = "parked"
#: Steps executed by one instance of :data:`THREE`.
STEPS_PER_WORKFLOW = 3
#: The signal :data:`PARKED` waits for (never sent by the benchmark).
PARK_SIGNAL = "go"
#: Name of the workflow that waits for :data:`RESUME_SIGNAL`, then returns the wall-clock
#: time (epoch seconds) at which the step after the wait ran.
RESUMED = "resumed"
#: The signal :data:`RESUMED` waits for.
RESUME_SIGNAL = "resume"

_SQLITE_SIDECARS = ("", "-wal", "-shm", "-journal")
#: Rows per ``executemany`` in :func:`bulk_start` (bounds its transient memory).
_BULK_CHUNK = 2000


def database_url(database: str) -> str:
    """``database`` if it is a URL, else the SQLite URL of the file path ``database``."""
    return database if "://" in database else f"sqlite:///{database}"


def make_app(database: str) -> daytwo.App:
    """Create the benchmark app on ``database`` (a SQLite file path or a URL).

    The database is opened on first use.
    """
    app = daytwo.App(database_url(database))

    @app.step
    def s1(x: int) -> int:
        return x + 1

    @app.step
    def s2(x: int) -> int:
        return x * 2

    @app.step
    def s3(x: int) -> int:
        return x - 3

    @app.workflow(name=THREE)
    def three(ctx: daytwo.Context, x: int) -> int:
        return s3(s2(s1(x)))

    @app.workflow(name=PARKED)
    def parked(ctx: daytwo.Context, x: int) -> Any:
        return ctx.wait_for_signal(PARK_SIGNAL)

    @app.step
    def stamp() -> float:
        return time.time()

    @app.workflow(name=RESUMED)
    def resumed(ctx: daytwo.Context, _input: Any) -> float:
        ctx.wait_for_signal(RESUME_SIGNAL)
        return stamp()

    return app


def expected(x: int) -> int:
    """The output of :data:`THREE` for input ``x``."""
    return (x + 1) * 2 - 3


def remove_db(path: str) -> None:
    """Delete the SQLite database at ``path`` and its sidecar files, if present."""
    for suffix in _SQLITE_SIDECARS:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path + suffix)


def bulk_start(app: daytwo.App, workflow: str, inputs: Iterable[int]) -> int:
    """Start one instance of ``workflow`` per input, all in a single write transaction.

    A benchmark set-up shortcut for ``app.start`` in a loop (one commit per instance): the
    rows have exactly the shape ``app.start`` inserts (``new_row`` plus the initial
    ``transitions`` row that ``Store.insert_instance`` adds), but they are written with
    ``executemany`` in chunks inside one transaction, so the whole batch costs one fsync.
    Running workers are not woken (they notice the rows at their next poll). Returns the
    number of instances started.
    """
    definition = app._definition(workflow, None)
    count = 0
    with app.store.write() as conn:
        for chunk in _chunks(inputs, _BULK_CHUNK):
            rows = [
                new_row(
                    definition,
                    x,
                    None,
                    queue="default",
                    priority=0,
                    serializer=app.serializer,
                    now=app.clock.now(),
                )
                for x in chunk
            ]
            conn.execute(instances.insert(), rows)
            conn.execute(transitions.insert(), [initial_transition(row) for row in rows])
            count += len(rows)
    return count


def _chunks(values: Iterable[int], size: int) -> Iterable[list[int]]:
    """Split ``values`` into lists of at most ``size`` items."""
    chunk: list[int] = []
    for value in values:
        chunk.append(value)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def status_counts(app: daytwo.App, workflow: str) -> dict[str, int]:
    """Number of instances of ``workflow`` per status."""
    return app.store.count_by_status(workflow)


def _last_update(app: daytwo.App, workflow: str) -> float:
    """The latest ``updated_at`` among the instances of ``workflow`` (epoch seconds)."""
    with app.store.read() as conn:
        value = conn.execute(
            sa.select(sa.func.max(instances.c.updated_at)).where(instances.c.workflow == workflow)
        ).scalar()
    return float(value or 0.0)


def writer_stats(worker: daytwo.Worker) -> Result:
    """Group-commit counters of a worker's writer (``{}`` if it does not batch)."""
    writer = worker._writer
    if not isinstance(writer, GroupCommitter):
        return {}
    return {
        "commits": writer.commits,
        "writes": writer.writes,
        "writes_per_commit": writer.writes / writer.commits if writer.commits else 0.0,
    }


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-quantile (0..1) of already-sorted values, nearest-rank method."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def rss_mb(process: psutil.Process | None = None) -> float:
    """Resident set size of ``process`` (default: this one) in MiB."""
    return (process or psutil.Process()).memory_info().rss / (1024 * 1024)


# --------------------------------------------------------------------------------------
# Child processes
# --------------------------------------------------------------------------------------


def _emit(result: Result) -> None:
    """Write ``result`` as one JSON line on stdout."""
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


def run_worker_child(database: str, concurrency: int, poll_interval: float | None = None) -> Result:
    """Run a worker process until SIGTERM; return its counters.

    ``database`` is a SQLite file path or a URL; ``poll_interval`` None keeps the worker's
    default. Prints ``ready`` once the app and its database are open, then blocks until a
    line arrives on stdin, so that the parent can start the clock for all workers at once.
    """
    app = make_app(database)
    app.store  # noqa: B018 -- open (and check the schema of) the database before "ready"
    options: dict[str, Any] = {"concurrency": concurrency}
    if poll_interval is not None:
        options["poll_interval"] = poll_interval
    worker = app.worker(**options)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.readline()
    worker.run()  # installs SIGTERM/SIGINT handlers; returns after a graceful stop
    result: Result = {"completed": worker.completed, **writer_stats(worker)}
    app.close()
    return result


def run_memory_child(db_path: str, n: int, concurrency: int, timeout_s: float) -> Result:
    """Measure the RSS of a worker process that suspends ``n`` parked instances.

    The instances are started by :func:`bulk_start` in this process. RSS is read after
    the app and database are set up, after the starts (``rss_before_mb``: what the worker
    begins with), while the worker runs (peak of samples every 0.2 s), once every instance
    is WAITING (``rss_after_mb``, worker still running) and after the worker stopped. A
    ``gc.collect()`` precedes each reported figure. ``suspend_s`` runs from worker start
    to the ``updated_at`` of the last instance suspended.
    """
    process = psutil.Process()
    remove_db(db_path)
    app = make_app(db_path)
    app.store  # noqa: B018 -- create the schema now, so set-up is not counted as growth
    gc.collect()
    rss_setup = rss_mb(process)

    t0 = time.perf_counter()
    bulk_start(app, PARKED, range(n))
    start_s = time.perf_counter() - t0
    gc.collect()
    rss_before = rss_mb(process)

    worker = app.worker(concurrency=concurrency)
    peak = rss_before
    t0 = time.perf_counter()
    started_wall = time.time()
    worker.start()
    waiting = 0
    deadline = t0 + timeout_s
    while time.perf_counter() < deadline:
        time.sleep(0.2)
        peak = max(peak, rss_mb(process))
        # worker.completed (runs ended, suspended ones included) is free to read; the
        # database is only asked once it says everything may be done.
        if worker.completed >= n:
            waiting = status_counts(app, PARKED).get("WAITING", 0)
            if waiting >= n:
                break
    else:
        waiting = status_counts(app, PARKED).get("WAITING", 0)
    suspend_s = time.perf_counter() - t0
    if waiting >= n:  # precise end: when the last instance was suspended
        suspend_s = _last_update(app, PARKED) - started_wall
    gc.collect()
    rss_after = rss_mb(process)  # the worker is still running, serving nothing
    peak = max(peak, rss_after)
    stats = writer_stats(worker)
    worker.stop()
    gc.collect()
    rss_stopped = rss_mb(process)
    counts = status_counts(app, PARKED)
    app.close()
    return {
        "instances": n,
        "concurrency": concurrency,
        "all_waiting": waiting >= n,
        "status_counts": counts,
        "start_s": start_s,
        "starts_per_s": n / start_s if start_s > 0 else 0.0,
        "suspend_s": suspend_s,
        "suspended_per_s": waiting / suspend_s if suspend_s > 0 else 0.0,
        "rss_after_setup_mb": rss_setup,
        "rss_before_mb": rss_before,
        "rss_after_mb": rss_after,
        "rss_after_worker_stopped_mb": rss_stopped,
        "rss_peak_mb": peak,
        "delta_mb": rss_after - rss_before,
        "group_commit": stats,
        "threads_after_stop": threading.active_count(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the child processes (see the module docstring)."""
    parser = argparse.ArgumentParser(description="bench_engine child processes")
    sub = parser.add_subparsers(dest="mode", required=True)
    worker = sub.add_parser("worker", help="a worker process (ready / go / SIGTERM)")
    worker.add_argument("--db", required=True, help="SQLite file path or database URL")
    worker.add_argument("--concurrency", type=int, default=16)
    worker.add_argument("--poll-interval", type=float, default=None)
    memory = sub.add_parser("memory", help="RSS of a worker suspending parked instances")
    memory.add_argument("--db", required=True)
    memory.add_argument("--n", type=int, default=100_000)
    memory.add_argument("--concurrency", type=int, default=8)
    memory.add_argument("--timeout", type=float, default=240.0)
    ns = parser.parse_args(argv)
    if ns.mode == "worker":
        _emit(run_worker_child(ns.db, ns.concurrency, ns.poll_interval))
    else:
        _emit(run_memory_child(ns.db, ns.n, ns.concurrency, ns.timeout))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
