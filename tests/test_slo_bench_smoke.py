"""A tiny run of the SLO benchmark's loader: its bulk-loaded buckets agree with the rows."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import daytwo
from daytwo import slo
from daytwo.store._schema import instances


def _bench_module() -> object:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    try:
        return importlib.import_module("bench_slo")
    finally:
        sys.path.pop(0)


def test_bulk_loaded_buckets_match_the_instances(tmp_path: Path) -> None:
    path = tmp_path / "slo.db"
    clock = daytwo.FakeClock()
    app = daytwo.App(f"sqlite:///{path}", clock=clock)
    app.list(limit=1)
    bench_slo: Any = _bench_module()
    bench_slo.load(path, finished=3000, active=300, now=clock.now())
    objectives = slo.parse_objectives(bench_slo.OBJECTIVES)
    statuses = {s.name: s for s in slo.Evaluator(app.store, clock, objectives).evaluate()}
    assert len(statuses) == 10
    success = statuses["order-success"]
    start = success.window_start
    with app.store.read() as conn:
        ended = conn.execute(
            sa.select(instances.c.status, sa.func.count())
            .where(instances.c.workflow == "order", instances.c.finished_at >= start)
            .group_by(instances.c.status)
        ).all()
    counts: dict[str, int] = {status: n for status, n in ended}
    # The window also counts the bucket its start falls in (up to an hour more).
    assert success.good >= counts.get("SUCCEEDED", 0)
    assert success.valid >= sum(counts.values())
    assert success.valid - sum(counts.values()) <= 3000 / 30 / 24 + 5
    app.close()
