"""Baseline measurements that daytwo's benchmarks compare against in the same run.

Two kinds of baseline live here:

* :func:`raw_sqlite_commit_rate` -- the ceiling: how many one-row durable commits per
  second plain ``sqlite3`` achieves on this disk with ``journal_mode=WAL`` and
  ``synchronous=FULL``; :func:`raw_postgres_commit_rate` is the same for a PostgreSQL
  server, through psycopg 3.
* :func:`dbos_sequential` / :func:`dbos_concurrent` -- a peer engine: the same
  three-step workflow on DBOS Transact (``pip install dbos``) with a SQLite system
  database, so no Postgres is needed, or (``database_url=``) a PostgreSQL one.

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
    "POSTGRES_SETTINGS",
    "dbos_concurrent",
    "dbos_sequential",
    "main",
    "postgres_settings",
    "raw_postgres_commit_rate",
    "raw_sqlite_commit_rate",
    "read_postgres_settings",
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

#: The PostgreSQL settings that decide what a commit costs, reported with every figure.
POSTGRES_SETTINGS = (
    "server_version",
    "fsync",
    "synchronous_commit",
    "full_page_writes",
    "wal_sync_method",
    "commit_delay",
)


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
# Raw PostgreSQL
# --------------------------------------------------------------------------------------


def postgres_settings(cursor: Any) -> dict[str, str]:
    """:data:`POSTGRES_SETTINGS` as the server reports them on ``cursor``'s connection."""
    settings = {}
    for name in POSTGRES_SETTINGS:
        cursor.execute(f"SHOW {name}")
        settings[name] = str(cursor.fetchone()[0])
    return settings


def raw_postgres_commit_rate(url: str, seconds: float = 2.0) -> Result:
    """Measure one-row durable commits per second on a PostgreSQL database with psycopg 3.

    One connection (``postgresql://...`` URL, not in autocommit mode) creates the table
    ``raw_commits`` afresh; then, for about ``seconds``, each iteration runs a one-row
    ``INSERT`` and commits it (psycopg sends ``BEGIN``, the ``INSERT``, ``COMMIT``), so
    every row is its own commit at the server's settings, which are read back on the same
    connection and reported. The table is dropped at the end.

    Returns:
        ``{"commits_per_s", "commits", "elapsed_s", **settings}``.
    """
    import psycopg

    with psycopg.connect(url) as conn, conn.cursor() as cur:
        settings = postgres_settings(cur)
        cur.execute("DROP TABLE IF EXISTS raw_commits")
        cur.execute(
            "CREATE TABLE raw_commits (id bigserial PRIMARY KEY, seq integer NOT NULL, "
            "payload text NOT NULL)"
        )
        conn.commit()
        commits = 0
        start = time.perf_counter()
        deadline = start + seconds
        now = start
        while now < deadline:
            cur.execute(
                "INSERT INTO raw_commits (seq, payload) VALUES (%s, %s)", (commits, "step-output")
            )
            conn.commit()
            commits += 1
            now = time.perf_counter()
        elapsed = now - start
        cur.execute("DROP TABLE raw_commits")
        conn.commit()
    return {
        "commits_per_s": commits / elapsed if elapsed > 0 else 0.0,
        "commits": commits,
        "elapsed_s": elapsed,
        **settings,
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


def read_postgres_settings(engine: Any) -> dict[str, str]:
    """:func:`postgres_settings` on a connection of the SQLAlchemy ``engine``."""
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        settings = postgres_settings(cursor)
        cursor.close()
        connection.rollback()
    finally:
        connection.close()
    return settings


def dbos_three_step_workflow() -> Callable[[int], int]:
    """Declare the benchmark's three-step workflow with DBOS (before DBOS is configured)."""
    from dbos import DBOS

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

    return three


def _run_dbos_child(
    mode: str,
    n: int,
    threads: int,
    workdir: str,
    stock: bool,
    database_url: str | None = None,
    wait_go: bool = False,
) -> Result:
    """Launch DBOS in this process, run the three-step workflow ``n`` times, destroy DBOS.

    Must run in a dedicated process (see the module docstring). ``mode`` is
    ``"sequential"`` or ``"concurrent"``. The system database is a fresh SQLite file in
    ``workdir``, or ``database_url`` (PostgreSQL; DBOS creates the database if missing).
    With ``stock`` true, DBOS's own SQLite settings are kept instead of forcing WAL +
    ``synchronous=FULL``. With ``wait_go``, the child prints ``ready`` after the warm-up and
    starts timing only when a line arrives on stdin (so that several children start
    together); the result then has the wall-clock ``ended_at``.
    """
    try:
        from dbos import DBOS, DBOSConfig
    except Exception as exc:  # ImportError, or a broken install failing at import time
        return {"error": f"dbos not importable: {type(exc).__name__}: {exc}"}

    if database_url is None:
        os.makedirs(workdir, exist_ok=True)
        db_path = os.path.abspath(os.path.join(workdir, "dbos_system.sqlite"))
        _remove_sqlite_files(db_path)
        if not stock:
            _install_sqlite_pragmas()
        system_database_url = f"sqlite:///{db_path}"
    else:
        system_database_url = database_url

    three = dbos_three_step_workflow()

    def expected(x: int) -> int:
        return (x + 1) * 2 - 3

    config: DBOSConfig = {
        "name": "daytwo-bench-dbos",
        "system_database_url": system_database_url,
        "log_level": "WARNING",
    }
    if threads > 16:  # DBOS's default pool (20 connections) would make threads queue
        config["sys_db_pool_size"] = threads + 4
    dbos_instance = DBOS(config=config)
    settings: Result
    try:
        DBOS.launch()
        # Private attribute; only used to report what the system database really uses.
        engine = dbos_instance._sys_db.engine
        try:
            if database_url is None:
                journal_mode, synchronous = _read_sqlite_settings(engine)
                settings = {
                    "sqlite_journal_mode": journal_mode,
                    "sqlite_synchronous": synchronous,
                    "sqlite_settings": "dbos-stock" if stock else "forced-wal-full",
                }
            else:
                settings = {"database": "postgresql", **read_postgres_settings(engine)}
        except Exception as exc:
            settings = {"settings_error": f"{type(exc).__name__}: {exc}"}

        for i in range(_WARMUP):
            if three(-1 - i) != expected(-1 - i):
                return {"error": "DBOS workflow returned a wrong result during warm-up"}
        if wait_go:
            sys.stdout.write("ready\n")
            sys.stdout.flush()
            sys.stdin.readline()

        latencies, elapsed = _drive(three, expected, n, threads if mode == "concurrent" else 0)
        ended_at = time.time()
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
        **settings,
    }
    if mode == "concurrent":
        result["threads"] = threads
    if wait_go:
        result["ended_at"] = ended_at
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
    return _parse_child(proc.returncode, proc.stdout, proc.stderr)


