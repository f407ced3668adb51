"""daytwo end-to-end benchmark: work started through the public API while workers run it.

Run from the repository root::

    scripts/bench e2e                      # both backends, full sizes (a few minutes each)
    scripts/bench e2e --quick              # smoke test
    scripts/bench e2e --backend sqlite     # or postgresql

Prints one JSON document on stdout (progress goes to stderr) and writes it to
``bench/results/e2e-latest.json`` (``e2e-latest-quick.json`` with ``--quick``).

On SQLite (WAL + ``synchronous=FULL``, daytwo's settings, read back into ``durability``)
and on a throwaway PostgreSQL cluster (``scripts/postgres``, fsync on), with the
three-step workflow of ``_workload.py`` and nothing but the public API in the measured
code, each backend section has:

* ``raw`` -- the raw one-row commit rate on the same filesystem / server, measured right
  before and right after the daytwo measurements (``_common.raw_bracket``); every
  ``ratio_to_raw`` is against their mean.
* ``starts`` -- ``app.start`` one after another from one thread, from 8 threads of one
  process, and ``app.start_many`` (batches; skipped if the API is missing), each on a
  fresh database with no worker.
* ``pre_inserted`` -- M instances bulk-inserted beforehand (one transaction), then run by
  worker processes (concurrency 32 each): what a worker does when getting work in is free.
  Measured with one worker process and with the end-to-end worker count.
* ``end_to_end`` -- closed loop: a producer process (``_e2e_producer.py``) whose 8 threads
  call ``app.start`` as fast as they can for N instances, while worker processes (1 on
  SQLite, 2 on PostgreSQL) run them; timed from the first stored ``created_at`` to the last
  ``finished_at``.
* ``open_loop`` -- the producer starting at a fixed rate (50 % and 90 % of the sustained
  end-to-end rate) on a schedule for a fixed time; start-to-finish latency of each
  instance from its ``created_at`` to its ``finished_at`` (one machine's clock).
* ``dbos`` -- DBOS Transact 3.4 doing the same end-to-end work in the same run
  (``_e2e_dbos.py``): 8 threads call ``DBOS.start_workflow`` while DBOS's executor runs
  the workflows, then every handle's ``get_result()``.

``targets`` holds issue 11's targets as same-run ratios. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import inspect
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import bench_engine  # noqa: E402 -- needs the sys.path entry above
import bench_postgres  # noqa: E402
from _common import Result, environment, progress, raw_bracket, write_document  # noqa: E402
from _e2e_dbos import dbos_end_to_end  # noqa: E402
from _e2e_phases import closed_loop, open_loop, pre_inserted, start_rates  # noqa: E402
from _e2e_report import HOW, summary, targets  # noqa: E402
from _workload import remove_db  # noqa: E402

import daytwo  # noqa: E402

RESULTS = HERE / "results"
BACKENDS = ("sqlite", "postgresql")


@dataclasses.dataclass(frozen=True)
class Sizes:
    """Workload sizes of one benchmark run (each one a command-line option too)."""

    n: int
    start_n: int
    start_threads: int
    batch_n: int
    batch_size: int
    producer_threads: int
    concurrency: int
    open_fractions: tuple[float, ...]
    open_seconds: float
    dbos_n: int
    raw_seconds: float
    #: Also run the pre-inserted instances with one worker process where the end-to-end
    #: runs use more (PostgreSQL), for the single-worker row.
    pre_inserted_one_worker: bool

    @property
    def timeout_s(self) -> float:
        """How long one run may take before it counts as failed."""
        return 60.0 + max(self.n, self.dbos_n) / 20


FULL = Sizes(
    n=20_000, start_n=2000, start_threads=8, batch_n=20_000, batch_size=1000,
    producer_threads=8, concurrency=32, open_fractions=(0.5, 0.9), open_seconds=10.0,
    dbos_n=2000, raw_seconds=2.0, pre_inserted_one_worker=True,
)  # fmt: skip
QUICK = Sizes(
    n=600, start_n=200, start_threads=8, batch_n=2000, batch_size=1000,
    producer_threads=8, concurrency=32, open_fractions=(0.5, 0.9), open_seconds=1.5,
    dbos_n=150, raw_seconds=0.5, pre_inserted_one_worker=False,
)  # fmt: skip


# --------------------------------------------------------------------------------------
# Backends
# --------------------------------------------------------------------------------------


class Backend(Protocol):
    """Where a backend's databases, raw baseline and settings come from."""

    name: str
    #: Worker processes of the end-to-end runs (the issue's configuration per backend).
    worker_processes: int

    def new_database(self, name: str) -> str:
        """An empty database called ``name`` (a SQLite path or a URL)."""
        ...

    def raw(self, seconds: float) -> Result:
        """The raw one-row commit rate (``{"commits_per_s", ...settings}``)."""
        ...

    def durability(self) -> Result:
        """The commit-durability settings, read back on a daytwo connection."""
        ...

    def dbos_database(self) -> str | None:
        """DBOS's system database URL (None: a SQLite file in the work directory)."""
        ...


