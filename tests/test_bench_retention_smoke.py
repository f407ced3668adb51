"""A tiny run of the retention benchmark's pieces, on both backends: its bulk-loaded ended
instances look like ones that ran (history, transitions, ended status) and purge like them,
and its rate and purge measurements run (no figure asserted)."""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path
from typing import Any

import daytwo


def _bench_module() -> Any:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    try:
        return importlib.import_module("bench_retention")
    finally:
        sys.path.pop(0)


def test_the_bulk_loaded_past_looks_run_and_purges(db_url: str, tmp_path: Path) -> None:
    bench: Any = _bench_module()
    sizes = bench.Sizes(ended=300, slices=1, per_slice=5, rounds=1, runs=5, archived=20)
    app: daytwo.App = bench.make_app(db_url)
    app.store  # noqa: B018 -- create the schema
    now = time.time()
    assert bench.fill(db_url, sizes, now)["ended"] == 300
    [oldest] = app.list(workflow="three", status="SUCCEEDED", limit=300)[-1:]
    assert app.result(oldest.id, timeout=1) == (oldest.input + 1) * 2 - 3
    assert [h.name for h in app.history(oldest.id)] == ["s1", "s2", "s3"]
    moves = [(t.from_state, t.to_state, t.status) for t in app.transitions(oldest.id)]
    assert moves[-1] == ("s3", "succeeded", "SUCCEEDED") and len(moves) == 4
    assert set(bench.start_slice(app, sizes.per_slice)) == {"starts_per_s", "cpu_us_per_start"}
    assert set(bench.run_round(app, sizes.runs)) == {"runs_per_s"}
    app.close()
    purged = bench.purge_rates(db_url, sizes, now, tmp_path)
    # The dry run counts the old ones only (the new ones ended after ``now``).
    assert (purged["dry_run_count"], purged["deleted"], purged["archived"]) == (300, 30, 20)
