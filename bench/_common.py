"""Measurement and reporting helpers shared by the benchmark drivers.

``bench_engine.py`` (SQLite) and ``bench_postgres.py`` (PostgreSQL) measure the same
workloads (see ``_workload.py``) the same way; what they share lives here:

* reporting: :func:`progress`, :func:`rounded`, :func:`latency_summary`, :func:`target`,
  :func:`environment`, :func:`write_document`;
* baselines: :func:`raw_bracket` runs a measurement between two raw commit-rate
  measurements;
* workloads: :func:`timed_runs` (``app.run`` one after another), :func:`wait_until_done`
  and :func:`completion_stats` (instances started up front and run by workers),
  :class:`WorkerProcesses` and :func:`processes_throughput` (worker subprocesses), and
  :func:`run_variant`.

Everything works on any database daytwo supports. Importing this module has no side
effects.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import sqlalchemy as sa
from _workload import STEPS_PER_WORKFLOW, THREE, bulk_start, expected, percentile, status_counts

import daytwo
from daytwo.store._schema import instances, transitions

__all__ = [
    "REPO",
    "Result",
    "WorkerProcesses",
    "completion_stats",
    "environment",
    "latency_summary",
    "processes_throughput",
    "progress",
    "raw_bracket",
    "rounded",
    "run_rounds",
    "run_variant",
    "target",
    "timed_runs",
    "wait_until_done",
    "write_document",
]

Result = dict[str, Any]
"""A JSON-serialisable measurement result."""

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

# --------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------


def progress(message: str) -> None:
    """Report progress on stderr, prefixed with the running script's name."""
    name = Path(sys.argv[0]).stem or "bench"
    print(f"[{name} {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_rounds(run_round: Callable[[int], Result], count: int) -> tuple[list[Result], Result]:
    """Sequential rounds (``run_round(index)``, each a :func:`timed_runs` result) and the
    median round by steps/s."""
    rounds = []
    for index in range(count):
        result = run_round(index)
        progress(
            f"sequential round {index + 1}: {result['workflows_per_s']:.0f} workflows/s, "
            f"{result['steps_per_s']:.0f} steps/s, p50 {result['p50_ms']:.2f} ms"
        )
        rounds.append(result)
    return rounds, sorted(rounds, key=lambda r: r["steps_per_s"])[len(rounds) // 2]


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


def write_document(document: Result, output: Path, began: float) -> None:
    """Finish ``document`` (load, total time), print it and write it to ``output``."""
    document["environment"]["loadavg_at_end"] = list(os.getloadavg())
    document["total_s"] = time.perf_counter() - began
    text = json.dumps(rounded(document), indent=2)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text + "\n")
    print(text)
    progress(f"done in {document['total_s']:.0f} s; written to {output}")


# --------------------------------------------------------------------------------------
# Baselines
# --------------------------------------------------------------------------------------

#: Keys of a raw commit-rate result that are counts, not settings.
_RAW_COUNTS = ("commits_per_s", "commits", "elapsed_s")


def raw_bracket(raw: Callable[[], Result], measure: Callable[[], Result], seconds: float) -> Result:
    """Run ``measure`` between two raw commit-rate measurements (``raw()``); report all.

    ``raw`` returns ``{"commits_per_s", ...settings}``; the settings of the first
    measurement are copied into the report.
    """
    before = raw()
    progress(f"raw before: {before['commits_per_s']:.0f} commits/s")
    measured = measure()
    after = raw()
    progress(f"raw after: {after['commits_per_s']:.0f} commits/s")
    mean = (before["commits_per_s"] + after["commits_per_s"]) / 2
    return {
        "measured": measured,
        "raw": {
            "before_commits_per_s": before["commits_per_s"],
            "after_commits_per_s": after["commits_per_s"],
            "mean_commits_per_s": mean,
            **{key: value for key, value in before.items() if key not in _RAW_COUNTS},
            "seconds_each": seconds,
        },
    }


# --------------------------------------------------------------------------------------
# Workloads
# --------------------------------------------------------------------------------------


def timed_runs(app: daytwo.App, n: int, warmup: int) -> Result:
    """``warmup`` untimed, then ``n`` timed ``app.run(THREE, x)`` one after another."""
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
    if wrong:
        raise RuntimeError(f"{wrong} daytwo workflows returned a wrong result")
    return {
        "workflows_per_s": n / elapsed,
        "steps_per_s": n * STEPS_PER_WORKFLOW / elapsed,
        **latency_summary(latencies),
        "elapsed_s": elapsed,
    }


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
    query = (
        sa.select(
            instances.c.created_at, instances.c.finished_at, instances.c.output, transitions.c.at
        )
        .join(
            transitions,
            sa.and_(
                transitions.c.instance_id == instances.c.id, transitions.c.from_state == "queued"
            ),
        )
        .where(instances.c.workflow == THREE, instances.c.status == "SUCCEEDED")
    )
    with app.store.read() as conn:
        rows = conn.execute(query).all()
    if len(rows) != m:
        raise RuntimeError(f"expected {m} finished instances, found {len(rows)}")
    end = max(row[1] for row in rows)
    elapsed = end - started_at
    outputs = {json.loads(row[2]) for row in rows}
    if outputs != {expected(x) for x in range(m)}:
        raise RuntimeError("some daytwo instances returned a wrong result")
    return {
        "workflows_per_s": m / elapsed,
        "steps_per_s": m * STEPS_PER_WORKFLOW / elapsed,
        "elapsed_s": elapsed,
        "start_to_finish": latency_summary([row[1] - row[0] for row in rows]),
        "run": latency_summary([row[1] - row[3] for row in rows]),
    }


class WorkerProcesses:
    """``processes`` worker subprocesses (``_workload.py worker``) on one database.

    Entering starts them and waits until each has opened the database (said ``ready``);
    :meth:`go` lets them claim; leaving sends SIGTERM and collects each one's counters in
    :attr:`reports`. ``database`` is a SQLite file path or a URL; ``poll_interval`` None
    keeps the worker's default.
    """

    def __init__(
        self,
        database: str,
        processes: int,
        concurrency: int,
        *,
        poll_interval: float | None = None,
    ) -> None:
        command = [
            sys.executable, str(HERE / "_workload.py"), "worker",
            "--db", database, "--concurrency", str(concurrency),
        ]  # fmt: skip
        if poll_interval is not None:
            command += ["--poll-interval", str(poll_interval)]
        self.command = command
        self.processes = processes
        self.children: list[subprocess.Popen[str]] = []
        self.reports: list[Result] = []

    def __enter__(self) -> WorkerProcesses:
        self.children = [
            subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            for _ in range(self.processes)
        ]
        try:
            for child in self.children:
                assert child.stdout is not None
                line = child.stdout.readline().strip()
                if line != "ready":
                    raise RuntimeError(f"worker subprocess did not start (said {line!r})")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def go(self, stagger_s: float = 0.0) -> None:
        """Let every worker start claiming, each ``stagger_s`` after the previous one.

        Staggering keeps the polling loops of idle workers out of lockstep, as they are in
        a cluster whose workers started at different times.
        """
        for index, child in enumerate(self.children):
            if index and stagger_s:
                time.sleep(stagger_s)
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for child in self.children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in self.children:
            try:
                out, _ = child.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                child.kill()
                out, _ = child.communicate()
            lines = [ln for ln in out.splitlines() if ln.startswith("{")]
            self.reports.append(json.loads(lines[-1]) if lines else {"error": "no report"})

    def group_commit(self) -> Result:
        """Group-commit counters summed over the stopped workers."""
        commits = sum(r.get("commits", 0) for r in self.reports)
        writes = sum(r.get("writes", 0) for r in self.reports)
        return {
            "commits": commits,
            "writes": writes,
            "writes_per_commit": writes / commits if commits else 0.0,
        }


def processes_throughput(
    app: daytwo.App,
    database: str,
    m: int,
    processes: int,
    concurrency: int,
    timeout_s: float,
) -> Result:
    """``m`` instances run by ``processes`` worker subprocesses of ``concurrency`` threads.

    ``app`` is open on ``database``, whose schema exists and which holds no instance of the
    workflow. The children start first and open the database; then the instances are
    bulk-started and all children are told to go at once, so neither interpreter start-up
    nor seeding counts (and ``created_at`` is close to the start).
    """
    workers = WorkerProcesses(database, processes, concurrency)
    with workers:
        bulk_start(app, THREE, range(m))
        started = time.time()
        workers.go()
        wait_until_done(app, m, timeout_s)
        result = completion_stats(app, m, started)
    result["per_process"] = workers.reports
    result["group_commit"] = workers.group_commit()
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
