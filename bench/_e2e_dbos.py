"""DBOS Transact doing the end-to-end work of ``bench_e2e.py``, for the same-run ratio.

:func:`dbos_end_to_end` runs ``python bench/_e2e_dbos.py --n N ...`` (DBOS keeps
process-global state, so it runs in a process of its own, as in ``baselines.py``): the
child launches DBOS on a fresh SQLite system database (WAL + ``synchronous=FULL`` forced,
as ``baselines.py`` does) or a PostgreSQL one, warms up, then ``--threads`` threads call
``DBOS.start_workflow(three, i)`` for ``i`` in ``range(n)`` while DBOS's own executor runs
the workflows in the same process (capped at ``--executor-threads``, the concurrency of a
daytwo worker); the main thread then waits for every handle's ``get_result()``. The run
is timed from the first start until the last result is in; the child prints one JSON
line. A failure comes back as ``{"error": reason}``.

Importing this module has no side effects (DBOS is imported in the child only).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import baselines  # noqa: E402 -- needs the sys.path entry above

__all__ = ["dbos_end_to_end", "main"]

Result = dict[str, Any]
"""A JSON-serialisable measurement result."""

_STEPS_PER_WORKFLOW = 3
#: Workflows started and awaited before timing (not counted).
_WARMUP = 50


def dbos_end_to_end(
    n: int,
    threads: int,
    executor_threads: int,
    workdir: str,
    *,
    database_url: str | None = None,
    timeout_s: float = 300.0,
) -> Result:
    """DBOS: ``threads`` threads start ``n`` workflows, DBOS's executor runs them.

    ``database_url`` None: a fresh SQLite system database in ``workdir``.
    """
    command = [
        sys.executable, str(Path(__file__).resolve()), "--n", str(n), "--threads", str(threads),
        "--executor-threads", str(executor_threads), "--workdir", workdir,
    ]  # fmt: skip
    if database_url is not None:
        command += ["--database-url", database_url]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        return {"error": f"DBOS subprocess timed out after {timeout_s:.0f} s"}
    return baselines._parse_child(done.returncode, done.stdout, done.stderr)


def _run_child(
    n: int, threads: int, executor_threads: int, workdir: str, database_url: str | None
) -> Result:
    """Launch DBOS here, start ``n`` workflows from ``threads`` threads, await them all."""
    from dbos import DBOS, DBOSConfig

    if database_url is None:
        os.makedirs(workdir, exist_ok=True)
        path = os.path.abspath(os.path.join(workdir, "dbos_e2e.sqlite"))
        baselines._remove_sqlite_files(path)
        baselines._install_sqlite_pragmas()
        system_database_url = f"sqlite:///{path}"
    else:
        system_database_url = database_url

    three = baselines.dbos_three_step_workflow()

    config: DBOSConfig = {
        "name": "daytwo-bench-dbos-e2e",
        "system_database_url": system_database_url,
        "log_level": "WARNING",
        # Unbounded by default: a thread per started workflow, all queueing on the pool.
        "max_executor_threads": executor_threads,
        "sys_db_pool_size": executor_threads + threads + 4,
    }
    dbos_instance = DBOS(config=config)
    try:
        DBOS.launch()
        engine = dbos_instance._sys_db.engine  # private; only to report the settings
        if database_url is None:
            journal_mode, synchronous = baselines._read_sqlite_settings(engine)
            settings: Result = {
                "sqlite_journal_mode": journal_mode,
                "sqlite_synchronous": synchronous,
                "sqlite_settings": "forced-wal-full",
            }
        else:
            settings = {"database": "postgresql", **baselines.read_postgres_settings(engine)}
        warm = [DBOS.start_workflow(three, -1 - i) for i in range(_WARMUP)]
        for handle in warm:
            handle.get_result()

        handles: list[list[Any]] = [[] for _ in range(threads)]
        start_done: list[float] = [0.0] * threads

        def produce(k: int) -> None:
            for i in range(k, n, threads):
                handles[k].append((i, DBOS.start_workflow(three, i)))
            start_done[k] = time.perf_counter()

        pool = [threading.Thread(target=produce, args=(k,)) for k in range(threads)]
        t0 = time.perf_counter()
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        wrong = sum(handle.get_result() != (i + 1) * 2 - 3 for per in handles for i, handle in per)
        elapsed = time.perf_counter() - t0
        started = sum(len(per) for per in handles)
    finally:
        DBOS.destroy(destroy_registry=True)
    if wrong or started != n:
        return {"error": f"DBOS: {started} of {n} started, {wrong} wrong results"}
    starts_s = max(start_done) - t0
    return {
        "workflows_per_s": n / elapsed,
        "steps_per_s": n * _STEPS_PER_WORKFLOW / elapsed,
        "starts_per_s": n / starts_s if starts_s > 0 else 0.0,
        "n": n,
        "elapsed_s": elapsed,
        "threads": threads,
        "executor_threads": executor_threads,
        "warmup": _WARMUP,
        "dbos_version": metadata.version("dbos"),
        **settings,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Child entry point: run DBOS end to end, print one JSON line."""
    parser = argparse.ArgumentParser(description="DBOS end to end (a bench_e2e child)")
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--executor-threads", type=int, default=32)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--database-url", default=None, help="PostgreSQL system database")
    ns = parser.parse_args(argv)
    try:
        result = _run_child(ns.n, ns.threads, ns.executor_threads, ns.workdir, ns.database_url)
    except Exception as exc:
        result = {"error": f"DBOS run failed: {type(exc).__name__}: {exc}"}
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0 if "error" not in result else 1


if __name__ == "__main__":
    raise SystemExit(main())