def _parse_child(returncode: int | None, stdout: str, stderr: str) -> Result:
    """The JSON object on the last ``{``-line of a child's stdout, or an ``error`` result."""
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    if lines:
        try:
            parsed = json.loads(lines[-1])
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    tail = stderr.strip().splitlines()[-5:]
    return {
        "error": f"DBOS subprocess exited {returncode} without a JSON result: " + " | ".join(tail)
    }


#: Keys of a child's result that are its own figures, not shared settings.
_PER_CHILD = frozenset(
    {"workflows_per_s", "steps_per_s", "p50_ms", "p99_ms", "mean_ms", "n", "elapsed_s",
     "ended_at", "go_at"}
)  # fmt: skip


def _spawn_together(args: list[str], processes: int, timeout_s: float) -> list[Result]:
    """Run ``processes`` children with ``args --wait-go``; start their timing together.

    Each child prints ``ready`` after its warm-up; once all are ready, every child is told
    to go, and each result gets ``go_at``, the wall-clock time of that moment.
    """
    cmd = [sys.executable, os.path.abspath(__file__), *args, "--wait-go"]
    children = [
        subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(processes)
    ]
    early: dict[int, str] = {}
    for index, child in enumerate(children):
        assert child.stdout is not None
        line = child.stdout.readline()
        if line.strip() != "ready":
            early[index] = line
    go_at = time.time()
    for child in children:
        assert child.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            child.stdin.write("go\n")
            child.stdin.flush()
    results = []
    for index, child in enumerate(children):
        try:
            out, err = child.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            child.kill()
            out, err = child.communicate()
        result = _parse_child(child.returncode, early.get(index, "") + out, err)
        result["go_at"] = go_at
        results.append(result)
    return results


