"""HTTP API benchmark: the API against the Python Client, same operations, same run.

Run from the repository root::

    .venv/bin/python bench/bench_api.py                 # full run (about a minute)
    .venv/bin/python bench/bench_api.py --quick         # smoke test (seconds)
    .venv/bin/python bench/bench_api.py --database postgresql://...

Two operations, each two ways, on one database (a new SQLite file by default):

* ``get``: ``GET /v1/instances/{id}`` against ``client.get(id)``, over a pool of instances
  started for it (round-robin, so no request is for an id its thread asked for just before);
* ``start``: ``POST /v1/instances`` (a new id each time: 201) against
  ``client.start("three", x, id=...)``. Over HTTP a start also writes its audit row (the
  token's name as actor), which the Python call does not: that is part of what is measured.

The server is ``daytwo serve --app _api_app:app`` in a process of its own (``_api_server.py``),
with an operator token; N client threads (``--clients``) each send requests one after
another over their own keep-alive ``httpx`` connection, and the same N threads call one
shared ``daytwo.Client`` in this process. No worker runs (started instances stay queued).
Each measurement also reports the CPU time per request of the server process and of this
one (the httpx clients, or the Python Client), which says where a difference comes from.
Each round measures the four (operation, way) pairs, in an order that alternates between
rounds; a pair's figures are from its median round by requests/s, and a ratio is the median
of the rounds' ratios (measured seconds apart).

Prints one JSON document (progress on stderr) and writes it to
``bench/results/api-latest.json`` (``api-latest-quick.json`` with ``--quick``). Not part of
the test suite (``tests/test_bench_api_smoke.py`` runs ``--quick`` and checks the shape).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import httpx  # noqa: E402
import psutil  # noqa: E402
from _api_server import ApiServer  # noqa: E402
from _common import Result, environment, latency_summary, progress, write_document  # noqa: E402
from _workload import THREE, database_url, make_app  # noqa: E402

import daytwo  # noqa: E402
from daytwo.api import Role, Tokens  # noqa: E402
from daytwo.store import display_url  # noqa: E402

RESULTS = HERE / "results"
OPERATIONS = ("get", "start")
WAYS = ("http", "client")


@dataclass(frozen=True)
class Sizes:
    clients: int
    #: Requests each client thread sends per measurement.
    per_client: int
    rounds: int
    #: Instances started up front for the ``get`` operation.
    pool: int
    #: Untimed requests per thread before the first round (connections, caches).
    warmup: int


FULL = Sizes(clients=8, per_client=250, rounds=3, pool=500, warmup=20)
QUICK = Sizes(clients=2, per_client=10, rounds=1, pool=10, warmup=2)

#: One client thread's way of doing one request: ``call(index)``; made in the thread.
Call = Callable[[int], None]


def measure(make: Callable[[int], AbstractContextManager[Call]], sizes: Sizes) -> Result:
    """``sizes.clients`` threads each doing ``sizes.per_client`` calls one after another,
    released together: requests/s over the wall time, latencies, errors."""
    latencies: list[list[float]] = [[] for _ in range(sizes.clients)]
    errors: list[str] = []
    ready = threading.Barrier(sizes.clients + 1)
    done = threading.Barrier(sizes.clients + 1)

    def client(thread: int) -> None:
        with make(thread) as call:
            ready.wait()
            mine = latencies[thread]
            for index in range(sizes.per_client):
                began = time.perf_counter()
                try:
                    call(index)
                except Exception as error:  # counted and reported, the run goes on
                    errors.append(f"{type(error).__name__}: {error}")
                mine.append(time.perf_counter() - began)
            done.wait()

    threads = [threading.Thread(target=client, args=(t,)) for t in range(sizes.clients)]
    for thread in threads:
        thread.start()
    ready.wait()
    began = time.perf_counter()
    done.wait()
    elapsed = time.perf_counter() - began
    for thread in threads:
        thread.join()
    every = [seconds for mine in latencies for seconds in mine]
    return {
        "requests": len(every),
        "requests_per_s": len(every) / elapsed,
        "elapsed_s": elapsed,
        **latency_summary(every),
        "errors": len(errors),
        **({"first_error": errors[0]} if errors else {}),
    }


class Bench:
    """The four (operation, way) measurements on one database and one server."""

    def __init__(
        self, client: daytwo.Client, url: str, secret: str, sizes: Sizes, server: psutil.Process
    ) -> None:
        self.client = client
        self.server = server
        self.url = url
        self.headers = {"Authorization": f"Bearer {secret}"}
        self.sizes = sizes
        self.run = uuid.uuid4().hex[:8]  # fresh ids on a database used before
        self.pool = [f"api-{self.run}-get-{i}" for i in range(sizes.pool)]
        self.started = 0

    def fill_pool(self) -> None:
        for index, instance_id in enumerate(self.pool):
            self.client.start(THREE, index, id=instance_id)

    def _pooled(self, thread: int, index: int) -> str:
        return self.pool[(thread * self.sizes.per_client + index * 7) % len(self.pool)]

    def _new_id(self, way: str, thread: int, index: int) -> str:
        return f"api-{self.run}-{way}-{self.started}-{thread}-{index}"

    def maker(self, operation: str, way: str) -> Callable[[int], AbstractContextManager[Call]]:
        if way == "http":
            return lambda thread: HttpCall(self, operation, thread)
        return lambda thread: nullcontext(self._client_call(operation, thread))

    def _client_call(self, operation: str, thread: int) -> Call:
        client = self.client
        if operation == "get":
            return lambda index: _check(client.get(self._pooled(thread, index)).workflow, THREE)
        serial = self.started
        return lambda index: _check(
            client.start(THREE, index, id=self._new_id(f"c{serial}", thread, index)).created, True
        )

    def once(self, operation: str, way: str, sizes: Sizes | None = None) -> Result:
        """One measurement, with the CPU time it cost the server process and this one
        (where the Python Client, or the httpx clients, run) per request."""
        self.started += 1
        server, mine = _cpu(self.server), time.process_time()
        result = measure(self.maker(operation, way), sizes or self.sizes)
        count = max(1, result["requests"])
        result["server_cpu_ms_per_request"] = (_cpu(self.server) - server) * 1000 / count
        result["this_process_cpu_ms_per_request"] = (time.process_time() - mine) * 1000 / count
        return result


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


class HttpCall(AbstractContextManager[Call]):
    """One thread's keep-alive connection to the server and its request."""

    def __init__(self, bench: Bench, operation: str, thread: int) -> None:
        self.http = httpx.Client(base_url=bench.url, headers=bench.headers, timeout=60)
        self.bench, self.operation, self.thread = bench, operation, thread

    def __enter__(self) -> Call:
        bench, http, thread = self.bench, self.http, self.thread
        if self.operation == "get":
            return lambda index: _status(
                http.get(f"/v1/instances/{bench._pooled(thread, index)}"), 200
            )
        serial = bench.started

        def start(index: int) -> None:
            new = {
                "workflow": THREE,
                "input": index,
                "id": bench._new_id(f"h{serial}", thread, index),
            }
            _status(http.post("/v1/instances", json=new), 201)

        return start

    def __exit__(self, *exc: object) -> None:
        self.http.close()


