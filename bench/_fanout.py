"""The engine benchmark's ``fanout`` section: 100 parallel trivial steps against 100
sequential ones, measured in the same run (``bench_engine.py --sections fanout``).

Both workflows run with ``app.run`` (inline) on one fresh SQLite file: ``sequential100``
calls a trivial step 100 times one after another, ``fanout100`` makes the same 100 calls
with ``ctx.map`` (branches on the fan-out's thread pool, as many at once as its cap
allows). Each is run ``fanout_runs`` times, the two alternating, after one untimed warm-up
run each; the figures are the medians: wall time per workflow and steps per second, and
their ratio (fan-out / sequential; above 1 means the fan-out is faster).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from _workload import database_url, remove_db

import daytwo
from daytwo.engine._fanout_steps import MAX_BRANCH_THREADS

Result = dict[str, Any]

#: Steps per workflow, in both shapes.
STEPS = 100


def _make_app(path: str) -> daytwo.App:
    app = daytwo.App(database_url(path))

    @app.step
    def trivial(x: int) -> int:
        return x + 1

    @app.workflow(name="sequential100")
    def sequential100(ctx: daytwo.Context) -> int:
        return sum(trivial(x) for x in range(STEPS))

    @app.workflow(name="fanout100")
    def fanout100(ctx: daytwo.Context) -> int:
        return sum(ctx.map(trivial, range(STEPS)))

    return app


def _figures(walls: list[float]) -> Result:
    median = statistics.median(walls)
    return {
        "runs": len(walls),
        "wall_ms_median": median * 1000,
        "wall_ms_min": min(walls) * 1000,
        "wall_ms_max": max(walls) * 1000,
        "steps_per_s": STEPS / median,
    }


def _measure(workdir: Path, runs: int) -> dict[str, Result]:
    """Both workflows, their runs interleaved: on a shared machine the disk's commit rate
    drifts, and alternating exposes both shapes to the same drift."""
    path = str(workdir / "fanout.db")
    remove_db(path)
    app = _make_app(path)
    expected = sum(x + 1 for x in range(STEPS))
    walls: dict[str, list[float]] = {"sequential100": [], "fanout100": []}
    try:
        for workflow in walls:  # warm-up: schema, connections, code paths
            assert app.run(workflow) == expected
        for _ in range(runs):
            for workflow, measured in walls.items():
                began = time.perf_counter()
                result = app.run(workflow)
                measured.append(time.perf_counter() - began)
                assert result == expected, result
    finally:
        app.close()
        remove_db(path)
    return {workflow: _figures(measured) for workflow, measured in walls.items()}


def fanout(workdir: Path, runs: int) -> Result:
    """The section's document (see the module docstring)."""
    measured = _measure(workdir, runs)
    sequential, parallel = measured["sequential100"], measured["fanout100"]
    ratio = parallel["steps_per_s"] / sequential["steps_per_s"]
    return {
        "how": f"app.run of a workflow with {STEPS} trivial steps, one after another "
        f"(sequential) and as ctx.map (fanout, at most {MAX_BRANCH_THREADS} branches at "
        f"once); {runs} timed runs each, alternating, after one warm-up; medians; SQLite, one "
        "process",
        "steps": STEPS,
        "sequential": sequential,
        "fanout": parallel,
        "ratio_fanout_to_sequential_steps_per_s": ratio,
        "pass": True,  # a figure to watch, no target
    }
