"""The producer process of the end-to-end benchmark: user code calling ``app.start``.

Run as ``python bench/_e2e_producer.py MODE --db DATABASE ...``; it opens the benchmark
app (``_workload.make_app``), says ``ready`` on stdout, waits for a line on stdin, then
starts instances of the three-step workflow with ``app.start(THREE, i)`` (input ``i`` =
0, 1, 2, ...) from ``--threads`` threads, and prints its figures as one JSON line:

* ``closed``: ``--n`` starts as fast as the threads can make them (thread ``k`` starts
  ``i = k, k + T, k + 2T, ...``).
* ``open``: ``round(rate x duration)`` starts at a fixed rate: start ``i`` is due at
  ``t0 + i / rate`` (a schedule, so one slow start does not shift every later one); a
  thread takes the next ``i`` from a shared counter, sleeps until it is due and starts it.

The parent side is :class:`ProducerProcess`. Importing this module has no side effects.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _workload import THREE, make_app, percentile  # noqa: E402

import daytwo  # noqa: E402

__all__ = ["ProducerProcess", "closed_loop", "main", "open_loop"]

Result = dict[str, Any]
"""A JSON-serialisable measurement result."""


def _summary_ms(seconds: list[float]) -> Result:
    """p50/p99/max in milliseconds of durations given in seconds."""
    ordered = sorted(seconds)
    return {
        "p50_ms": percentile(ordered, 0.50) * 1000,
        "p99_ms": percentile(ordered, 0.99) * 1000,
        "max_ms": (ordered[-1] if ordered else float("nan")) * 1000,
    }


def _run_threads(threads: int, work: Callable[[int], list[float]]) -> list[float]:
    """Run ``work(k)`` on ``threads`` threads; return every call duration they recorded.

    A failed start is re-raised here (a benchmark figure with lost starts is no figure).
    """
    durations: list[list[float]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []

    def body(k: int) -> None:
        try:
            durations[k] = work(k)
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=body, args=(k,), name=f"producer-{k}") for k in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} producer thread(s) failed: {errors[0]!r}")
    return [d for per_thread in durations for d in per_thread]


def closed_loop(app: daytwo.App, n: int, threads: int) -> Result:
    """``n`` starts as fast as ``threads`` threads make them."""

    def work(k: int) -> list[float]:
        durations: list[float] = []
        for i in range(k, n, threads):
            t0 = time.perf_counter()
            app.start(THREE, i)
            durations.append(time.perf_counter() - t0)
        return durations

    go_at = time.time()
    t0 = time.perf_counter()
    durations = _run_threads(threads, work)
    elapsed = time.perf_counter() - t0
    return {
        "mode": "closed",
        "n": n,
        "threads": threads,
        "go_at": go_at,
        "elapsed_s": elapsed,
        "starts_per_s": n / elapsed if elapsed > 0 else 0.0,
        "start_call": _summary_ms(durations),
    }


def open_loop(app: daytwo.App, rate: float, duration: float, threads: int) -> Result:
    """``round(rate * duration)`` starts, start ``i`` due at ``t0 + i / rate``."""
    count = max(1, round(rate * duration))
    counter = itertools.count()
    lock = threading.Lock()
    lateness: list[float] = []
    t0 = time.perf_counter() + 0.05  # every thread is running before the first is due
    t0_wall = time.time() + (t0 - time.perf_counter())

    def work(_k: int) -> list[float]:
        durations: list[float] = []
        while True:
            with lock:
                i = next(counter)
            if i >= count:
                return durations
            due = t0 + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            began = time.perf_counter()
            app.start(THREE, i)
            durations.append(time.perf_counter() - began)
            with lock:
                lateness.append(began - due)

    durations = _run_threads(threads, work)
    elapsed = time.perf_counter() - t0
    return {
        "mode": "open",
        "n": count,
        "threads": threads,
        "rate_per_s": rate,
        "duration_s": duration,
        "t0": t0_wall,
        "elapsed_s": elapsed,
        "achieved_starts_per_s": count / elapsed if elapsed > 0 else 0.0,
        "start_call": _summary_ms(durations),
        "lateness": _summary_ms(lateness),
    }


# --------------------------------------------------------------------------------------
# Parent side
# --------------------------------------------------------------------------------------


class ProducerProcess:
    """A producer subprocess: entering starts it and waits for ``ready``; :meth:`run`
    tells it to go and returns its JSON result."""

    def __init__(self, database: str, args: Sequence[str], timeout_s: float) -> None:
        self.command = [sys.executable, str(Path(__file__).resolve()), *args, "--db", database]
        self.timeout_s = timeout_s
        self.child: subprocess.Popen[str] | None = None

    def __enter__(self) -> ProducerProcess:
        self.child = subprocess.Popen(
            self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.child.stdout is not None
        line = self.child.stdout.readline().strip()
        if line != "ready":
            self.__exit__(None, None, None)
            raise RuntimeError(f"producer subprocess did not start (said {line!r})")
        return self

    def run(self) -> Result:
        """Let the producer start its instances; wait for it to finish; its result."""
        child = self.child
        assert child is not None and child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
        try:
            out, _ = child.communicate(timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            raise TimeoutError(f"producer did not finish within {self.timeout_s:g} s") from None
        lines = [ln for ln in out.splitlines() if ln.startswith("{")]
        if child.returncode != 0 or not lines:
            raise RuntimeError(f"producer subprocess exited {child.returncode} without a result")
        result: Result = json.loads(lines[-1])
        return result

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.child is not None and self.child.poll() is None:
            self.child.kill()
            self.child.communicate()


# --------------------------------------------------------------------------------------
# Child entry point
# --------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the producer process (see the module docstring)."""
    parser = argparse.ArgumentParser(description="bench_e2e producer process")
    sub = parser.add_subparsers(dest="mode", required=True)
    closed = sub.add_parser("closed", help="n starts as fast as possible")
    closed.add_argument("--n", type=int, required=True)
    opened = sub.add_parser("open", help="starts at a fixed rate for a fixed duration")
    opened.add_argument("--rate", type=float, required=True)
    opened.add_argument("--duration", type=float, required=True)
    for mode in (closed, opened):
        mode.add_argument("--db", required=True, help="SQLite file path or database URL")
        mode.add_argument("--threads", type=int, default=8)
    ns = parser.parse_args(argv)
    app = make_app(ns.db)
    app.store  # noqa: B018 -- open (and check the schema of) the database before "ready"
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.readline()
    if ns.mode == "closed":
        result = closed_loop(app, ns.n, ns.threads)
    else:
        result = open_loop(app, ns.rate, ns.duration, ns.threads)
    app.close()
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