def _check(got: object, wanted: object) -> None:
    if got != wanted:
        raise AssertionError(f"got {got!r}, wanted {wanted!r}")


def _status(response: httpx.Response, wanted: int) -> None:
    if response.status_code != wanted:
        raise AssertionError(f"HTTP {response.status_code}: {response.text[:200]}")


def run_rounds(bench: Bench, sizes: Sizes) -> Result:
    """Warm up, then the rounds; the median round per pair and the median ratios."""
    warm = Sizes(sizes.clients, sizes.warmup, 1, sizes.pool, 0)
    for operation in OPERATIONS:
        for way in WAYS:
            bench.once(operation, way, warm)
    rounds: list[dict[str, dict[str, Result]]] = []
    for index in range(sizes.rounds):
        measured: dict[str, dict[str, Result]] = {operation: {} for operation in OPERATIONS}
        order = WAYS if index % 2 == 0 else WAYS[::-1]
        for operation in OPERATIONS:
            for way in order:
                measured[operation][way] = result = bench.once(operation, way)
                progress(
                    f"round {index + 1} {operation} {way}: {result['requests_per_s']:.0f} "
                    f"requests/s, p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms"
                )
        rounds.append(measured)
    summary: Result = {}
    for operation in OPERATIONS:
        section: Result = {}
        for way in WAYS:
            ordered = sorted(rounds, key=lambda r: r[operation][way]["requests_per_s"])
            section[way] = ordered[len(ordered) // 2][operation][way]
        section["ratio_http_to_client_requests_per_s"] = statistics.median(
            r[operation]["http"]["requests_per_s"] / r[operation]["client"]["requests_per_s"]
            for r in rounds
        )
        section["ratio_http_to_client_p50"] = statistics.median(
            r[operation]["http"]["p50_ms"] / r[operation]["client"]["p50_ms"] for r in rounds
        )
        summary[operation] = section
    return {"operations": summary, "rounds": rounds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--database", help="a SQLite file or a URL (default: a new file)")
    parser.add_argument("--clients", type=int, help="concurrent client threads")
    parser.add_argument("--requests", type=int, help="requests per client per measurement")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--output", type=Path, help="where to write the JSON document")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    sizes = QUICK if args.quick else FULL
    sizes = Sizes(
        clients=args.clients or sizes.clients, per_client=args.requests or sizes.per_client,
        rounds=args.rounds or sizes.rounds, pool=sizes.pool, warmup=sizes.warmup,
    )  # fmt: skip
    output = args.output or RESULTS / ("api-latest-quick.json" if args.quick else "api-latest.json")
    with tempfile.TemporaryDirectory(prefix="daytwo-bench-api-") as scratch:
        workdir = Path(scratch)
        database = args.database or str(workdir / "api.db")
        app = make_app(database)
        try:
            client = app.client
            secret = (
                Tokens(lambda: client.store, client.clock.now)
                .create(f"bench-{uuid.uuid4().hex[:6]}", Role.OPERATOR, by="bench")
                .secret
            )
            server = ApiServer(database, workdir / "server.log")
            with server as url:
                progress(f"daytwo serve at {url} on {display_url(database_url(database))}")
                bench = Bench(client, url, secret, sizes, psutil.Process(server.pid))
                bench.fill_pool()
                measured = run_rounds(bench, sizes)
        finally:
            app.close()
        document: Result = {
            "benchmark": "api",
            "quick": args.quick,
            "database": display_url(database_url(database)),
            "sizes": dataclasses.asdict(sizes),
            **measured,
            "environment": environment(workdir),
        }
        write_document(document, output, began)
    failed = sum(
        document["operations"][operation][way]["errors"] for operation in OPERATIONS for way in WAYS
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
