"""SLO evaluation benchmark: 1,000,000 finished and 100,000 active instances.

Run from the repository root::

    .venv/bin/python bench/bench_slo.py            # full size (about a minute to load)
    .venv/bin/python bench/bench_slo.py --quick    # smoke test (seconds)

Bulk-loads instances straight into a migrated daytwo SQLite database together with the
``slo_buckets`` rows the engine would have written for them (computed by the engine's own
``bucket_rows``), then measures one full evaluation of 10 objectives (``Evaluator.evaluate``:
measure, record, reconcile alerts; target < 100 ms) by a long-lived evaluator as in a
worker, and by a new one each time, and ``daytwo slo status`` end to end in a fresh process
(target < 1 s). Prints one JSON document on stdout, writes it to
``bench/results/slo-latest.json`` (``slo-latest-quick.json`` with ``--quick``). Not part of
the test suite.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import daytwo
from daytwo import slo
from daytwo.store._aggregates import bucket_rows

HERE = Path(__file__).resolve().parent
WORKFLOWS = ("order", "loan", "kyc", "claim", "onboarding")
DAY = 86400.0
STATES = ("queued", "charge", "manager-approval", "carrier-pickup")
TERMINAL = ("SUCCEEDED",) * 397 + ("FAILED",) * 2 + ("COMPENSATED",)

OBJECTIVES = """\
objectives:
  - {name: order-success, workflow: order, objective: 0.99, sli: {kind: success}}
  - {name: loan-success, workflow: loan, objective: 0.99, sli: {kind: success}}
  - {name: kyc-success, workflow: kyc, objective: 0.995, sli: {kind: success}, window: month}
  - {name: claim-success, workflow: claim, objective: 0.99, sli: {kind: success}}
  - {name: onboarding-success, workflow: onboarding, objective: 0.99, sli: {kind: success}}
  - {name: order-fast, workflow: order, objective: 0.95, sli: {kind: cycle_time, within: 4h}}
  - {name: loan-fast, workflow: loan, objective: 0.9, sli: {kind: cycle_time, within: 1d}}
  - {name: claim-fast, workflow: claim, objective: 0.9, sli: {kind: cycle_time, within: 2h}}
  - name: order-stuck
    workflow: order
    objective: 0.98
    sli: {kind: stuck_ratio, thresholds: {manager-approval: 4h}}
  - name: order-retries
    workflow: order
    sli: {kind: retry_rate, step: charge, max_per_instance: 0.2}
