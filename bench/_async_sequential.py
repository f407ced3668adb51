"""The ``async`` section of ``bench_engine.py``: the sequential workload in ``async def``.

The same three steps as the sequential section (``s1``, ``s2``, ``s3`` of
``_workload.make_app``), as an ``async def`` workflow awaiting ``async def`` steps, run one
after another with ``app.run``; in the same run, rounds of the sync workload alternate
with the async rounds, so the ratio compares like with like on this machine now. An async
step costs a hand-over to the inline runs' event loop and back (two thread wake-ups) on
top of the sync step.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from _common import Result, latency_summary, progress
from _workload import STEPS_PER_WORKFLOW, THREE, expected, make_app, remove_db

import daytwo

__all__ = ["ASYNC_THREE", "async_sequential"]

#: The async twin of the sequential workflow.
ASYNC_THREE = "three-async"


def make_async_app(database: str) -> daytwo.App:
    """The benchmark app with the async twin of :data:`THREE` registered too."""
    app = make_app(database)

    @app.step(name="as1")
    async def as1(x: int) -> int:
        return x + 1

    @app.step(name="as2")
    async def as2(x: int) -> int:
        return x * 2

    @app.step(name="as3")
    async def as3(x: int) -> int:
        return x - 3

    @app.workflow(name=ASYNC_THREE)
    async def three_async(ctx: daytwo.AsyncContext, x: int) -> int:
        return await as3(await as2(await as1(x)))

    return app


def _timed(app: daytwo.App, workflow: str, n: int, warmup: int) -> Result:
    for x in range(-warmup, 0):
        app.run(workflow, x)
    latencies: list[float] = []
    start = time.perf_counter()
    for x in range(n):
        began = time.perf_counter()
        if app.run(workflow, x) != expected(x):
            raise RuntimeError(f"{workflow} returned a wrong result for {x}")
        latencies.append(time.perf_counter() - began)
    elapsed = time.perf_counter() - start
    return {
        "workflows_per_s": n / elapsed,
        "steps_per_s": n * STEPS_PER_WORKFLOW / elapsed,
        **latency_summary(latencies),
        "elapsed_s": elapsed,
    }


def _round(workdir: Path, name: str, workflow: str, n: int, warmup: int) -> Result:
    path = str(workdir / f"{name}.db")
    remove_db(path)
    app = make_async_app(path)
    try:
        return _timed(app, workflow, n, warmup)
    finally:
        app.close()
        remove_db(path)


def _pick(result: Result) -> Result:
    return {key: result[key] for key in ("workflows_per_s", "steps_per_s", "p50_ms", "p99_ms")}


def _median(rounds: list[Result]) -> Result:
    return sorted(rounds, key=lambda r: r["steps_per_s"])[len(rounds) // 2]


def async_sequential(workdir: Path, sizes: Any) -> Result:
    """Async against sync sequential ``app.run``, alternating rounds in this process."""
    n, warmup, count = sizes.sequential_n, sizes.sequential_warmup, sizes.sequential_rounds
    progress(f"async: {count} rounds each of {n} sync and {n} async workflows, alternating")
    rounds: dict[str, list[Result]] = {"sync": [], "async": []}
    plan: list[tuple[str, str]] = [("sync", THREE), ("async", ASYNC_THREE)]
    for index in range(count):
        for kind, workflow in plan if index % 2 == 0 else plan[::-1]:
            result = _round(workdir, f"{kind}-{index}", workflow, n, warmup)
            rate = result["steps_per_s"]
            progress(f"async section, {kind} round {index + 1}: {rate:.0f} steps/s")
            rounds[kind].append(result)
    sync, async_ = _median(rounds["sync"]), _median(rounds["async"])
    return {
        "n": n,
        "warmup": warmup,
        "how": "app.run of the three-step workflow, async def (workflow and steps) against "
        "sync, rounds alternating in one process; median round by steps/s each",
        "sync": _pick(sync),
        "async": _pick(async_),
        "ratio_async_to_sync_steps": async_["steps_per_s"] / sync["steps_per_s"],
        # Steps/s of a loaded machine swings with other load; the typical workflow's
        # latency does less: how much longer the async one takes.
        "ratio_async_to_sync_p50": async_["p50_ms"] / sync["p50_ms"],
        "rounds": rounds,
    }
