"""The async section of the engine benchmark (``bench/_async_sequential.py``) runs: its
async workflow gives the sync one's results, and the document has both figures and their
ratio."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any


def _module(name: str) -> Any:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


def test_the_async_section_measures_both_workloads(tmp_path: Path) -> None:
    section = _module("_async_sequential")
    sizes = SimpleNamespace(sequential_n=5, sequential_warmup=1, sequential_rounds=2)
    result = section.async_sequential(tmp_path, sizes)
    assert set(result["rounds"]) == {"sync", "async"}
    assert [len(rounds) for rounds in result["rounds"].values()] == [2, 2]
    assert result["sync"]["steps_per_s"] > 0 and result["async"]["steps_per_s"] > 0
    ratio = result["async"]["steps_per_s"] / result["sync"]["steps_per_s"]
    assert result["ratio_async_to_sync_steps"] == ratio