class SqliteBackend:
    """SQLite files in the work directory."""

    name = "sqlite"
    worker_processes = 1

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir

    def new_database(self, name: str) -> str:
        path = str(self.workdir / f"{name}.db")
        remove_db(path)
        return path

    def raw(self, seconds: float) -> Result:
        return bench_engine.raw_rate(self.workdir, seconds)

    def durability(self) -> Result:
        return bench_engine.durability(self.workdir)

    def dbos_database(self) -> str | None:
        return None


class PostgresBackend:
    """Databases on a throwaway cluster (``bench_postgres.running_cluster``)."""

    name = "postgresql"
    worker_processes = 2

    def __init__(self, cluster: bench_postgres.Cluster) -> None:
        self.cluster = cluster

    def new_database(self, name: str) -> str:
        return self.cluster.database(name)

    def raw(self, seconds: float) -> Result:
        return bench_postgres.raw_rate(self.cluster, seconds)

    def durability(self) -> Result:
        return bench_postgres.durability(self.cluster)

    def dbos_database(self) -> str | None:
        self.cluster.admin('DROP DATABASE IF EXISTS "dbos_e2e" WITH (FORCE)')
        return self.cluster.url_of("dbos_e2e")


@contextlib.contextmanager
def opened_backend(name: str, workdir: Path) -> Iterator[Backend]:
    """The backend called ``name``; a PostgreSQL cluster is stopped and deleted on exit."""
    if name == "sqlite":
        yield SqliteBackend(workdir)
        return
    with bench_postgres.running_cluster(None) as cluster:
        progress(f"postgresql: cluster in {cluster.directory}")
        yield PostgresBackend(cluster)


# --------------------------------------------------------------------------------------
# One backend
# --------------------------------------------------------------------------------------


def guarded(name: str, measure: Callable[[], Result]) -> Result:
    """Run one measurement; a failure becomes an ``error`` entry, not an abort."""
    try:
        return measure()
    except Exception as exc:
        progress(f"{name}: FAILED: {type(exc).__name__}: {exc}")
        return {"error": f"{type(exc).__name__}: {exc}"}


def measure_daytwo(backend: Backend, sizes: Sizes) -> Result:
    """Every daytwo measurement of a backend (what the raw bracket surrounds)."""
    workers, timeout = backend.worker_processes, sizes.timeout_s
    progress(f"{backend.name}: start rates ({sizes.start_n} starts, {sizes.batch_n} batch)")
    starts = guarded("starts", lambda: start_rates(
        backend.new_database, sizes.start_n, sizes.start_threads, sizes.batch_n,
        sizes.batch_size,
    ))  # fmt: skip
    pre = []
    for processes in sorted({1, workers} if sizes.pre_inserted_one_worker else {workers}):
        progress(f"{backend.name}: {sizes.n} pre-inserted, {processes} worker process(es)")
        database = backend.new_database(f"pre_inserted_{processes}")
        measure = functools.partial(
            pre_inserted, database, sizes.n, processes, sizes.concurrency, timeout
        )
        pre.append({"worker_processes": processes, **guarded("pre-inserted", measure)})
    progress(f"{backend.name}: end to end, {sizes.n} started by a producer process")
    e2e = guarded("end to end", lambda: closed_loop(
        backend.new_database("end_to_end"), sizes.n, workers, sizes.concurrency,
        sizes.producer_threads, timeout,
    ))  # fmt: skip
    opened_loops = []
    sustained = e2e.get("workflows_per_s")
    for fraction in sizes.open_fractions:
        if not sustained:
            opened_loops.append({"fraction": fraction, "error": "no sustained rate measured"})
            continue
        rate = fraction * sustained
        progress(f"{backend.name}: open loop at {rate:.0f}/s for {sizes.open_seconds:g} s")
        database = backend.new_database(f"open_loop_{round(fraction * 100)}")
        measure = functools.partial(
            open_loop, database, rate, sizes.open_seconds, workers, sizes.concurrency,
            sizes.producer_threads, timeout,
        )  # fmt: skip
        result = guarded("open loop", measure)
        opened_loops.append({"fraction": fraction, **result})
    return {"starts": starts, "pre_inserted": pre, "end_to_end": e2e, "open_loop": opened_loops}


