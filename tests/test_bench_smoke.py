"""The engine benchmark's set-up shortcut writes what ``app.start`` writes, and runs.

The benchmarks reach into daytwo (``bench/_workload.py`` builds rows as ``app.start`` does,
in one transaction); this test keeps them from breaking silently when that code moves.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import daytwo


def _workload() -> Any:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    try:
        return importlib.import_module("_workload")
    finally:
        sys.path.pop(0)


def test_bulk_started_instances_look_like_started_ones_and_run(tmp_path: Path) -> None:
    workload = _workload()
    app: daytwo.App = workload.make_app(str(tmp_path / "bench.db"))
    try:
        assert workload.bulk_start(app, "three", range(5)) == 5
        started = app.start("three", 7, id="by-start")
        bulk = app.list(workflow="three", limit=10)
        assert len(bulk) == 6
        one = next(i for i in bulk if i.id != started.id)
        assert (one.status, one.state, one.queue) == ("RUNNABLE", "queued", "default")
        moves = [(t.from_state, t.to_state, t.status) for t in app.transitions(one.id)]
        assert moves == [(None, "queued", "RUNNABLE")]
        with app.worker(concurrency=4, poll_interval=0.05):
            for instance in bulk:
                assert app.result(instance.id, timeout=30) == workload.expected(instance.input)
    finally:
        app.close()


def test_the_fanout_section_measures_both_shapes(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    try:
        fanout = importlib.import_module("_fanout")
    finally:
        sys.path.pop(0)
    document = fanout.fanout(tmp_path, 1)
    assert document["steps"] == 100
    for shape in ("sequential", "fanout"):
        assert document[shape]["runs"] == 1 and document[shape]["steps_per_s"] > 0
    assert document["ratio_fanout_to_sequential_steps_per_s"] > 0
