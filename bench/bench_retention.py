"""Retention benchmark: does a database with a long past stay as fast as a new one?

Run from the repository root::

    .venv/bin/python bench/bench_retention.py                  # 1,000,000 ended instances
    .venv/bin/python bench/bench_retention.py --quick          # smoke test (seconds)
    .venv/bin/python bench/bench_retention.py --backend both   # SQLite and PostgreSQL

Per backend, the same run measures, through the public API as user code runs it, the
**start rate** (``app.start`` of the three-step workflow from one thread; also the CPU time
per start) and the **claim-and-run rate** (``app.start_many`` of 3,000 instances, run by an
in-process worker of 16 threads; the rate from the stored times, first claim to last end)
on three databases:

* ``empty``: a new database;
* ``full``: the same schema holding N ended instances of the *same* workflow, each with
  three history rows and four transitions (bulk-inserted with one ``INSERT ... SELECT``
  per table in the set-up, not run: a minute instead of hours);
* ``empty_without_ended_index``: a new database without ``ix_instances_ended`` (the
  retention index), so that the index's cost on the hot path shows.

Starts are measured in 30 slices of 100 per database, runs in 11 rounds, alternating between
the databases in a rotating order; a ratio is the median of the ratios of measurements made
seconds apart (one commit per start: the fsyncs of other processes on a shared disk move a
single slice a lot, pairs little).

Then the **purge rate**: ``client.purge(..., dry_run=False)`` deleting the oldest 10 % of
the full database in batches of 500 (instances and their rows per second), the next
20,000 with archives, and the dry run's count over all of them. Prints one JSON document (ratios
``full / empty`` under ``ratios``) and writes it to ``bench/results/retention-latest.json``
(``retention-latest-quick.json`` with ``--quick``). Not part of the test suite
(``tests/test_bench_retention_smoke.py`` runs the pieces on a few rows).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import Result, environment, progress, write_document  # noqa: E402
from _workload import THREE, make_app  # noqa: E402

import daytwo  # noqa: E402

RESULTS = HERE / "results"
#: The old instances ended over the year before this moment, one every ``SPACING`` s.
DAY = 86400.0


@dataclass(frozen=True)
class Sizes:
    """How big each part is."""

    ended: int
    #: Start slices per database and starts per slice.
    slices: int
    per_slice: int
    #: Rounds of runs per database and instances per round.
    rounds: int
    runs: int
    purged_fraction: float = 0.1
    archived: int = 20_000


FULL = Sizes(ended=1_000_000, slices=30, per_slice=100, rounds=11, runs=3000)
QUICK = Sizes(ended=5000, slices=2, per_slice=20, rounds=1, runs=50, archived=200)

# -- building a database with a long past --------------------------------------------------

_SQLITE_ROWS = """
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :last)
INSERT INTO instances (id, workflow, version, status, state, state_entered_at, input,
    output, queue, priority, attempt, lease_token, history_size, transition_count,
    created_at, updated_at, finished_at)
SELECT printf('%013x%012x', :first_us + i * 1000, i), :workflow, '1', 'SUCCEEDED',
    'succeeded', :t0 + i * :spacing, CAST(i AS TEXT), CAST((i + 1) * 2 - 3 AS TEXT),
    'default', 0, 0, 1, 3, 4, :t0 + i * :spacing - 2, :t0 + i * :spacing, :t0 + i * :spacing
FROM n
"""
_POSTGRES_ROWS = """
INSERT INTO instances (id, workflow, version, status, state, state_entered_at, input,
    output, queue, priority, attempt, lease_token, history_size, transition_count,
    created_at, updated_at, finished_at)
SELECT lpad(to_hex(:first_us + i * 1000), 13, '0') || lpad(to_hex(i), 12, '0'), :workflow,
    '1', 'SUCCEEDED', 'succeeded', :t0 + i * :spacing, i::text, ((i + 1) * 2 - 3)::text,
    'default', 0, 0, 1, 3, 4, :t0 + i * :spacing - 2, :t0 + i * :spacing, :t0 + i * :spacing
FROM generate_series(0, :last) AS i
"""
_HISTORY = """
INSERT INTO history (instance_id, seq, kind, name, outcome, args, result, attempt,
    idempotency_key, started_at, finished_at)
SELECT id, s.seq, 'step', 's' || (s.seq + 1), 'completed', '[[1],{}]', '2', 1,
    id || ':' || s.seq, created_at + s.seq, created_at + s.seq
FROM instances, (SELECT 0 AS seq UNION ALL SELECT 1 UNION ALL SELECT 2) AS s
WHERE workflow = :workflow ORDER BY id, s.seq
"""
_TRANSITIONS = """
INSERT INTO transitions (instance_id, seq, from_state, to_state, status, at)
SELECT id, s.seq, CASE WHEN s.seq = 0 THEN NULL ELSE 's' || s.seq END,
    CASE WHEN s.seq = 3 THEN 'succeeded' ELSE 's' || (s.seq + 1) END,
    CASE WHEN s.seq = 3 THEN 'SUCCEEDED' ELSE 'RUNNING' END, created_at + s.seq