def run_backend(backend: Backend, sizes: Sizes, workdir: Path) -> Result:
    """A backend's section: raw bracket around daytwo, then DBOS; ratios added."""
    bracket = raw_bracket(
        lambda: backend.raw(sizes.raw_seconds), lambda: measure_daytwo(backend, sizes),
        sizes.raw_seconds,
    )  # fmt: skip
    section: Result = {"how": HOW, "raw": bracket["raw"], **bracket["measured"]}
    raw = bracket["raw"]["mean_commits_per_s"]
    if "error" not in section["starts"]:
        for result in section["starts"].values():
            if "starts_per_s" in result:
                result["ratio_to_raw"] = result["starts_per_s"] / raw
    progress(f"{backend.name}: DBOS end to end, {sizes.dbos_n} workflows")
    dbos = dbos_end_to_end(
        sizes.dbos_n, sizes.producer_threads, sizes.concurrency,
        str(workdir / f"dbos-{backend.name}"), database_url=backend.dbos_database(),
        timeout_s=sizes.timeout_s,
    )  # fmt: skip
    progress(f"{backend.name}: DBOS {dbos.get('workflows_per_s', dbos.get('error'))} workflows/s")
    section["dbos"] = {
        "how": "one process: 8 threads call DBOS.start_workflow(three, i) while DBOS's "
        "executor (capped at the daytwo worker's concurrency) runs them; then get_result() on "
        "every handle; timed from the first start to the last result",
        **dbos,
    }
    e2e = section["end_to_end"]
    if "error" not in e2e:
        same = [p for p in section["pre_inserted"] if p.get("worker_processes") == e2e[
            "worker_processes"] and "error" not in p]  # fmt: skip
        if same:
            e2e["ratio_to_pre_inserted"] = e2e["workflows_per_s"] / same[0]["workflows_per_s"]
        e2e["ratio_to_raw"] = e2e["workflows_per_s"] / raw
        if dbos.get("workflows_per_s"):
            e2e["ratio_to_dbos"] = e2e["workflows_per_s"] / dbos["workflows_per_s"]
    return section


# --------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", choices=(*BACKENDS, "both"), default="both")
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument("--n", type=int, help="instances of the pre-inserted and end-to-end runs")
    parser.add_argument("--start-n", type=int, help="starts per start-rate measurement")
    parser.add_argument("--batch-n", type=int, help="instances started with app.start_many")
    parser.add_argument("--open-seconds", type=float, help="duration of each open-loop run")
    parser.add_argument("--dbos-n", type=int, help="workflows of the DBOS run")
    parser.add_argument(
        "--workdir", type=Path, default=RESULTS,
        help="directory in which a temporary folder holds the SQLite files (default: "
        "bench/results); the raw SQLite baseline runs there too",
    )  # fmt: skip
    parser.add_argument("--output", type=Path, default=None, help="where to write the JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the JSON document and write it under bench/results/."""
    args = list(sys.argv[1:] if argv is None else argv)
    ns = parse(args)
    sizes = QUICK if ns.quick else FULL
    overrides = {
        key: getattr(ns, key)
        for key in ("n", "start_n", "batch_n", "open_seconds", "dbos_n")
        if getattr(ns, key) is not None
    }
    sizes = dataclasses.replace(sizes, **overrides)
    backends = BACKENDS if ns.backend == "both" else (ns.backend,)
    output = ns.output or RESULTS / ("e2e-latest-quick.json" if ns.quick else "e2e-latest.json")
    ns.workdir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="bench-e2e-", dir=ns.workdir)).resolve()

    began = time.perf_counter()
    document: Result = {
        "benchmark": "daytwo bench_e2e",
        "mode": "quick" if ns.quick else "full",
        "command": shlex.join(["scripts/bench", "e2e", *args]),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "environment": environment(workdir),
        "sizes": dataclasses.asdict(sizes),
        "backends": list(backends),
        "worker_poll_interval_s": inspect.signature(daytwo.Worker)
        .parameters["poll_interval"]
        .default,
        "durability": {},
        "targets": {},
    }
    try:
        for name in backends:
            with opened_backend(name, workdir) as backend:
                document["durability"][name] = backend.durability()
                document[name] = run_backend(backend, sizes, workdir)
            document["targets"][name] = targets(name, document[name])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    document["summary"] = summary(document)
    write_document(document, output, began)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