"""


def log(message: str) -> None:
    print(f"[bench_slo {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def load(path: Path, finished: int, active: int, now: float, seed: int = 1) -> dict[str, Any]:
    """Bulk-insert instances and their consistent bucket counts; returns counts."""
    rng = random.Random(seed)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    columns = (
        "id, workflow, version, status, state, state_entered_at, input, output, run_at, "
        "created_at, updated_at, finished_at, wait_kind, wait_name, attempt, history_size, "
        "transition_count"
    )
    insert = f"INSERT INTO instances ({columns}) VALUES ({', '.join('?' * 17)})"
    buckets: Counter[tuple[str, int, float, str, str]] = Counter()
    started = time.perf_counter()
    rows: list[tuple[Any, ...]] = []
    transitions: list[tuple[Any, ...]] = []

    def flush() -> None:
        conn.executemany(insert, rows)
        conn.executemany("INSERT INTO transitions VALUES (?, ?, ?, ?, ?, ?)", transitions)
        rows.clear()
        transitions.clear()

    conn.execute("BEGIN")
    for n in range(finished):
        workflow = WORKFLOWS[n % len(WORKFLOWS)]
        # Finished over the last 30 days, oldest first (ids sort by creation like the engine's).
        created = now - 30 * DAY + (n / finished) * 30 * DAY - 4 * 3600
        took = min(rng.expovariate(1 / 3600), 29 * DAY)
        ended = min(created + took, now - 1)
        status = rng.choice(TERMINAL)
        iid = f"f{n:09d}"
        rows.append((iid, workflow, "1", status, status.lower(), ended, "{}", None, None,
                     created, ended, ended, None, None, 0, 3, 2))  # fmt: skip
        retried = rng.random() < 0.05
        attempts = [{"name": "charge", "finished_at": created + took / 2}] if retried else []
        history = [{"kind": "compensation", "name": "charge", "finished_at": ended}] * (
            status == "COMPENSATED"
        )
        for row in bucket_rows(
            (workflow, "1", created), {"finished_at": ended, "status": status}, attempts, history
        ):
            key = (row["workflow"], row["resolution"], row["bucket_start"], row["version"],
                   row["series"])  # fmt: skip
            buckets[key] += 1
        if n >= finished - 2000:  # recent successes give the stuck medians their history
            mid = created + took / 2
            transitions.append((iid, 0, None, "queued", "RUNNABLE", created))
            transitions.append((iid, 1, "queued", "charge", "RUNNING", mid))
            transitions.append((iid, 2, "charge", status.lower(), status, ended))
        if len(rows) >= 50_000:
            flush()
    for n in range(active):
        workflow = WORKFLOWS[n % len(WORKFLOWS)]
        created = now - rng.uniform(0, 2 * DAY)
        state = rng.choice(STATES[1:])
        entered = rng.uniform(created, now)
        kind = {"manager-approval": "task", "carrier-pickup": "timer"}.get(state)
        status = "WAITING" if kind else "RUNNABLE"
        run_at = None if kind == "task" else entered + 600
        rows.append((f"a{n:09d}", workflow, "1", status, state, entered, "{}", None, run_at,
                     created, entered, None, kind, state if kind else None, 0, 2, 2))  # fmt: skip
        if len(rows) >= 50_000:
            flush()
    flush()
    # A running system keeps minute buckets for 8 days (the evaluator prunes older ones).
    horizon = now - 8 * DAY
    buckets = Counter({k: v for k, v in buckets.items() if k[1] != 60 or k[2] >= horizon})
    conn.executemany(
        "INSERT INTO slo_buckets (workflow, resolution, bucket_start, version, series, events) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(*key, count) for key, count in buckets.items()],
    )
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()
    return {
        "finished": finished,
        "active": active,
        "bucket_rows": len(buckets),
        "load_s": round(time.perf_counter() - started, 2),
    }


def hot_path_cpu(directory: Path, runs: int) -> dict[str, float]:
    """CPU time per three-step ``app.run`` with the bucket upserts on and off (same process).

    Off means the runner passes no identity, so the store keeps no aggregates: the
    difference is what the SLO buckets cost the hot path, without the disk's noise.
    """
    from daytwo.engine import _runner

    app = daytwo.App(f"sqlite:///{directory / 'hot.db'}")

    @app.step
    def a(x: int) -> int:
        return x + 1

    @app.workflow(name="three")
    def three(ctx: daytwo.Context, x: int) -> int:
        return a(a(a(x)))

    original = _runner.Run.__init__

    def without_identity(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.identity = None

    def per_run() -> float:
        start = time.process_time()
        for i in range(runs):
            app.run("three", i)
        return (time.process_time() - start) / runs * 1e6

    per_run()
    on, off = [], []
    try:
        for _ in range(5):
            _runner.Run.__init__ = original  # type: ignore[method-assign]
            on.append(per_run())
            _runner.Run.__init__ = without_identity  # type: ignore[method-assign]
            off.append(per_run())
    finally:
        _runner.Run.__init__ = original  # type: ignore[method-assign]
        app.close()
    return {
        "cpu_us_per_workflow_with_buckets": round(statistics.median(on), 1),
        "cpu_us_per_workflow_without": round(statistics.median(off), 1),
        "runs_each": runs * 5,
    }


def timed(fn: Any, repeat: int) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return {
        "median_ms": round(statistics.median(times), 2),
        "min_ms": round(min(times), 2),
        "max_ms": round(max(times), 2),
        "runs": repeat,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument("--workdir", default=str(HERE / "results"))
    parser.add_argument("--output", default=None)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    finished, active = (20_000, 2_000) if args.quick else (1_000_000, 100_000)
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="bench-slo-", dir=args.workdir))
    path = workdir / "slo.db"
    url = f"sqlite:///{path}"
    log("hot path: CPU per workflow with and without the SLO buckets")
    hot = hot_path_cpu(workdir, 200 if args.quick else 1000)
    now = time.time()
    app = daytwo.App(url)
    app.list(limit=1)  # create and migrate
    app.close()
    log(f"loading {finished:,} finished and {active:,} active instances into {path}")
    loaded = load(path, finished, active, now)
    log(f"loaded in {loaded['load_s']} s ({loaded['bucket_rows']:,} bucket rows)")

    objectives_file = workdir / "slos.yaml"
    objectives_file.write_text(OBJECTIVES)
    objectives = slo.load_objectives(objectives_file)
    app = daytwo.App(url)
    evaluator = slo.Evaluator(app.store, app.clock, objectives)
    evaluator.evaluate()  # warm: definition versions, connection, caches of SQLite pages
    # A new evaluator each time: nothing cached (the worker's evaluator reads the sums of
    # hours older than 3 days once an hour; that is the steady state measured next).
    cold = timed(lambda: slo.Evaluator(app.store, app.clock, objectives).evaluate(), 5)
    evaluation = timed(evaluator.evaluate, 10)
    status_only = timed(evaluator.status, 10)
    statuses = evaluator.status()
    app.close()
    log(f"evaluation of {len(objectives)} SLOs: median {evaluation['median_ms']} ms")

    daytwo_cli = Path(sys.executable).with_name("daytwo")
    command = [str(daytwo_cli), "slo", "status", "--objectives", str(objectives_file),
               "--database", url]  # fmt: skip
    cli_times = []
    for _ in range(3):
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=True,
                              env={"COLUMNS": "200", "PATH": ""})  # fmt: skip
        cli_times.append((time.perf_counter() - start) * 1000)
    log(f"daytwo slo status: median {statistics.median(cli_times):.0f} ms")
    result = {
        "benchmark": "daytwo bench_slo",
        "mode": "quick" if args.quick else "full",
        "environment": {
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "platform": platform.platform(),
            "daytwo_version": daytwo.__version__,
        },
        "data": {**loaded, "database_mb": round(path.stat().st_size / 1e6, 1)},
        "objectives": len(objectives),
        "hot_path": hot,
        "evaluate_10_slos": evaluation,
        "evaluate_10_slos_new_evaluator": cold,
        "status_10_slos": status_only,
        "cli_slo_status_ms": {
            "median_ms": round(statistics.median(cli_times), 1),
            "min_ms": round(min(cli_times), 1),
            "runs": len(cli_times),
        },
        "cli_table_lines": len(done.stdout.splitlines()),
        "sample": {
            s.name: {"sli": s.sli, "budget_remaining": s.budget_remaining, "alert": s.alert_state}
            for s in statuses
        },
        "targets": [
            {
                "target": "evaluate 10 SLOs < 100 ms",
                "value_ms": evaluation["median_ms"],
                "pass": evaluation["median_ms"] < 100,
            },
            {
                "target": "daytwo slo status < 1 s",
                "value_ms": round(statistics.median(cli_times), 1),
                "pass": statistics.median(cli_times) < 1000,
            },
        ],
    }
    text = json.dumps(result, indent=2)
    print(text)
    output = (
        Path(args.output)
        if args.output
        else HERE / "results" / ("slo-latest-quick.json" if args.quick else "slo-latest.json")
    )
    output.write_text(text + "\n")
    if args.keep:
        log(f"kept {path}")
        return
    shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
