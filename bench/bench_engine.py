"""daytwo engine benchmark: sequential and concurrent throughput, and worker memory.

Run from the repository root::

    .venv/bin/python bench/bench_engine.py            # full run (a few minutes)
    .venv/bin/python bench/bench_engine.py --quick    # smoke test (well under a minute)

Prints one JSON document on stdout (progress goes to stderr) and writes it to
``bench/results/latest.json`` (``latest-quick.json`` with ``--quick``). Every figure is
measured with SQLite in WAL mode and ``synchronous=FULL``, daytwo's own settings, which
the document reports as read back from a daytwo connection (``"durability"``). Each
section measures the raw SQLite commit rate on the same filesystem right before and right
after its daytwo measurement and compares against the mean, and runs the DBOS peer from
``baselines.py`` with the same workload size.

Sections:

* ``sequential`` -- N three-step workflows run one after another with ``app.run`` (in
  rounds; the median round is the headline).
* ``concurrent`` -- M instances started up front, then processed by one worker with K
  threads (in this process) or by P worker processes; measured from worker start until
  the last instance finished. It passes when some variant reaches the raw commit rate
  (``passing_variants`` names them).
* ``async`` -- the sequential workload as ``async def`` workflow and steps, against the
  sync one in alternating rounds of the same run (``_async_sequential.py``).
* ``fanout`` -- a workflow with 100 parallel trivial steps (``ctx.map``) against one with
  100 sequential trivial steps, in the same run: wall time, steps/s and their ratio
  (``_fanout.py``).
* ``memory`` -- RSS of a worker process suspending 100,000 instances that wait for a
  signal (in a subprocess).

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import baselines  # noqa: E402 -- needs the sys.path entry above
from _async_sequential import async_sequential  # noqa: E402
from _common import (  # noqa: E402
    Result,
    completion_stats,
    environment,
    processes_throughput,
    progress,
    raw_bracket,
    run_rounds,
    run_variant,
    target,
    timed_runs,
    wait_until_done,
    write_document,
)
from _fanout import fanout  # noqa: E402
from _workload import THREE, bulk_start, make_app, remove_db, writer_stats  # noqa: E402

import daytwo  # noqa: E402

RESULTS = HERE / "results"


@dataclasses.dataclass(frozen=True)
class Sizes:
    """Workload sizes of one benchmark run."""

    sequential_n: int
    sequential_warmup: int
    sequential_rounds: int
    concurrent_m: int
    start_loop_n: int
    thread_counts: tuple[int, ...]
    processes: int
    process_concurrency: int
    dbos_threads: int
    memory_n: int
    memory_concurrency: int
    raw_seconds: float
    variant_timeout_s: float
    memory_timeout_s: float
    #: Timed runs of each workflow of the ``fanout`` section (``_fanout.py``).
    fanout_runs: int = 20


FULL = Sizes(
    sequential_n=3000,
    sequential_warmup=200,
    sequential_rounds=3,
    concurrent_m=12000,
    start_loop_n=1000,
    thread_counts=(16, 32, 64),
    processes=2,
    process_concurrency=32,
    dbos_threads=8,
    memory_n=100_000,
    memory_concurrency=8,
    raw_seconds=2.0,
    variant_timeout_s=120.0,
    memory_timeout_s=150.0,
)
QUICK = Sizes(
    sequential_n=300,
    sequential_warmup=30,
    sequential_rounds=3,
    concurrent_m=600,
    start_loop_n=100,
    thread_counts=(16, 32),
    processes=2,
    process_concurrency=16,
    dbos_threads=8,
    memory_n=3000,
    memory_concurrency=8,
    raw_seconds=0.5,
    variant_timeout_s=20.0,
    memory_timeout_s=20.0,
    fanout_runs=3,
)


# --------------------------------------------------------------------------------------
# Baselines and environment
# --------------------------------------------------------------------------------------


def raw_rate(workdir: Path, seconds: float) -> Result:
    """Raw one-row-commit rate of plain sqlite3 (WAL, FULL) in ``workdir``."""
    path = str(workdir / "raw.sqlite")
    result = baselines.raw_sqlite_commit_rate(path, seconds)
    remove_db(path)
    return result


def sqlite_bracket(workdir: Path, seconds: float, measure: Callable[[], Result]) -> Result:
    """Run ``measure`` between two raw SQLite commit-rate measurements; report all three."""
    return raw_bracket(functools.partial(raw_rate, workdir, seconds), measure, seconds)


def durability(workdir: Path) -> Result:
    """The journal mode and synchronous level of a daytwo connection, read back."""
    path = str(workdir / "durability.db")
    remove_db(path)
    app = make_app(path)
    names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
    try:
        with app.store.engine.connect() as conn:
            journal = str(conn.exec_driver_sql("PRAGMA journal_mode").scalar()).lower()
            level = int(conn.exec_driver_sql("PRAGMA synchronous").scalar() or 0)
            busy = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
            conn.rollback()
    finally:
        app.close()
        remove_db(path)
    return {
        "journal_mode": journal,
        "synchronous": names.get(level, str(level)),
        "busy_timeout_ms": busy,
        "source": "PRAGMA read on a connection of daytwo's engine (app.store.engine)",
    }


# --------------------------------------------------------------------------------------
# Sequential
# --------------------------------------------------------------------------------------


def sequential_round(workdir: Path, index: int, n: int, warmup: int) -> Result:
    """One round: a fresh database, ``warmup`` untimed runs, then ``n`` timed runs."""
    # A new file per round: daytwo migrates each URL once per process.
    path = str(workdir / f"sequential-{index}.db")
    remove_db(path)
    app = make_app(path)
    try:
        return timed_runs(app, n, warmup)
    finally:
        app.close()
        remove_db(path)


def sequential(workdir: Path, sizes: Sizes) -> Result:
    """Section 1: ``app.run`` one after another, against raw SQLite and DBOS."""
    n = sizes.sequential_n

    def measure() -> Result:
        rounds, median = run_rounds(
            lambda index: sequential_round(workdir, index, n, sizes.sequential_warmup),
            sizes.sequential_rounds,
        )
        return {"rounds": rounds, "median": median}

    progress(f"sequential: {sizes.sequential_rounds} rounds of {n} workflows")
    bracket = sqlite_bracket(workdir, sizes.raw_seconds, measure)
    rounds, median = bracket["measured"]["rounds"], bracket["measured"]["median"]
    progress(f"sequential: DBOS peer, {n} workflows")
    dbos = baselines.dbos_sequential(n, str(workdir / "dbos-sequential"))
    raw = bracket["raw"]["mean_commits_per_s"]
    dbos_steps = dbos.get("steps_per_s")
    ratio_raw = median["steps_per_s"] / raw
    ratio_dbos = median["steps_per_s"] / dbos_steps if dbos_steps else None
    targets = [target("steps_per_s / raw_commits_per_s", ratio_raw, 0.5)]
    if ratio_dbos is not None:
        targets.append(target("steps_per_s / dbos_steps_per_s", ratio_dbos, 5.0))
    else:
        targets.append({"target": "steps_per_s / dbos_steps_per_s >= 5", "pass": False,
                        "error": "no DBOS figure"})  # fmt: skip
    return {
        "n": n,
        "warmup": sizes.sequential_warmup,
        "how": "app.run(three, x) in a loop, one process; median round by steps/s",
        **{key: median[key] for key in ("workflows_per_s", "steps_per_s", "p50_ms", "p99_ms")},
        "rounds": rounds,
        "baseline_raw_commits_per_s": bracket["raw"],
        "dbos": dbos,
        "ratio_steps_to_raw": ratio_raw,
        "ratio_steps_to_dbos": ratio_dbos,
        "targets": targets,
        "pass": all(t["pass"] for t in targets),
    }


# --------------------------------------------------------------------------------------
# Concurrent
# --------------------------------------------------------------------------------------


def start_rates(workdir: Path, sizes: Sizes) -> Result:
    """Start rates: ``app.start`` in a loop vs. :func:`bulk_start` in one transaction."""
    path = str(workdir / "start-rate.db")
    remove_db(path)
    app = make_app(path)
    try:
        app.store  # noqa: B018 -- create the schema outside the timing
        n = sizes.start_loop_n
        t0 = time.perf_counter()
        for x in range(n):
            app.start(THREE, x)
        loop_s = time.perf_counter() - t0
        m = sizes.concurrent_m
        t0 = time.perf_counter()
        bulk_start(app, THREE, range(m))
        bulk_s = time.perf_counter() - t0
    finally:
        app.close()
        remove_db(path)
    return {
        "app_start_loop": {"n": n, "starts_per_s": n / loop_s, "elapsed_s": loop_s},
        "bulk_one_transaction": {"n": m, "starts_per_s": m / bulk_s, "elapsed_s": bulk_s},
        "note": "the concurrent variants are seeded with the bulk insert (rows shaped "
        "like app.start's: new_row plus the initial transitions row)",
    }


def seeded_app(workdir: Path, name: str, m: int) -> tuple[daytwo.App, str]:
    """A fresh database at ``<workdir>/<name>.db`` holding ``m`` RUNNABLE instances."""
    path = str(workdir / f"{name}.db")
    remove_db(path)
    app = make_app(path)
    bulk_start(app, THREE, range(m))
    return app, path


def stop_worker(worker: daytwo.Worker, timeout_s: float = 60.0) -> None:
    """Stop ``worker``, but give up (raising) after ``timeout_s`` instead of hanging."""
    stopper = threading.Thread(target=worker.stop, name="bench-stop-worker", daemon=True)
    stopper.start()
    stopper.join(timeout_s)
    if stopper.is_alive():
        raise TimeoutError(f"worker did not stop within {timeout_s} s")


def threads_variant(workdir: Path, m: int, threads: int, timeout_s: float) -> Result:
    """One worker in this process with ``threads`` threads."""
    app, path = seeded_app(workdir, f"threads-{threads}", m)
    worker = app.worker(concurrency=threads)
    try:
        started = time.time()
        worker.start()
        wait_until_done(app, m, timeout_s)
        gc_stats = writer_stats(worker)
        result = completion_stats(app, m, started)
    finally:
        stop_worker(worker)
        app.close()
        remove_db(path)
    result["group_commit"] = gc_stats
    return result


def processes_variant(
    workdir: Path, m: int, processes: int, concurrency: int, timeout_s: float
) -> Result:
    """``processes`` worker subprocesses with ``concurrency`` threads each, one database.

    See :func:`_common.processes_throughput`.
    """
    path = str(workdir / f"processes-{processes}.db")
    remove_db(path)
    app = make_app(path)
    app.store  # noqa: B018 -- create the schema before the children open the file
    try:
        return processes_throughput(app, path, m, processes, concurrency, timeout_s)
    finally:
        app.close()
        remove_db(path)


def concurrent(workdir: Path, sizes: Sizes) -> Result:
    """Section 2: M instances started up front, processed by workers."""
    m = sizes.concurrent_m
    progress(f"concurrent: start rates ({sizes.start_loop_n} app.start, {m} bulk)")
    starts = start_rates(workdir, sizes)

    timeout = sizes.variant_timeout_s

    def measure() -> Result:
        variants = [
            run_variant(
                f"1 process x {threads} threads",
                functools.partial(threads_variant, workdir, m, threads, timeout),
            )
            for threads in sizes.thread_counts
        ]
        processes, per_process = sizes.processes, sizes.process_concurrency
        variants.append(
            run_variant(
                f"{processes} processes x {per_process} threads",
                functools.partial(processes_variant, workdir, m, processes, per_process, timeout),
            )
        )
        return {"variants": variants}

    progress(f"concurrent: {m} instances per variant")
    bracket = sqlite_bracket(workdir, sizes.raw_seconds, measure)
    raw = bracket["raw"]["mean_commits_per_s"]
    variants = bracket["measured"]["variants"]
    for result in variants:
        if "error" in result:
            result["target"] = {"pass": False}
            continue
        result["ratio_steps_to_raw"] = result["steps_per_s"] / raw
        result["target"] = target(
            "steps_per_s / raw_commits_per_s", result["ratio_steps_to_raw"], 1.0
        )
    progress(f"concurrent: DBOS peer, {m} workflows on {sizes.dbos_threads} threads")
    dbos = baselines.dbos_concurrent(m, sizes.dbos_threads, str(workdir / "dbos-concurrent"))
    dbos_steps = dbos.get("steps_per_s")
    for result in variants:
        if "error" not in result and dbos_steps:
            result["ratio_steps_to_dbos"] = result["steps_per_s"] / dbos_steps
    return {
        "m": m,
        "how": "M instances bulk-started, then workers run them; timed from worker start "
        "to the last finished_at",
        "starts": starts,
        "variants": variants,
        "baseline_raw_commits_per_s": bracket["raw"],
        "dbos": dbos,
        # K (threads or processes) is the deployment's choice: the target is met when some
        # configuration reaches the raw rate. Every variant stays in the document; too few
        # threads give the group committer too little to batch.
        "passing_variants": [v["variant"] for v in variants if v["target"]["pass"]],
        "pass": any(v["target"]["pass"] for v in variants),
    }


# --------------------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------------------


def memory(workdir: Path, sizes: Sizes) -> Result:
    """Section 3: RSS of a worker process holding many suspended instances."""
    n = sizes.memory_n
    progress(f"memory: {n} parked instances, worker concurrency {sizes.memory_concurrency}")
    path = str(workdir / "memory.db")
    command = [
        sys.executable, str(HERE / "_workload.py"), "memory", "--db", path,
        "--n", str(n), "--concurrency", str(sizes.memory_concurrency),
        "--timeout", str(sizes.memory_timeout_s),
    ]  # fmt: skip
    limit = sizes.memory_timeout_s + 120
    proc = subprocess.run(command, capture_output=True, text=True, check=False, timeout=limit)
    remove_db(path)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        tail = " | ".join(proc.stderr.strip().splitlines()[-5:])
        return {"error": f"memory subprocess exited {proc.returncode}: {tail}"}
    result: Result = json.loads(lines[-1])
    waiting = result["status_counts"].get("WAITING", 0)
    progress(
        f"memory: RSS {result['rss_before_mb']:.1f} -> {result['rss_after_mb']:.1f} MB, "
        f"{waiting} of {n} suspended at {result['suspended_per_s']:.0f}/s"
    )
    document: Result = {
        "how": "subprocess: bulk-start n instances of a workflow whose first operation is "
        "ctx.wait_for_signal (one transaction, rows shaped like app.start's), then a worker "
        "runs until all are WAITING; RSS read with psutil after gc.collect()",
        **result,
        "target": target("delta_mb", result["delta_mb"], 50.0, below=True),
        "pass": result["all_waiting"] and result["delta_mb"] < 50.0,
    }
    if not result["all_waiting"]:
        document["note"] = (
            f"the worker suspended only {waiting} of {n} instances within the "
            f"{sizes.memory_timeout_s:g} s limit; rss_after_mb was read at that point, so the "
            "memory target is not established and the section fails"
        )
    return document


# --------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the JSON document and write it under bench/results/."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument(
        "--sections",
        default="sequential,concurrent,memory",
        help="comma-separated subset of sequential,concurrent,memory,async,fanout",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=RESULTS,
        help="directory in which a temporary folder holds the database files (default: "
        "bench/results); the raw SQLite baseline runs there too",
    )
    parser.add_argument("--output", type=Path, default=None, help="where to write the JSON")
    ns = parser.parse_args(argv)
    sizes = QUICK if ns.quick else FULL
    sections = [s.strip() for s in ns.sections.split(",") if s.strip()]
    unknown = set(sections) - {"sequential", "concurrent", "memory", "async", "fanout"}
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    output = ns.output or RESULTS / ("latest-quick.json" if ns.quick else "latest.json")
    ns.workdir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="bench-engine-", dir=ns.workdir)).resolve()

    began = time.perf_counter()
    document: Result = {
        "benchmark": "daytwo bench_engine",
        "mode": "quick" if ns.quick else "full",
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "environment": environment(workdir),
        "durability": durability(workdir),
        "sizes": dataclasses.asdict(sizes),
    }
    runners: dict[str, Callable[[Path, Sizes], Result]] = {
        "sequential": sequential,
        "concurrent": concurrent,
        "memory": memory,
        "async": async_sequential,
        "fanout": lambda workdir, sizes: fanout(workdir, sizes.fanout_runs),
    }
    try:
        for name in sections:
            document[name] = runners[name](workdir, sizes)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    document["summary"] = {
        name: document[name].get("pass") for name in sections if isinstance(document[name], dict)
    }
    write_document(document, output, began)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