FROM instances,
    (SELECT 0 AS seq UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3) AS s
WHERE workflow = :workflow ORDER BY id, s.seq
"""
#: Rows per old instance: its own, three history rows, four transitions.
ROWS_PER_INSTANCE = 8


def spacing(sizes: Sizes) -> float:
    """Seconds between two old instances' ends: the past spans a year."""
    return 365 * DAY / sizes.ended


def fill(url: str, sizes: Sizes, now: float) -> Result:
    """Bulk-insert ``sizes.ended`` ended instances (with history and transitions) of the
    benchmark's workflow, ending over the year before ``now``; their ids sort before any
    new one (they were created earlier)."""
    started = time.perf_counter()
    params = {
        "last": sizes.ended - 1,
        "first_us": int((now - 366 * DAY) * 1e6),
        "workflow": THREE,
        "t0": now - 365 * DAY - 1,
        "spacing": spacing(sizes),
    }
    if url.startswith("sqlite"):
        raw = sqlite3.connect(url.removeprefix("sqlite:///"))
        raw.execute("PRAGMA synchronous=OFF")
        with raw:
            for sql in (_SQLITE_ROWS, _HISTORY, _TRANSITIONS):
                raw.execute(sql, params)
        raw.execute("ANALYZE")
        raw.close()
    else:
        import sqlalchemy as sa

        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.begin() as conn:
            for sql in (_POSTGRES_ROWS, _HISTORY, _TRANSITIONS):
                conn.execute(sa.text(sql), params)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
        engine.dispose()
    return {"ended": sizes.ended, "load_s": time.perf_counter() - started}


# -- measuring ----------------------------------------------------------------------------


def start_slice(app: daytwo.App, starts: int) -> Result:
    """``starts`` calls of ``app.start`` from one thread: the rate and the CPU per start."""
    began, cpu = time.perf_counter(), time.process_time()
    for n in range(starts):
        app.start(THREE, n)
    elapsed, used = time.perf_counter() - began, time.process_time() - cpu
    return {"starts_per_s": starts / elapsed, "cpu_us_per_start": used / starts * 1e6}


def run_round(app: daytwo.App, instances: int) -> Result:
    """Start ``instances`` (not timed), run them with an in-process worker of 16 threads;
    the claim-and-run rate from the stored times: first claim to last end."""
    import sqlalchemy as sa

    from daytwo.store import instances as table
    from daytwo.store import transitions

    since = time.time()
    app.start_many(THREE, list(range(instances)))
    with app.worker(concurrency=16) as worker:
        worker.drain(timeout=600)
    mine = (
        sa.select(table.c.id)
        .where(
            table.c.workflow == THREE, table.c.status == "SUCCEEDED", table.c.created_at >= since
        )
        .subquery()
    )
    with app.store.read() as conn:
        first, last, count = conn.execute(
            sa.select(
                sa.func.min(transitions.c.at), sa.func.max(transitions.c.at), sa.func.count()
            ).where(
                transitions.c.instance_id.in_(sa.select(mine.c.id)), transitions.c.seq.in_([1, 4])
            )
        ).one()
    if count != 2 * instances:
        raise RuntimeError(f"expected {instances} runs to end, found {count / 2}")
    return {"runs_per_s": instances / (last - first)}


def purge_rates(url: str, sizes: Sizes, now: float, workdir: Path) -> Result:
    """Purge the oldest ``purged_fraction`` of the old instances (no archive), then the
    next ``archived`` with archives; rates in instances per second."""
    client = daytwo.Client(url)
    try:
        step = spacing(sizes)
        t0 = now - 365 * DAY - 1
        began = time.perf_counter()
        counted = client.purge(now - 1).count
        count_s = time.perf_counter() - began
        plain = int(sizes.ended * sizes.purged_fraction)
        began = time.perf_counter()
        report = client.purge(t0 + plain * step - step / 2, dry_run=False, workflow=THREE)
        plain_s = time.perf_counter() - began
        archive = workdir / "archive"
        cut = t0 + (plain + sizes.archived) * step - step / 2
        began = time.perf_counter()
        archived = client.purge(cut, dry_run=False, workflow=THREE, archive_dir=archive)
        archived_s = time.perf_counter() - began
        size = sum(p.stat().st_size for p in archived.archives)
    finally:
        client.close()
    return {
        "dry_run_count": counted,
        "dry_run_s": count_s,
        "deleted": report.deleted,
        "instances_per_s": report.deleted / plain_s,
        "rows_per_s": report.deleted * ROWS_PER_INSTANCE / plain_s,
        "archived": archived.deleted,
        "archived_instances_per_s": archived.deleted / archived_s,
        "archive_bytes_per_instance": size / max(archived.deleted, 1),
    }


