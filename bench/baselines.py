"""Baseline measurements that daytwo's benchmarks compare against in the same run.

Two kinds of baseline live here:

* :func:`raw_sqlite_commit_rate` -- the ceiling: how many one-row durable commits per
  second plain ``sqlite3`` achieves on this disk with ``journal_mode=WAL`` and
  ``synchronous=FULL``.
* :func:`dbos_sequential` / :func:`dbos_concurrent` -- a peer engine: the same
  three-step workflow on DBOS Transact (``pip install dbos``) with a SQLite system
  database, so no Postgres is needed.

DBOS keeps process-global state (one ``DBOS`` instance per process), so every DBOS
measurement runs in a fresh subprocess (``python bench/baselines.py dbos-sequential ...``)
that prints a single JSON object on its last stdout line; the public functions spawn that
subprocess and parse the JSON. If DBOS is missing or the run fails, they return
``{"error": "<reason>"}`` instead of raising, so a benchmark can still print its own
numbers.

Importing this module has no side effects: it prints nothing and does not import DBOS.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from typing import Any

__all__ = [
    "dbos_concurrent",
    "dbos_sequential",
    "main",
    "raw_sqlite_commit_rate",
]

Result = dict[str, Any]
"""A JSON-serialisable measurement result."""

#: Names of SQLite's ``PRAGMA synchronous`` levels, indexed by the integer SQLite reports.
_SYNC_NAMES = ("OFF", "NORMAL", "FULL", "EXTRA")

#: Steps executed by one run of the benchmark workflow.
_STEPS_PER_WORKFLOW = 3

#: Workflows run before timing starts (not counted in the result).
_WARMUP = 20

#: Default wall-clock limit for one DBOS subprocess, in seconds.
_DEFAULT_TIMEOUT_S = 300.0

_SQLITE_SIDECARS = ("", "-wal", "-shm", "-journal")


def _remove_sqlite_files(path: str) -> None:
    """Delete the SQLite database at ``path`` and its WAL/SHM/journal sidecars, if present."""
    for suffix in _SQLITE_SIDECARS:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path + suffix)


def _sync_name(level: int) -> str:
    """Return the symbolic name of a ``PRAGMA synchronous`` integer level."""
    return _SYNC_NAMES[level] if 0 <= level < len(_SYNC_NAMES) else str(level)


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    """Return the ``q``-quantile (0..1) of already-sorted values, nearest-rank method."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


# --------------------------------------------------------------------------------------
# Raw SQLite
# --------------------------------------------------------------------------------------


def raw_sqlite_commit_rate(path: str, seconds: float = 2.0) -> Result:
    """Measure one-row durable commits per second with the stdlib ``sqlite3`` module.

    Any existing database at ``path`` (and its ``-wal``/``-shm``/``-journal`` files) is
    deleted first. The fresh file is opened in autocommit mode (``isolation_level=None``)
    with ``PRAGMA journal_mode=WAL`` and ``PRAGMA synchronous=FULL``; then, for about
    ``seconds``, each iteration runs ``BEGIN``, a one-row ``INSERT`` and ``COMMIT``, so
    every row is its own fsynced commit.

    Args:
        path: Database file to create (its directory must exist).
        seconds: Approximate measurement duration.

    Returns:
        ``{"commits_per_s", "journal_mode", "synchronous", "commits", "elapsed_s"}``;
        ``journal_mode`` and ``synchronous`` are the values SQLite reports back.
    """
    _remove_sqlite_files(path)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        journal_mode = str(conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]).lower()
        conn.execute("PRAGMA synchronous=FULL")
        synchronous = _sync_name(int(conn.execute("PRAGMA synchronous").fetchone()[0]))
        conn.execute(
            "CREATE TABLE commits (id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, "
            "payload TEXT NOT NULL)"
        )
        commits = 0
        start = time.perf_counter()
        deadline = start + seconds
        now = start
        while now < deadline:
            conn.execute("BEGIN")
            conn.execute(
                "INSERT INTO commits (seq, payload) VALUES (?, ?)", (commits, "step-output")
            )
            conn.execute("COMMIT")
            commits += 1
            now = time.perf_counter()
        elapsed = now - start
    finally:
        conn.close()
    return {
        "commits_per_s": commits / elapsed if elapsed > 0 else 0.0,
        "journal_mode": journal_mode,
        "synchronous": synchronous,
        "commits": commits,
        "elapsed_s": elapsed,
    }


# --------------------------------------------------------------------------------------
# DBOS peer (runs in a subprocess)
# --------------------------------------------------------------------------------------