def dbos_sequential(
    n: int,
    workdir: str,
    *,
    stock_sqlite: bool = False,
    database_url: str | None = None,
    timeout_s: float = _DEFAULT_TIMEOUT_S,
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
        database_url: A PostgreSQL URL to use as the system database instead of SQLite
            (DBOS creates the database if it does not exist).
        timeout_s: Kill the subprocess after this many seconds.

    Returns:
        ``{"workflows_per_s", "steps_per_s", "p50_ms", "p99_ms", "n", "dbos_version",
        ...settings}`` or ``{"error": reason}``; the settings are ``sqlite_journal_mode``
        and ``sqlite_synchronous``, or PostgreSQL's :data:`POSTGRES_SETTINGS`.
    """
    return _spawn(_dbos_args("dbos-sequential", n, workdir, stock_sqlite, database_url), timeout_s)


def _dbos_args(
    mode: str, n: int, workdir: str, stock_sqlite: bool, database_url: str | None
) -> list[str]:
    """Command-line arguments of a DBOS child."""
    args = [mode, "--n", str(n), "--workdir", workdir]
    if stock_sqlite:
        args.append("--stock-sqlite")
    if database_url is not None:
        args += ["--database-url", database_url]
    return args


def dbos_concurrent(
    n: int,
    threads: int,
    workdir: str,
    *,
    stock_sqlite: bool = False,
    database_url: str | None = None,
    processes: int = 1,
    timeout_s: float = _DEFAULT_TIMEOUT_S,
) -> Result:
    """Run the three-step DBOS workflow ``n`` times from ``threads`` threads, in a subprocess.

    Like :func:`dbos_sequential`, but the direct workflow calls are made by a
    ``ThreadPoolExecutor`` of ``threads`` threads. Latency percentiles are per call.

    With ``processes`` > 1 (which needs a PostgreSQL ``database_url``: the system database
    must exist already, e.g. from a :func:`dbos_sequential` run on it), that many children
    with ``threads`` threads each share the ``n`` workflows; they warm up, then start
    together, and the run lasts until the last one finished. The result then sums the
    throughput and has each child's result under ``"per_process"``.

    Returns:
        The same fields as :func:`dbos_sequential` plus ``"threads"``, or
        ``{"error": reason}``.
    """
    args = _dbos_args("dbos-concurrent", n, workdir, stock_sqlite, database_url)
    args += ["--threads", str(threads)]
    if processes <= 1:
        return _spawn(args, timeout_s)
    share = -(-n // processes)
    args[args.index("--n") + 1] = str(share)
    children = _spawn_together(args, processes, timeout_s)
    failed = [child["error"] for child in children if "error" in child]
    if failed:
        return {"error": f"{len(failed)} of {processes} DBOS children failed: {failed[0]}"}
    elapsed = max(child["ended_at"] for child in children) - children[0]["go_at"]
    total = share * processes
    settings = {key: value for key, value in children[0].items() if key not in _PER_CHILD}
    return {
        "workflows_per_s": total / elapsed,
        "steps_per_s": total * _STEPS_PER_WORKFLOW / elapsed,
        "n": total,
        "elapsed_s": elapsed,
        "processes": processes,
        **settings,
        "p50_ms_per_process": [child["p50_ms"] for child in children],
        "p99_ms_per_process": [child["p99_ms"] for child in children],
        "per_process_workflows_per_s": [child["workflows_per_s"] for child in children],
    }


# --------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; prints one JSON object on stdout and returns an exit code.

    Modes: ``raw --path P [--seconds S]``; ``dbos-sequential --n N --workdir D``;
    ``dbos-concurrent --n N --threads T --workdir D`` (DBOS modes accept
    ``--stock-sqlite``, ``--database-url URL`` and ``--wait-go``). The DBOS modes run
    DBOS in this process and are what the public ``dbos_*`` functions spawn.
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
        p.add_argument("--database-url", default=None, help="PostgreSQL system database")
        p.add_argument("--wait-go", action="store_true", help="print ready, wait for stdin")
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
            result = _run_dbos_child(
                mode, ns.n, threads, ns.workdir, ns.stock_sqlite, ns.database_url, ns.wait_go
            )
        except Exception as exc:
            result = {"error": f"DBOS run failed: {type(exc).__name__}: {exc}"}
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0 if "error" not in result else 1


if __name__ == "__main__":
    raise SystemExit(main())