def backend_run(name: str, fresh: Callable[[str], str], sizes: Sizes, workdir: Path) -> Result:
    """Every measurement on one backend; ``fresh(label)`` makes an empty database."""
    now = time.time()
    full = fresh("full")
    app = make_app(full)
    app.store  # noqa: B018 -- create the schema
    app.close()
    progress(f"{name}: loading {sizes.ended:,} ended instances")
    load = fill(full, sizes, now)
    progress(f"{name}: loaded in {load['load_s']:.0f} s")
    # One database (and App) per label for the whole run. Starts are measured in short
    # slices that alternate between the databases in a rotating order, runs in rounds that
    # do the same; a ratio is the median of the ratios of measurements made seconds apart,
    # which the load of a shared machine (other processes' fsyncs) moves least.
    urls = {"empty": fresh("empty"), "full": full, "empty_without_ended_index": fresh("bare")}
    drop_ended_index(urls["empty_without_ended_index"])
    labels = list(urls)
    apps = {label: make_app(url) for label, url in urls.items()}
    try:
        for app in apps.values():
            start_slice(app, 20)  # open, compile, warm the caches
        slices: dict[str, list[Result]] = {label: [] for label in labels}
        for index in range(sizes.slices):
            for label in labels[index % 3 :] + labels[: index % 3]:
                slices[label].append(start_slice(apps[label], sizes.per_slice))
        progress(f"{name}: starts {medians_of(slices)}")
        rounds: dict[str, list[Result]] = {label: [] for label in labels}
        for index in range(sizes.rounds):
            for label in labels[index % 3 :] + labels[: index % 3]:
                rounds[label].append(run_round(apps[label], sizes.runs))
        progress(f"{name}: runs {medians_of(rounds)}")
    finally:
        for app in apps.values():
            app.close()

    def paired(measured: dict[str, list[Result]], label: str, baseline: str, key: str) -> float:
        pairs = zip(measured[label], measured[baseline], strict=True)
        return statistics.median(float(a[key]) / float(b[key]) for a, b in pairs)

    purge = purge_rates(full, sizes, now, workdir)
    progress(f"{name}: purge {purge}")
    return {
        "load": load,
        "starts": medians_of(slices),
        "runs": medians_of(rounds),
        "samples": {
            "starts_per_s": {k: [r["starts_per_s"] for r in v] for k, v in slices.items()},
            "runs_per_s": {k: [r["runs_per_s"] for r in v] for k, v in rounds.items()},
        },
        "ratios": {
            "full_vs_empty_starts": paired(slices, "full", "empty", "starts_per_s"),
            "full_vs_empty_cpu_per_start": paired(slices, "full", "empty", "cpu_us_per_start"),
            "full_vs_empty_runs": paired(rounds, "full", "empty", "runs_per_s"),
            "with_vs_without_ended_index_starts": paired(
                slices, "empty", "empty_without_ended_index", "starts_per_s"
            ),
            "with_vs_without_ended_index_runs": paired(
                rounds, "empty", "empty_without_ended_index", "runs_per_s"
            ),
        },
        "purge": purge,
    }


def medians_of(measured: dict[str, list[Result]]) -> Result:
    """Each label's median of each figure."""
    return {
        label: {key: statistics.median(r[key] for r in results) for key in results[0]}
        for label, results in measured.items()
    }


def drop_ended_index(url: str) -> None:
    """Open ``url`` (creating the schema), then drop the retention index."""
    import sqlalchemy as sa

    app = make_app(url)
    with app.store.write() as conn:
        conn.execute(sa.text("DROP INDEX ix_instances_ended"))
    app.close()


@contextlib.contextmanager
def sqlite_databases(workdir: Path) -> Iterator[Callable[[str], str]]:
    """``fresh(label)``: the URL of a new SQLite file under ``workdir``."""
    yield lambda label: f"sqlite:///{workdir / (label + '.db')}"


@contextlib.contextmanager
def postgres_databases(workdir: Path) -> Iterator[Callable[[str], str]]:
    """``fresh(label)``: a new database on a throwaway cluster (fsync on)."""
    from bench_postgres import running_cluster

    with running_cluster(None) as cluster:  # in /tmp: the server runs as user postgres
        yield cluster.database


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few thousand rows (smoke test)")
    parser.add_argument("--ended", type=int, help="how many ended instances (default 1M)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.ended:
        sizes = replace(sizes, ended=args.ended)
    began = time.perf_counter()
    RESULTS.mkdir(parents=True, exist_ok=True)  # on the disk the other benchmarks use
    workdir = Path(tempfile.mkdtemp(prefix="retention-", dir=RESULTS))
    document: dict[str, Any] = {
        "benchmark": "retention",
        "sizes": sizes.__dict__,
        "environment": environment(workdir),
        "command": " ".join(["bench/bench_retention.py", *(argv or sys.argv[1:])]),
    }
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    try:
        for backend in backends:
            databases = sqlite_databases if backend == "sqlite" else postgres_databases
            with databases(workdir) as fresh:
                document[backend] = backend_run(backend, fresh, sizes, workdir / backend)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    name = "retention-latest-quick.json" if args.quick else "retention-latest.json"
    write_document(document, args.output or RESULTS / name, began)
    return 0


if __name__ == "__main__":
    sys.exit(main())
