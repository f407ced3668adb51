"""The API benchmark's ``--quick`` run: a real ``daytwo serve`` process, both ways of both
operations, and the JSON document's shape (no figure asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_api.py"


@pytest.mark.backends("sqlite")
def test_the_quick_run_measures_both_operations_both_ways(tmp_path: Path, backend: str) -> None:
    output = tmp_path / "api.json"
    database = tmp_path / "api.db"
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--database", str(database),
         "--output", str(output)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    document = json.loads(output.read_text())
    assert document == json.loads(done.stdout)
    assert document["benchmark"] == "api" and document["quick"] is True
    assert document["sizes"]["clients"] >= 1 and len(document["rounds"]) == 1
    for operation in ("get", "start"):
        section = document["operations"][operation]
        for way in ("http", "client"):
            measured = section[way]
            assert measured["errors"] == 0
            assert measured["requests"] == document["sizes"]["clients"] * 10
            assert {"requests_per_s", "p50_ms", "p99_ms"} <= set(measured)
        assert section["ratio_http_to_client_requests_per_s"] > 0