def _install_sqlite_pragmas() -> None:
    """Make every SQLAlchemy pool connection to SQLite use WAL and ``synchronous=FULL``.

    DBOS does not set ``journal_mode`` or ``synchronous`` on its SQLite system database
    (it only sets ``busy_timeout``, ``foreign_keys`` and ``BEGIN IMMEDIATE`` transactions)
    and offers no option for them, so a process-wide pool ``connect`` listener sets them
    on each new connection. Only used in the DBOS child process.
    """
    from sqlalchemy import event
    from sqlalchemy.pool import Pool

    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        if not isinstance(dbapi_conn, sqlite3.Connection):
            return
        cur = dbapi_conn.cursor()
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
        finally:
            cur.close()

    event.listen(Pool, "connect", _on_connect)


def _read_sqlite_settings(engine: Any) -> tuple[str, str]:
    """Return ``(journal_mode, synchronous)`` as seen on a connection of ``engine``."""
    from sqlalchemy import text

    with engine.connect() as conn:
        journal_mode = str(conn.execute(text("PRAGMA journal_mode")).scalar()).lower()
        synchronous = _sync_name(int(conn.execute(text("PRAGMA synchronous")).scalar()))
        conn.rollback()
    return journal_mode, synchronous


def _run_dbos_child(mode: str, n: int, threads: int, workdir: str, stock: bool) -> Result:
    """Launch DBOS in this process, run the three-step workflow ``n`` times, destroy DBOS.

    Must run in a dedicated process (see the module docstring). ``mode`` is
    ``"sequential"`` or ``"concurrent"``. With ``stock`` true, DBOS's own SQLite settings
    are kept instead of forcing WAL + ``synchronous=FULL``.
    """
    try:
        from dbos import DBOS, DBOSConfig
    except Exception as exc:  # ImportError, or a broken install failing at import time
        return {"error": f"dbos not importable: {type(exc).__name__}: {exc}"}

    os.makedirs(workdir, exist_ok=True)
    db_path = os.path.abspath(os.path.join(workdir, "dbos_system.sqlite"))
    _remove_sqlite_files(db_path)
    if not stock:
        _install_sqlite_pragmas()

    @DBOS.step()
    def step_one(x: int) -> int:
        return x + 1

    @DBOS.step()
    def step_two(x: int) -> int:
        return x * 2

    @DBOS.step()
    def step_three(x: int) -> int:
        return x - 3

    @DBOS.workflow()
    def three(x: int) -> int:
        return step_three(step_two(step_one(x)))

    def expected(x: int) -> int:
        return (x + 1) * 2 - 3

    config: DBOSConfig = {
        "name": "daytwo-bench-dbos",
        "system_database_url": f"sqlite:///{db_path}",
        "log_level": "WARNING",
    }
    dbos_instance = DBOS(config=config)
    try:
        DBOS.launch()
        try:
            # Private attribute; only used to report what the system database really uses.
            journal_mode, synchronous = _read_sqlite_settings(dbos_instance._sys_db.engine)
        except Exception as exc:
            journal_mode = synchronous = f"unknown ({type(exc).__name__})"

        for i in range(_WARMUP):
            if three(-1 - i) != expected(-1 - i):
                return {"error": "DBOS workflow returned a wrong result during warm-up"}

        latencies, elapsed = _drive(three, expected, n, threads if mode == "concurrent" else 0)
    finally:
        DBOS.destroy(destroy_registry=True)

    latencies.sort()
    result: Result = {
        "workflows_per_s": n / elapsed if elapsed > 0 else 0.0,
        "steps_per_s": n * _STEPS_PER_WORKFLOW / elapsed if elapsed > 0 else 0.0,
        "p50_ms": _percentile(latencies, 0.50) * 1000.0,
        "p99_ms": _percentile(latencies, 0.99) * 1000.0,
        "mean_ms": statistics.fmean(latencies) * 1000.0 if latencies else float("nan"),
        "n": n,
        "elapsed_s": elapsed,
        "warmup": _WARMUP,
        "dbos_version": metadata.version("dbos"),
        "sqlite_journal_mode": journal_mode,
        "sqlite_synchronous": synchronous,
        "sqlite_settings": "dbos-stock" if stock else "forced-wal-full",
    }
    if mode == "concurrent":
        result["threads"] = threads
    return result


def _drive(
    workflow: Callable[[int], int],
    expected: Callable[[int], int],
    n: int,
    threads: int,
) -> tuple[list[float], float]:
    """Call ``workflow(i)`` for ``i`` in ``range(n)``; return (latencies in s, wall time in s).

    With ``threads`` <= 0 the calls run one after another on this thread; otherwise a
    ``ThreadPoolExecutor`` of that many threads makes the calls. Every result is checked
    against ``expected``.
    """
    latencies: list[float] = []
    lock = threading.Lock()
    wrong: list[int] = []

    def one(i: int) -> None:
        t0 = time.perf_counter()
        out = workflow(i)
        dt = time.perf_counter() - t0
        with lock:
            latencies.append(dt)
            if out != expected(i):
                wrong.append(i)

    start = time.perf_counter()
    if threads <= 0:
        for i in range(n):
            one(i)
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            for fut in [pool.submit(one, i) for i in range(n)]:
                fut.result()
    elapsed = time.perf_counter() - start
    if wrong:
        raise RuntimeError(f"{len(wrong)} DBOS workflows returned a wrong result")
    return latencies, elapsed


