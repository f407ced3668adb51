"""daytwo PostgreSQL benchmark: throughput with 1, 2 and 4 worker processes, latencies.

Run from the repository root::

    .venv/bin/python bench/bench_postgres.py            # full run (a few minutes)
    .venv/bin/python bench/bench_postgres.py --quick    # smoke test (under a minute)

or ``scripts/bench postgres [--quick]``. Prints one JSON document on stdout (progress goes
to stderr) and writes it to ``bench/results/postgres-latest.json``
(``postgres-latest-quick.json`` with ``--quick``).

The benchmark starts its own throwaway PostgreSQL cluster with ``scripts/postgres`` (fsync
on, ``synchronous_commit`` on: a commit is flushed to disk before it is acknowledged) in a
temporary directory, and stops and deletes it at the end. The durability settings are read
back from the server on a daytwo connection and reported (``"durability"``). Every
measurement gets a fresh database on that one server, and everything runs in the same run:

* ``sequential`` -- N three-step workflows run one after another with ``app.run`` (in
  rounds; the median round is the headline), between two measurements of the raw commit
  rate (a one-row ``INSERT`` per commit with psycopg on one connection); target: steps/s
  at least 0.5 x the raw commit rate.
* ``throughput`` -- M instances started up front, then run by 1, 2 and 4 worker processes
  (``_workload.py worker``, i.e. ``app.worker(concurrency=K).run()``), timed from worker
  start until the last one finished, also between two raw measurements; targets: 4
  workers at least 1.5 x 1 worker and at least 3 x DBOS.
* ``dbos`` -- DBOS Transact (see ``baselines.py``) with its system database on the same
  server (its own database): sequential, and with as many processes and threads per
  process as the largest daytwo run.
* ``idle`` -- for a cluster of 1 and of 4 idle worker processes: the transactions (from
  ``pg_stat_database``) and statements (from ``pg_stat_statements``, loaded for this
  section only) per second that the cluster issues while idle; then start-to-finish latency
  (``app.start`` in this process until the worker recorded ``finished_at``) and
  signal-to-resume latency (``app.signal`` returned until the step after the wait ran in
  the worker), one instance at a time; target: signal-to-resume p99 < 50 ms. The workers'
  ``poll_interval`` is the worker default unless ``--poll-interval`` is given; it is
  reported.

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import inspect
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import baselines  # noqa: E402 -- needs the sys.path entry above
import psycopg  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from _common import (  # noqa: E402
    REPO,
    Result,
    WorkerProcesses,
    environment,
    latency_summary,
    processes_throughput,
    progress,
    raw_bracket,
    run_rounds,
    run_variant,
    target,
    timed_runs,
    write_document,
)
from _workload import RESUME_SIGNAL, RESUMED, THREE, expected, make_app  # noqa: E402

import daytwo  # noqa: E402
from daytwo.store._store import TERMINAL_STATUSES  # noqa: E402

RESULTS = HERE / "results"
POSTGRES_SCRIPT = REPO / "scripts" / "postgres"


@dataclasses.dataclass(frozen=True)
class Sizes:
    """Workload sizes of one benchmark run."""

    sequential_n: int
    sequential_warmup: int
    sequential_rounds: int
    throughput_m: int
    process_counts: tuple[int, ...]
    process_concurrency: int
    dbos_sequential_n: int
    dbos_concurrent_n: int
    idle_clusters: tuple[int, ...]
    idle_seconds: float
    latency_samples: int
    raw_seconds: float
    variant_timeout_s: float


FULL = Sizes(
    sequential_n=2000,
    sequential_warmup=200,
    sequential_rounds=3,
    throughput_m=8000,
    process_counts=(1, 2, 4),
    process_concurrency=32,
    dbos_sequential_n=500,
    dbos_concurrent_n=4000,
    idle_clusters=(1, 4),
    idle_seconds=10.0,
    latency_samples=150,
    raw_seconds=2.0,
    variant_timeout_s=180.0,
)
QUICK = Sizes(
    sequential_n=200,
    sequential_warmup=20,
    sequential_rounds=1,
    throughput_m=400,
    process_counts=(1, 2, 4),
    process_concurrency=16,
    dbos_sequential_n=50,
    dbos_concurrent_n=400,
    idle_clusters=(4,),
    idle_seconds=2.0,
    latency_samples=10,
    raw_seconds=0.5,
    variant_timeout_s=30.0,
)


# --------------------------------------------------------------------------------------
# The cluster
# --------------------------------------------------------------------------------------


class Cluster:
    """A throwaway PostgreSQL cluster started with ``scripts/postgres`` (fsync on)."""

    def __init__(self, parent: Path | None) -> None:
        # As root the server runs as the postgres user, which must reach the directory.
        self.directory = Path(tempfile.mkdtemp(prefix="daytwo-bench-postgres-", dir=parent))
        self.directory.chmod(0o755)
        self.url = ""

    def start(self) -> str:
        """Create and start the cluster; returns the URL of its ``postgres`` database."""
        self.url = self._script("start")
        return self.url

    def restart(self) -> None:
        """Restart the server (to load ``shared_preload_libraries``)."""
        self._script("restart")

    def stop(self) -> None:
        """Stop the server and delete its directory."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self._script("stop")
        shutil.rmtree(self.directory, ignore_errors=True)

    def _script(self, command: str) -> str:
        done = subprocess.run(
            [str(POSTGRES_SCRIPT), command, str(self.directory)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"scripts/postgres {command} failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def admin(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run ``sql`` in autocommit mode on the ``postgres`` database; return its rows."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            cursor = conn.execute(sql.encode(), params or None)
            return cursor.fetchall() if cursor.description else []

    def database(self, name: str) -> str:
        """Create the empty database ``name`` (dropping an old one); returns its URL."""
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.admin(f'CREATE DATABASE "{name}"')
        return self.url_of(name)

    def url_of(self, name: str) -> str:
        """The URL of database ``name`` on this server."""
        return sa.make_url(self.url).set(database=name).render_as_string(hide_password=False)


@contextlib.contextmanager
def running_cluster(parent: Path | None) -> Iterator[Cluster]:
    """A started :class:`Cluster`, stopped and deleted on exit."""
    cluster = Cluster(parent)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@contextlib.contextmanager
def opened_app(url: str) -> Iterator[daytwo.App]:
    """The benchmark app on ``url`` with its schema created; closed on exit."""
    app = make_app(url)
    try:
        app.store  # noqa: B018 -- migrate now, outside any timing
        yield app
    finally:
        app.close()


def durability(cluster: Cluster) -> Result:
    """The server's commit-durability settings, read back on a daytwo connection."""
    with opened_app(cluster.database("durability")) as app:
        settings = baselines.read_postgres_settings(app.store.engine)
    return {
        **settings,
        "source": "SHOW on a connection of daytwo's engine (app.store.engine)",
        "started_with": "scripts/postgres start DIR (without --fast: fsync on)",
    }


def raw_rate(cluster: Cluster, seconds: float) -> Result:
    """The raw one-row commit rate, in its own database on the cluster."""
    return baselines.raw_postgres_commit_rate(cluster.database("raw"), seconds)


# --------------------------------------------------------------------------------------
# Sequential and throughput
# --------------------------------------------------------------------------------------


def sequential(cluster: Cluster, sizes: Sizes) -> Result:
    """``app.run`` one after another, between two raw commit-rate measurements."""
    n = sizes.sequential_n

    def one_round(index: int) -> Result:
        with opened_app(cluster.database(f"sequential_{index}")) as app:
            return timed_runs(app, n, sizes.sequential_warmup)

    def measure() -> Result:
        rounds, median = run_rounds(one_round, sizes.sequential_rounds)
        return {"rounds": rounds, "median": median}

    progress(f"sequential: {sizes.sequential_rounds} round(s) of {n} workflows")
    seconds = sizes.raw_seconds
    bracket = raw_bracket(functools.partial(raw_rate, cluster, seconds), measure, seconds)
    rounds, median = bracket["measured"]["rounds"], bracket["measured"]["median"]
    ratio = median["steps_per_s"] / bracket["raw"]["mean_commits_per_s"]
    check = target("steps_per_s / raw_commits_per_s", ratio, 0.5)
    return {
        "n": n,
        "warmup": sizes.sequential_warmup,
        "how": "app.run(three, x) in a loop, one process, one fresh database per round; "
        "median round by steps/s",
        **{key: median[key] for key in ("workflows_per_s", "steps_per_s", "p50_ms", "p99_ms")},
        "rounds": rounds,
        "baseline_raw_commits_per_s": bracket["raw"],
        "ratio_steps_to_raw": ratio,
        "target": check,
        "pass": check["pass"],
    }


def processes_variant(cluster: Cluster, m: int, processes: int, sizes: Sizes) -> Result:
    """``m`` instances run by ``processes`` worker processes, in a fresh database."""
    url = cluster.database(f"workers_{processes}")
    with opened_app(url) as app:
        result = processes_throughput(
            app, url, m, processes, sizes.process_concurrency, sizes.variant_timeout_s
        )
    return {"processes": processes, "concurrency_per_process": sizes.process_concurrency, **result}


def throughput(cluster: Cluster, sizes: Sizes) -> Result:
    """M instances started up front, run by 1, 2 and 4 worker processes."""
    m = sizes.throughput_m

    def measure() -> Result:
        variants = [
            run_variant(
                f"{p} worker process(es) x {sizes.process_concurrency} threads",
                functools.partial(processes_variant, cluster, m, p, sizes),
            )
            for p in sizes.process_counts
        ]
        return {"variants": variants}

    progress(f"throughput: {m} instances per variant, worker processes {sizes.process_counts}")
    seconds = sizes.raw_seconds
    bracket = raw_bracket(functools.partial(raw_rate, cluster, seconds), measure, seconds)
    raw = bracket["raw"]["mean_commits_per_s"]
    variants = bracket["measured"]["variants"]
    for variant in variants:
        if "error" not in variant:
            variant["ratio_steps_to_raw"] = variant["steps_per_s"] / raw
    return {
        "m": m,
        "how": "M instances bulk-started (rows shaped like app.start's) in a fresh database, "
        "then P worker processes run them; timed from telling the workers to go to the last "
        "finished_at",
        "variants": variants,
        "baseline_raw_commits_per_s": bracket["raw"],
    }


def scaling(throughput_section: Result, dbos: Result) -> Result:
    """Ratios between the worker counts and against DBOS, with their targets."""
    by_count = {
        v["processes"]: v["steps_per_s"] for v in throughput_section["variants"] if "error" not in v
    }
    result: Result = {"steps_per_s_by_processes": by_count}
    targets = []
    low, high = min(by_count, default=0), max(by_count, default=0)
    if low and high and high > low:
        ratio = by_count[high] / by_count[low]
        result[f"ratio_{high}_to_{low}_workers"] = ratio
        targets.append(target(f"{high} workers / {low} worker steps_per_s", ratio, 1.5))
    dbos_steps = dbos.get("concurrent", {}).get("steps_per_s")
    if high and dbos_steps:
        ratio = by_count[high] / dbos_steps
        result[f"ratio_{high}_workers_to_dbos"] = ratio
        targets.append(target(f"{high} workers / DBOS concurrent steps_per_s", ratio, 3.0))
    dbos_sequential = dbos.get("sequential", {}).get("steps_per_s")
    if dbos_sequential:
        result["dbos_sequential_steps_per_s"] = dbos_sequential
    result["targets"] = targets
    result["pass"] = len(targets) == 2 and all(t["pass"] for t in targets)
    return result


# --------------------------------------------------------------------------------------
# DBOS
# --------------------------------------------------------------------------------------


def dbos_peer(cluster: Cluster, sizes: Sizes, workdir: Path) -> Result:
    """DBOS with its system database on the same server: sequential, then concurrent."""
    url = cluster.url_of("dbos_system")
    cluster.admin('DROP DATABASE IF EXISTS "dbos_system" WITH (FORCE)')
    n = sizes.dbos_sequential_n
    progress(f"dbos: sequential, {n} workflows")
    seq = baselines.dbos_sequential(n, str(workdir / "dbos"), database_url=url)
    progress(f"dbos sequential: {seq.get('steps_per_s', seq.get('error'))} steps/s")
    processes = max(sizes.process_counts)
    threads = sizes.process_concurrency
    n = sizes.dbos_concurrent_n
    progress(f"dbos: concurrent, {n} workflows on {processes} processes x {threads} threads")
    conc = baselines.dbos_concurrent(
        n, threads, str(workdir / "dbos"), database_url=url, processes=processes
    )
    progress(f"dbos concurrent: {conc.get('steps_per_s', conc.get('error'))} steps/s")
    return {
        "how": "DBOS Transact, system database 'dbos_system' on the same server; direct "
        "calls of a @DBOS.workflow calling three @DBOS.step functions (baselines.py); "
        "concurrent: processes x threads like the largest daytwo run, started together",
        "sequential": seq,
        "concurrent": conc,
    }


# --------------------------------------------------------------------------------------
# Idle cluster: query rate and latencies
# --------------------------------------------------------------------------------------


def enable_statement_stats(cluster: Cluster) -> str | None:
    """Load ``pg_stat_statements`` (restarts the server); returns why not, or None."""
    try:
        cluster.admin("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
        cluster.restart()
        cluster.admin("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def idle_rate(cluster: Cluster, database: str, seconds: float, statements: bool) -> Result:
    """Transactions (and statements) per second issued in ``database`` over ``seconds``.

    Read from the ``postgres`` database, so the reads do not count. ``pg_stat_database``
    counters are flushed by each backend at most once a second, which blurs the edges of
    the window a little; ``pg_stat_statements`` counts each statement as it ends.
    """
    xact_sql = "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s"
    calls_sql = (
        "SELECT s.query, s.calls FROM pg_stat_statements s JOIN pg_database d "
        "ON d.oid = s.dbid WHERE d.datname = %s ORDER BY s.calls DESC"
    )
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        if statements:
            conn.execute("SELECT pg_stat_statements_reset()")
        row = conn.execute(xact_sql, (database,)).fetchone()
        before = int(row[0]) if row else 0
        t0 = time.monotonic()
        time.sleep(seconds)
        row = conn.execute(xact_sql, (database,)).fetchone()
        elapsed = time.monotonic() - t0
        after = int(row[0]) if row else 0
        calls = conn.execute(calls_sql, (database,)).fetchall() if statements else []
    result: Result = {
        "seconds": elapsed,
        "transactions": after - before,
        "transactions_per_s": (after - before) / elapsed,
    }
    if statements:
        total = sum(int(c) for _, c in calls)
        result["statements"] = total
        result["statements_per_s"] = total / elapsed
        result["top_statements_per_s"] = [
            {"per_s": int(c) / elapsed, "query": " ".join(str(q).split())[:160]}
            for q, c in calls[:8]
        ]
    return result


def wait_for(app: daytwo.App, instance_id: str, statuses: frozenset[str], timeout: float) -> Any:
    """Poll (every 2 ms) until the instance is in one of ``statuses``; return its row."""
    deadline = time.monotonic() + timeout
    while True:
        row = app.store.get_instance(instance_id)
        if row is not None and row["status"] in statuses:
            return row
        if time.monotonic() > deadline:
            status = None if row is None else row["status"]
            raise TimeoutError(f"instance {instance_id} still {status} after {timeout} s")
        time.sleep(0.002)


def latencies(app: daytwo.App, samples: int, jitter_s: float) -> Result:
    """Start-to-finish and signal-to-resume latency, one instance at a time.

    Before each sample this process sleeps a random fraction of ``jitter_s`` (the poll
    interval), so samples do not lock onto the workers' polling phase.
    """
    start_to_finish = []
    for x in range(samples):
        time.sleep(random.uniform(0, jitter_s))
        t0 = time.time()
        handle = app.start(THREE, x)
        row = wait_for(app, handle.id, TERMINAL_STATUSES, 30)
        if row["status"] != "SUCCEEDED" or int(row["output"]) != expected(x):
            raise RuntimeError(f"start-to-finish instance ended {row['status']}")
        start_to_finish.append(row["finished_at"] - t0)
    signal_to_resume = []
    for _ in range(samples):
        handle = app.start(RESUMED)
        wait_for(app, handle.id, frozenset({"WAITING"}), 30)
        time.sleep(random.uniform(0, jitter_s))
        app.signal(handle.id, RESUME_SIGNAL)
        returned = time.time()
        row = wait_for(app, handle.id, TERMINAL_STATUSES, 30)
        if row["status"] != "SUCCEEDED":
            raise RuntimeError(f"signal-to-resume instance ended {row['status']}")
        signal_to_resume.append(float(row["output"]) - returned)
    return {
        "samples": samples,
        "start_to_finish": latency_summary(start_to_finish),
        "signal_to_resume": latency_summary(signal_to_resume),
    }


def idle_cluster(
    cluster: Cluster, processes: int, sizes: Sizes, poll_interval: float, statements: bool
) -> Result:
    """An idle cluster of worker processes: its query rate, then latencies through it."""
    name = f"idle_{processes}"
    url = cluster.database(name)
    workers = WorkerProcesses(
        url, processes, sizes.process_concurrency, poll_interval=poll_interval
    )
    with opened_app(url) as app, workers:
        workers.go(stagger_s=poll_interval / processes)
        time.sleep(1.5)  # let the workers register and settle into their idle loop
        progress(f"idle: {processes} worker process(es), {sizes.idle_seconds:g} s")
        rate = idle_rate(cluster, name, sizes.idle_seconds, statements)
        progress(
            f"idle: {rate['transactions_per_s']:.1f} transactions/s"
            + (f", {rate['statements_per_s']:.1f} statements/s" if statements else "")
        )
        measured = latencies(app, sizes.latency_samples, poll_interval)
    progress(
        f"latency ({processes} workers): start-to-finish p50 "
        f"{measured['start_to_finish']['p50_ms']:.1f} / p99 "
        f"{measured['start_to_finish']['p99_ms']:.1f} ms; signal-to-resume p50 "
        f"{measured['signal_to_resume']['p50_ms']:.1f} / p99 "
        f"{measured['signal_to_resume']['p99_ms']:.1f} ms"
    )
    check = target("signal_to_resume p99_ms", measured["signal_to_resume"]["p99_ms"], 50.0,
                   below=True)  # fmt: skip
    return {
        "worker_processes": processes,
        "concurrency_per_process": sizes.process_concurrency,
        "idle_load": rate,
        **measured,
        "target": check,
        "pass": check["pass"],
    }


def idle(cluster: Cluster, sizes: Sizes, poll_interval: float | None) -> Result:
    """Idle query rate and latencies for each cluster size in ``sizes.idle_clusters``."""
    default = inspect.signature(daytwo.Worker).parameters["poll_interval"].default
    interval = default if poll_interval is None else poll_interval
    not_loaded = enable_statement_stats(cluster)
    if not_loaded:
        progress(f"idle: pg_stat_statements unavailable ({not_loaded}); transactions only")
    clusters = [
        idle_cluster(cluster, processes, sizes, interval, statements=not_loaded is None)
        for processes in sizes.idle_clusters
    ]
    document: Result = {
        "how": "worker processes started and idle; the query rate is read from the server "
        "over the window; latencies: one instance at a time started (or signalled) from "
        "this process after a random pause of up to poll_interval; start-to-finish = the "
        "instance's finished_at minus the time just before app.start; signal-to-resume = "
        "the wall-clock time returned by the step after the wait minus the time app.signal "
        "returned",
        "poll_interval_s": interval,
        "poll_interval_is_worker_default": poll_interval is None or poll_interval == default,
        "worker_default_poll_interval_s": default,
        "clusters": clusters,
        "pass": all(c["pass"] for c in clusters),
    }
    if not_loaded:
        document["pg_stat_statements"] = f"not available: {not_loaded}"
    return document


# --------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------


def summary(document: Result) -> Result:
    """The headline figures and target checks."""
    seq = document["sequential"]
    tp = document["scaling"]
    lines: Result = {
        "raw_commits_per_s": statistics.fmean(
            [
                seq["baseline_raw_commits_per_s"]["mean_commits_per_s"],
                document["throughput"]["baseline_raw_commits_per_s"]["mean_commits_per_s"],
            ]
        ),
        "sequential_steps_per_s": seq["steps_per_s"],
        "sequential_ratio_to_raw": seq["ratio_steps_to_raw"],
        "workers_steps_per_s": tp["steps_per_s_by_processes"],
        "dbos_sequential_steps_per_s": document["dbos"]["sequential"].get("steps_per_s"),
        "dbos_concurrent_steps_per_s": document["dbos"]["concurrent"].get("steps_per_s"),
        "sequential_pass": seq["pass"],
        "scaling_pass": tp["pass"],
    }
    if "idle" in document:
        lines["idle_pass"] = document["idle"]["pass"]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the JSON document and write it under bench/results/."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=None,
        help="the idle workers' poll_interval in seconds (default: the worker default)",
    )
    parser.add_argument("--skip-idle", action="store_true", help="skip the idle section")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="directory under which the cluster's temporary directory is created (default: "
        "the system temporary directory); it must be reachable by the postgres user",
    )
    parser.add_argument("--output", type=Path, default=None, help="where to write the JSON")
    ns = parser.parse_args(argv)
    sizes = QUICK if ns.quick else FULL
    name = "postgres-latest-quick.json" if ns.quick else "postgres-latest.json"
    output: Path = ns.output or RESULTS / name

    began = time.perf_counter()
    with running_cluster(ns.workdir) as cluster:
        progress(f"cluster {cluster.url} in {cluster.directory}")
        document: Result = {
            "benchmark": "daytwo bench_postgres",
            "mode": "quick" if ns.quick else "full",
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "environment": environment(cluster.directory),
            "durability": durability(cluster),
            "sizes": dataclasses.asdict(sizes),
        }
        sections: list[tuple[str, Callable[[], Result]]] = [
            ("sequential", lambda: sequential(cluster, sizes)),
            ("throughput", lambda: throughput(cluster, sizes)),
            ("dbos", lambda: dbos_peer(cluster, sizes, cluster.directory)),
        ]
        if not ns.skip_idle:
            sections.append(("idle", lambda: idle(cluster, sizes, ns.poll_interval)))
        for section, measure in sections:
            document[section] = measure()
        document["scaling"] = scaling(document["throughput"], document["dbos"])
    document["summary"] = summary(document)
    write_document(document, output, began)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
