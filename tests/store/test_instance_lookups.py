"""InstanceLookups: what result waits read, on the driver's cursor (both backends)."""

from __future__ import annotations

import threading

import pytest

import daytwo
from daytwo.store._lookups import LOOKUP_CHUNK, InstanceLookups


def _ended_and_going(app: daytwo.App) -> tuple[list[str], list[str]]:
    """Three instances that ended (one succeeded, two failed) and two still going."""

    @app.workflow(name="fine")
    def fine(ctx: daytwo.Context, x: int) -> int:
        return x

    @app.workflow(name="broken")
    def broken(ctx: daytwo.Context, x: int) -> int:
        raise ValueError(x)

    @app.workflow(name="parked")
    def parked(ctx: daytwo.Context, x: int) -> object:
        return ctx.wait_for_signal("go")

    app.run("fine", 1, id="ok")
    for name in ("bad-1", "bad-2"):
        with pytest.raises(daytwo.WorkflowFailed):
            app.run("broken", 2, id=name)
    app.start("parked", 3, id="queued")
    app.start("parked", 4, id="queued-too")
    return ["ok", "bad-1", "bad-2"], ["queued", "queued-too"]


def test_a_lookup_reads_what_a_wait_needs(app: daytwo.App) -> None:
    ended, going = _ended_and_going(app)
    lookups = InstanceLookups(app.store.engine)
    try:
        assert lookups.get("ok") == {
            "id": "ok", "status": "SUCCEEDED", "state": "succeeded", "output": "1", "error": None,
        }  # fmt: skip
        queued = lookups.get("queued")
        assert queued is not None
        assert (queued["status"], queued["state"], queued["output"]) == ("RUNNABLE", "queued", None)
        assert lookups.get("nope") is None
        # Only the ended ones, each once, whatever the order, repeats and unknown ids.
        rows = lookups.ended([*going, "bad-2", "nope", *ended, "ok"])
        assert sorted(row["id"] for row in rows) == sorted(ended)
        failed = next(row for row in rows if row["id"] == "bad-1")
        assert failed["status"] == "FAILED" and "ValueError" in str(failed["error"])
        assert lookups.ended([]) == [] and lookups.ended(going) == []
    finally:
        lookups.close()


def test_many_ids_are_read_in_chunks(app: daytwo.App) -> None:
    ended, going = _ended_and_going(app)
    unknown = [f"unknown-{n}" for n in range(2 * LOOKUP_CHUNK + 3)]
    lookups = InstanceLookups(app.store.engine)
    try:
        rows = lookups.ended(unknown[:700] + ended + unknown[700:] + going)
        assert sorted(row["id"] for row in rows) == sorted(ended)
    finally:
        lookups.close()


def test_lookups_from_many_threads_and_after_close(app: daytwo.App) -> None:
    ended, _ = _ended_and_going(app)
    lookups = InstanceLookups(app.store.engine)
    seen: list[int] = []

    def read() -> None:
        for _ in range(50):
            seen.append(len(lookups.ended(ended)))

    threads = [threading.Thread(target=read) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert seen == [3] * 300
    lookups.close()
    # A read after close takes a connection again (and the next close gives it back).
    assert len(lookups.ended(ended)) == 3
    lookups.close()
