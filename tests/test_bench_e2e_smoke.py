"""The end-to-end benchmark's producer starts what it says, and its report reads a run.

``bench/bench_e2e.py`` drives a producer process (``bench/_e2e_producer.py``) whose loops
call ``app.start``; this test runs those loops in-process on a tiny scale, so the benchmark
does not break silently when the start API moves. No figure is asserted.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import daytwo


def _bench(name: str) -> Any:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


def _inputs(app: daytwo.App) -> list[int]:
    return sorted(instance.input for instance in app.list(workflow="three", limit=1000))


def test_the_producer_loops_start_one_instance_per_input(tmp_path: Path) -> None:
    producer, workload = _bench("_e2e_producer"), _bench("_workload")
    app: daytwo.App = workload.make_app(str(tmp_path / "closed.db"))
    try:
        closed = producer.closed_loop(app, 10, 3)
        assert (closed["n"], _inputs(app)) == (10, list(range(10)))
    finally:
        app.close()
    app = workload.make_app(str(tmp_path / "open.db"))
    try:
        opened = producer.open_loop(app, 200.0, 0.05, 4)  # due times 0, 5, ..., 45 ms
        assert (opened["n"], _inputs(app)) == (10, list(range(10)))
        assert set(opened["lateness"]) == {"p50_ms", "p99_ms", "max_ms"}
    finally:
        app.close()


def test_a_missing_batch_start_is_a_skipped_target_and_a_failed_run_a_missed_one() -> None:
    report = _bench("_e2e_report")
    section = {
        "starts": {
            "one_thread": {"starts_per_s": 600.0, "ratio_to_raw": 0.6},
            "8_threads": {"starts_per_s": 900.0, "ratio_to_raw": 0.9},
            "batch": {"skipped": "app.start_many not available"},
        },
        "end_to_end": {"error": "TimeoutError: instances not done"},
        "open_loop": [{"fraction": 0.5, "error": "no sustained rate measured"}],
    }
    checks = {check["target"]: check["pass"] for check in report.targets("sqlite", section)}
    assert checks["app.start one thread starts_per_s / raw commits_per_s >= 0.5"] is True
    assert checks["app.start 8 threads starts_per_s / raw commits_per_s >= 1"] is False
    assert checks["app.start_many starts_per_s >= 20000"] is None
    assert checks["start-to-finish p99_ms at 50% of sustained < 20"] is False
