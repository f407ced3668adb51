"""What waiting on results costs a worker in the same process (issue 11, item 3).

Each round starts ``--instances`` instances of the three-step workflow with ``app.start``
(not timed), then starts one in-process worker (``app.worker(concurrency=32)``) and waits
for all of them in one of these ways:

* ``result_each``: ``handle.result()`` on each handle in turn, from one thread;
* ``poll_count``: no result waits, the count of succeeded instances read every 50 ms (the
  baseline: what the worker does when nobody waits);
* ``result_threads``: ``--threads`` threads, each calling ``handle.result()`` on its
  share of the handles.

The modes alternate round by round. Each reports the worker's steps/s from its start to
the last instance's end (``worker_steps_per_s``: what waiting costs the worker) and to the
moment the waiting finished (``wall_steps_per_s``: what the caller sees; the 50 ms polling
adds up to 50 ms to it), and the CPU time of the whole process meanwhile (``cpu_s``: on a
machine shared with other work, a steadier sign of what waiting costs than the rates).
The summary gives the median and the best round of each mode and the ratios of the
waiting modes to ``poll_count``; the target is ``result_each`` >= 0.9 x ``poll_count``.
Prints one JSON document on stdout; progress goes to stderr.

    python bench/bench_waits.py [--instances 1000] [--rounds 5] [--threads 8]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from _workload import STEPS_PER_WORKFLOW, THREE, expected, make_app, remove_db, status_counts

import daytwo
from daytwo.store import instances

Result = dict[str, Any]
"""A JSON-serialisable measurement result."""

#: The interval of the ``poll_count`` baseline.
POLL_SECONDS = 0.05
#: Worker threads, as in the issue's measurement.
CONCURRENCY = 32
#: A round that takes longer than this has hung.
TIMEOUT_S = 120.0

Wait = Callable[[daytwo.App, list[daytwo.InstanceHandle], int], None]


def wait_each(app: daytwo.App, handles: list[daytwo.InstanceHandle], threads: int) -> None:
    """``handle.result()`` on each handle in turn."""
    for x, handle in enumerate(handles):
        assert handle.result(timeout=TIMEOUT_S) == expected(x)


def poll_count(app: daytwo.App, handles: list[daytwo.InstanceHandle], threads: int) -> None:
    """The count of succeeded instances, every 50 ms, until it is all of them."""
    deadline = time.monotonic() + TIMEOUT_S
    while status_counts(app, THREE).get("SUCCEEDED", 0) < len(handles):
        if time.monotonic() > deadline:
            raise TimeoutError(f"not all {len(handles)} instances ended in {TIMEOUT_S} s")
        time.sleep(POLL_SECONDS)


def wait_in_threads(app: daytwo.App, handles: list[daytwo.InstanceHandle], threads: int) -> None:
    """``threads`` threads, each waiting with ``handle.result()`` on every n-th handle."""
    failures: list[BaseException] = []

    def wait_share(share: int) -> None:
        try:
            for x in range(share, len(handles), threads):
                assert handles[x].result(timeout=TIMEOUT_S) == expected(x)
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    waiters = [
        threading.Thread(target=wait_share, args=(i,), name=f"bench-wait-{i}")
        for i in range(threads)
    ]
    for waiter in waiters:
        waiter.start()
    for waiter in waiters:
        waiter.join()
    if failures:
        raise failures[0]


MODES: dict[str, Wait] = {
    "result_each": wait_each,
    "poll_count": poll_count,
    "result_threads": wait_in_threads,
}


def last_end(app: daytwo.App) -> float:
    """The latest ``updated_at`` of the instances (epoch seconds): when the last one ended."""
    with app.store.read() as conn:
        value = conn.execute(sa.select(sa.func.max(instances.c.updated_at))).scalar()
    return float(value or 0.0)


def measure(workdir: Path, mode: str, n: int, threads: int) -> Result:
    """One round of ``mode`` on a fresh database."""
    path = str(workdir / f"{mode}.db")
    remove_db(path)
    app = make_app(path)
    try:
        handles = [app.start(THREE, x) for x in range(n)]
        worker = app.worker(concurrency=CONCURRENCY)
        started_wall = time.time()
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        worker.start()
        try:
            MODES[mode](app, handles, threads)
            waited_s = time.perf_counter() - t0
            cpu_s = time.process_time() - cpu0
        finally:
            worker.stop()
        worker_s = last_end(app) - started_wall
        assert status_counts(app, THREE) == {"SUCCEEDED": n}
    finally:
        app.close()
        remove_db(path)
    steps = n * STEPS_PER_WORKFLOW
    return {
        "mode": mode,
        "worker_s": round(worker_s, 4),
        "waited_s": round(waited_s, 4),
        "cpu_s": round(cpu_s, 4),
        "worker_steps_per_s": round(steps / worker_s),
        "wall_steps_per_s": round(steps / waited_s),
    }


def summary(rounds: list[Result], modes: Sequence[str]) -> Result:
    """Median and best round per mode (steps/s, CPU seconds), and the waiting modes'
    ratios to ``poll_count`` (of steps/s: >= 0.9 is the target)."""
    keys = ("worker_steps_per_s", "wall_steps_per_s", "cpu_s")
    figures: Result = {"median": {}, "best": {}}
    for mode in modes:
        of_mode = [r for r in rounds if r["mode"] == mode]
        figures["median"][mode] = {key: statistics.median(r[key] for r in of_mode) for key in keys}
        figures["best"][mode] = {
            key: (min if key == "cpu_s" else max)(r[key] for r in of_mode) for key in keys
        }
    for kind in ("median", "best"):
        of_kind = figures[kind]
        base = of_kind.get("poll_count")
        figures[f"{kind}_ratio"] = {
            f"{mode}/poll_count": {
                key: round(of_kind[mode][key] / base[key], 3) for key in of_kind[mode]
            }
            for mode in modes
            if mode != "poll_count" and base is not None
        }
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each mode")
    parser.add_argument("--threads", type=int, default=8, help="waiting threads of result_threads")
    parser.add_argument(
        "--modes", nargs="+", choices=list(MODES), default=list(MODES), help="(poll_count first)"
    )
    ns = parser.parse_args(argv)
    logging.getLogger("daytwo").setLevel(logging.ERROR)  # "no live worker" at each first start
    rounds: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="bench-waits-") as workdir:
        for index in range(ns.rounds):
            # Alternate the modes (and their order) so that drift hits them alike.
            order = ns.modes if index % 2 == 0 else list(reversed(ns.modes))
            for mode in order:
                result = measure(Path(workdir), mode, ns.instances, ns.threads)
                print(f"[bench_waits] round {index} {result}", file=sys.stderr, flush=True)
                rounds.append(result)
    document = {
        "instances": ns.instances,
        "concurrency": CONCURRENCY,
        "waiting_threads": ns.threads,
        "daytwo": daytwo.__file__,
        **summary(rounds, ns.modes),
        "rounds": rounds,
    }
    json.dump(document, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