def _spawn(args: list[str], timeout_s: float) -> Result:
    """Run this file as a subprocess with ``args``; parse the JSON on its last stdout line."""
    cmd = [sys.executable, os.path.abspath(__file__), *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"DBOS subprocess timed out after {timeout_s:.0f}s"}
    except OSError as exc:
        return {"error": f"could not start DBOS subprocess: {exc}"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if lines:
        try:
            parsed = json.loads(lines[-1])
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    tail = proc.stderr.strip().splitlines()[-5:]
    return {
        "error": f"DBOS subprocess exited {proc.returncode} without a JSON result: "
        + " | ".join(tail)
    }


def dbos_sequential(
    n: int, workdir: str, *, stock_sqlite: bool = False, timeout_s: float = _DEFAULT_TIMEOUT_S
) -> Result:
    """Run the three-step DBOS workflow ``n`` times, one after another, in a subprocess.

    Each workflow is a direct call of a ``@DBOS.workflow()`` function that calls three
    ``@DBOS.step()`` functions doing trivial arithmetic. The SQLite system database is
    created fresh at ``<workdir>/dbos_system.sqlite``.

    Args:
        n: Number of timed workflows (a short warm-up runs first and is not counted).
        workdir: Directory for the system database (created if missing).
        stock_sqlite: Keep DBOS's own SQLite settings instead of forcing WAL +
            ``synchronous=FULL``.
        timeout_s: Kill the subprocess after this many seconds.

    Returns:
        ``{"workflows_per_s", "steps_per_s", "p50_ms", "p99_ms", "n", "dbos_version",
        "sqlite_journal_mode", "sqlite_synchronous", ...}`` or ``{"error": reason}``.
    """
    args = ["dbos-sequential", "--n", str(n), "--workdir", workdir]
    if stock_sqlite:
        args.append("--stock-sqlite")
    return _spawn(args, timeout_s)


def dbos_concurrent(
    n: int,
    threads: int,
    workdir: str,
    *,
    stock_sqlite: bool = False,
    timeout_s: float = _DEFAULT_TIMEOUT_S,
) -> Result:
    """Run the three-step DBOS workflow ``n`` times from ``threads`` threads, in a subprocess.

    Like :func:`dbos_sequential`, but the direct workflow calls are made by a
    ``ThreadPoolExecutor`` of ``threads`` threads. Latency percentiles are per call.

    Returns:
        The same fields as :func:`dbos_sequential` plus ``"threads"``, or
        ``{"error": reason}``.
    """
    args = ["dbos-concurrent", "--n", str(n), "--threads", str(threads), "--workdir", workdir]
    if stock_sqlite:
        args.append("--stock-sqlite")
    return _spawn(args, timeout_s)


# --------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; prints one JSON object on stdout and returns an exit code.

    Modes: ``raw --path P [--seconds S]``; ``dbos-sequential --n N --workdir D``;
    ``dbos-concurrent --n N --threads T --workdir D`` (DBOS modes accept
    ``--stock-sqlite``). The DBOS modes run DBOS in this process and are what the public
    ``dbos_*`` functions spawn.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="mode", required=True)

    raw = sub.add_parser("raw", help="raw sqlite3 one-row commit rate (WAL, synchronous=FULL)")
    raw.add_argument("--path", default=None, help="database file (default: a temp file)")
    raw.add_argument("--seconds", type=float, default=2.0)

    for name in ("dbos-sequential", "dbos-concurrent"):
        p = sub.add_parser(name, help=f"{name.split('-')[1]} three-step DBOS workflows")
        p.add_argument("--n", type=int, default=1000)
        p.add_argument("--workdir", required=True)
        p.add_argument(
            "--stock-sqlite",
            action="store_true",
            help="keep DBOS's own SQLite settings instead of forcing WAL + synchronous=FULL",
        )
        if name == "dbos-concurrent":
            p.add_argument("--threads", type=int, default=8)

    ns = parser.parse_args(argv)
    result: Result
    if ns.mode == "raw":
        if ns.path is None:
            import tempfile

            with tempfile.TemporaryDirectory(prefix="daytwo-raw-") as tmp:
                result = raw_sqlite_commit_rate(os.path.join(tmp, "raw.sqlite"), ns.seconds)
        else:
            result = raw_sqlite_commit_rate(ns.path, ns.seconds)
    else:
        mode = "sequential" if ns.mode == "dbos-sequential" else "concurrent"
        threads = ns.threads if mode == "concurrent" else 0
        try:
            result = _run_dbos_child(mode, ns.n, threads, ns.workdir, ns.stock_sqlite)
        except Exception as exc:
            result = {"error": f"DBOS run failed: {type(exc).__name__}: {exc}"}
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0 if "error" not in result else 1


if __name__ == "__main__":
    raise SystemExit(main())
