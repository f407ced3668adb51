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
  the last instance finished.
* ``memory`` -- RSS of a worker process suspending 100,000 instances that wait for a
  signal (in a subprocess).

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import platform
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import baselines  # noqa: E402 -- needs the sys.path entry above
from _workload import (  # noqa: E402
    STEPS_PER_WORKFLOW,
    THREE,
    bulk_start,
    expected,
    make_app,
    percentile,
    remove_db,
    status_counts,
    writer_stats,
)

import daytwo  # noqa: E402

Result = dict[str, Any]
"""A JSON-serialisable measurement result."""

REPO = HERE.parent
RESULTS = HERE / "results"
STEPS = STEPS_PER_WORKFLOW


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
)


def progress(message: str) -> None:
    """Report progress on stderr."""
    print(f"[bench_engine {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def rounded(value: Any) -> Any:
    """``value`` with floats rounded for a readable JSON document (recursively)."""
    if isinstance(value, float):
        return round(value, 3) if abs(value) < 100 else round(value, 1)
    if isinstance(value, dict):
        return {key: rounded(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(item) for item in value]
    return value


def latency_summary(seconds: Sequence[float]) -> Result:
    """p50/p99/mean/max in milliseconds of latencies given in seconds."""
    ordered = sorted(seconds)
    return {
        "p50_ms": percentile(ordered, 0.50) * 1000,
        "p99_ms": percentile(ordered, 0.99) * 1000,
        "mean_ms": statistics.fmean(ordered) * 1000 if ordered else float("nan"),
        "max_ms": ordered[-1] * 1000 if ordered else float("nan"),
    }


def target(name: str, value: float, goal: float, *, below: bool = False) -> Result:
    """A target check: ``value >= goal`` (``value < goal`` with ``below``)."""
    passed = value < goal if below else value >= goal
    return {"target": f"{name} {'<' if below else '>='} {goal:g}", "value": value, "pass": passed}


# --------------------------------------------------------------------------------------
# Baselines and environment
# --------------------------------------------------------------------------------------


def raw_rate(workdir: Path, seconds: float) -> Result:
    """Raw one-row-commit rate of plain sqlite3 (WAL, FULL) in ``workdir``."""
    path = str(workdir / "raw.sqlite")
    result = baselines.raw_sqlite_commit_rate(path, seconds)
    remove_db(path)
    return result


def raw_bracket(workdir: Path, seconds: float, measure: Callable[[], Result]) -> Result:
    """Run ``measure`` between two raw commit-rate measurements; report all three."""
    before = raw_rate(workdir, seconds)
    progress(f"raw sqlite before: {before['commits_per_s']:.0f} commits/s")
    measured = measure()
    after = raw_rate(workdir, seconds)
    progress(f"raw sqlite after: {after['commits_per_s']:.0f} commits/s")
    mean = (before["commits_per_s"] + after["commits_per_s"]) / 2
    return {
        "measured": measured,
        "raw": {
            "before_commits_per_s": before["commits_per_s"],
            "after_commits_per_s": after["commits_per_s"],
            "mean_commits_per_s": mean,
            "journal_mode": before["journal_mode"],
            "synchronous": before["synchronous"],
            "seconds_each": seconds,
        },
    }


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


def environment(workdir: Path) -> Result:
    """Where and on what the benchmark ran (and which daytwo source was measured)."""
    source = Path(daytwo.__file__).resolve().parent

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=REPO, capture_output=True, text=True, check=False
            ).stdout.strip()
        except OSError:
            return "unknown"

    return {
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "daytwo_version": daytwo.__version__,
        "daytwo_imported_from": str(source),
        "daytwo_from_this_repo": source.is_relative_to(REPO),
        "repo_git_commit": git("rev-parse", "--short", "HEAD"),
        "repo_src_dirty": bool(git("status", "--porcelain", "--", "src")),
        "workdir": str(workdir),
        "loadavg_at_start": list(os.getloadavg()),
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
        for x in range(-warmup, 0):
            app.run(THREE, x)
        latencies: list[float] = []
        wrong = 0
        start = time.perf_counter()
        for x in range(n):
            t0 = time.perf_counter()
            out = app.run(THREE, x)
            latencies.append(time.perf_counter() - t0)
            wrong += out != expected(x)
        elapsed = time.perf_counter() - start
    finally:
        app.close()
        remove_db(path)
    if wrong:
        raise RuntimeError(f"{wrong} daytwo workflows returned a wrong result")
    return {
        "workflows_per_s": n / elapsed,
        "steps_per_s": n * STEPS / elapsed,
        **latency_summary(latencies),
        "elapsed_s": elapsed,
    }


def sequential(workdir: Path, sizes: Sizes) -> Result:
    """Section 1: ``app.run`` one after another, against raw SQLite and DBOS."""
    n = sizes.sequential_n

    def measure() -> Result:
        rounds = []
        for index in range(sizes.sequential_rounds):
            result = sequential_round(workdir, index, n, sizes.sequential_warmup)
            progress(
                f"sequential round {index + 1}: {result['workflows_per_s']:.0f} workflows/s, "
                f"{result['steps_per_s']:.0f} steps/s, p50 {result['p50_ms']:.2f} ms"
            )
            rounds.append(result)
        return {"rounds": rounds}

    progress(f"sequential: {sizes.sequential_rounds} rounds of {n} workflows")
    bracket = raw_bracket(workdir, sizes.raw_seconds, measure)
    rounds = bracket["measured"]["rounds"]
    median = sorted(rounds, key=lambda r: r["steps_per_s"])[len(rounds) // 2]
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
        "like app.start's: App._new_row plus the initial transitions row)",
    }


def seeded_app(workdir: Path, name: str, m: int) -> tuple[daytwo.App, str]:
    """A fresh database at ``<workdir>/<name>.db`` holding ``m`` RUNNABLE instances."""
    path = str(workdir / f"{name}.db")
    remove_db(path)
    app = make_app(path)
    bulk_start(app, THREE, range(m))
    return app, path


def wait_until_done(app: daytwo.App, m: int, timeout_s: float) -> None:
    """Poll until ``m`` instances of the workflow SUCCEEDED (raise on timeout or failure)."""
    deadline = time.monotonic() + timeout_s
    while True:
        counts = status_counts(app, THREE)
        if counts.get("SUCCEEDED", 0) >= m:
            return
        bad = {k: v for k, v in counts.items() if k not in ("SUCCEEDED", "RUNNABLE", "RUNNING")}
        if bad:
            raise RuntimeError(f"unexpected instance statuses: {counts}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"instances not done after {timeout_s} s: {counts}")
        time.sleep(0.05)


def completion_stats(app: daytwo.App, m: int, started_at: float) -> Result:
    """Throughput and latencies of a finished variant, from the stored timestamps.

    ``started_at`` is the wall-clock time the worker(s) started; the run ends at the
    largest ``finished_at``. Start-to-finish latency is ``finished_at - created_at`` (it
    includes the time an instance queued behind the others, since all were started up
    front); run latency is ``finished_at`` minus the time it left the ``queued`` state.
    """
    with app.store.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT i.created_at, i.finished_at, i.output, t.at FROM instances i "
            "JOIN transitions t ON t.instance_id = i.id AND t.from_state = 'queued' "
            "WHERE i.workflow = ? AND i.status = 'SUCCEEDED'",
            (THREE,),
        ).all()
    if len(rows) != m:
        raise RuntimeError(f"expected {m} finished instances, found {len(rows)}")
    end = max(row[1] for row in rows)
    elapsed = end - started_at
    outputs = {json.loads(row[2]) for row in rows}
    if outputs != {expected(x) for x in range(m)}:
        raise RuntimeError("some daytwo instances returned a wrong result")
    return {
        "workflows_per_s": m / elapsed,
        "steps_per_s": m * STEPS / elapsed,
        "elapsed_s": elapsed,
        "start_to_finish": latency_summary([row[1] - row[0] for row in rows]),
        "run": latency_summary([row[1] - row[3] for row in rows]),
    }


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

    The parent creates the schema, starts the children, waits until each has opened the
    database, bulk-starts the instances and then tells all children to go, so neither
    interpreter start-up nor seeding counts (and ``created_at`` is close to the start).
    """
    path = str(workdir / f"processes-{processes}.db")
    remove_db(path)
    app = make_app(path)
    app.store  # noqa: B018 -- create the schema before the children open the file
    script = str(HERE / "_workload.py")
    command = [sys.executable, script, "worker", "--db", path, "--concurrency", str(concurrency)]
    children = [
        subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    try:
        for child in children:
            assert child.stdout is not None
            line = child.stdout.readline().strip()
            if line != "ready":
                raise RuntimeError(f"worker subprocess did not start (said {line!r})")
        bulk_start(app, THREE, range(m))
        started = time.time()
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        wait_until_done(app, m, timeout_s)
        result = completion_stats(app, m, started)
    finally:
        reports = []
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                out, _ = child.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                child.kill()
                out, _ = child.communicate()
            lines = [ln for ln in out.splitlines() if ln.startswith("{")]
            reports.append(json.loads(lines[-1]) if lines else {"error": "no report"})
        app.close()
        remove_db(path)
    result["per_process"] = reports
    result["group_commit"] = {
        "commits": sum(r.get("commits", 0) for r in reports),
        "writes": sum(r.get("writes", 0) for r in reports),
    }
    commits = result["group_commit"]["commits"]
    result["group_commit"]["writes_per_commit"] = (
        result["group_commit"]["writes"] / commits if commits else 0.0
    )
    return result


def run_variant(name: str, measure: Callable[[], Result]) -> Result:
    """Run one concurrent variant; a failure becomes an ``error`` entry, not an abort."""
    try:
        result = measure()
    except Exception as exc:
        progress(f"concurrent {name}: FAILED: {type(exc).__name__}: {exc}")
        return {"variant": name, "error": f"{type(exc).__name__}: {exc}"}
    progress(
        f"concurrent {name}: {result['workflows_per_s']:.0f} workflows/s, "
        f"{result['steps_per_s']:.0f} steps/s"
    )
    return {"variant": name, **result}


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
    bracket = raw_bracket(workdir, sizes.raw_seconds, measure)
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
        "pass": all(v["target"]["pass"] for v in variants),
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
        help="comma-separated subset of sequential,concurrent,memory",
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
    unknown = set(sections) - {"sequential", "concurrent", "memory"}
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
    }
    try:
        for name in sections:
            document[name] = runners[name](workdir, sizes)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    document["summary"] = {
        name: document[name].get("pass") for name in sections if isinstance(document[name], dict)
    }
    document["environment"]["loadavg_at_end"] = list(os.getloadavg())
    document["total_s"] = time.perf_counter() - began
    text = json.dumps(rounded(document), indent=2)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text + "\n")
    print(text)
    progress(f"done in {document['total_s']:.0f} s; written to {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
