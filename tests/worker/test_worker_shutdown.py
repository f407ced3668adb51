"""SIGTERM while a step runs longer than the shutdown grace (issue 9, item 15).

The worker gives the lease back and the process exits at once: it must neither wait for
the step (which would then run beside the worker that takes the instance over) nor log
errors about the late writes of the run it abandoned.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest
from _harness import read_side_effects, wait_until, worker_ids_of, worker_pool
from workloads.crash_app import build_app

import daytwo

#: Far longer than the grace and than the test's waits for the first worker to exit.
STEP_SECONDS = 6.0


def test_sigterm_past_the_grace_exits_at_once_and_quietly(tmp_path: Path, db_url: str) -> None:
    log_path = tmp_path / "side-effects.log"
    app = build_app(db_url, str(log_path))
    try:
        app.start("slow", {"steps": 1, "seconds": STEP_SECONDS}, id="slow-1")
        with worker_pool(db_url, log_path, tmp_path) as pool:
            first = pool.spawn(concurrency=2, lease_seconds=30.0, shutdown_grace=0.2)
            wait_until(
                lambda: app.get("slow-1").status == "RUNNING" or not first.alive(),
                timeout=30, what="the first worker to start the step",
            )  # fmt: skip
            second = pool.spawn(concurrency=2, lease_seconds=30.0, poll_interval=0.05)
            wait_until(
                lambda: bool(worker_ids_of(app, second.pid)) or not second.alive(),
                timeout=30, what="the second worker to register",
            )  # fmt: skip
            started = time.monotonic()
            # Waiting for the step would take STEP_SECONDS minus what already ran.
            assert first.terminate(timeout=STEP_SECONDS / 2) == 0, pool.outputs()
            waited = time.monotonic() - started
            output = first.output()
            for wrong in ("Traceback", "group committer is closed", "could not release", "ERROR"):
                assert wrong not in output, output
            assert "gave back 1 lease(s)" in output and "stopped" in output, output
            assert not read_side_effects(log_path), "the abandoned step ran to its end"

            wait_until(
                lambda: app.get("slow-1").lease_owner in worker_ids_of(app, second.pid),
                timeout=30, what="the second worker to take the instance over",
            )  # fmt: skip
            wait_until(
                lambda: app.get("slow-1").status == "SUCCEEDED" or not second.alive(),
                timeout=STEP_SECONDS * 5, what="the second worker to finish the instance",
            )  # fmt: skip
            assert second.terminate(timeout=30) == 0, pool.outputs()
        [effect] = read_side_effects(log_path)
        assert effect.pid == second.pid
        print(f"\nthe first worker exited {waited:.2f} s after SIGTERM")
    finally:
        app.close()


def test_a_run_abandoned_by_stop_is_dropped_quietly_in_process(
    app: daytwo.App, caplog: pytest.LogCaptureFixture
) -> None:
    """In a process that goes on after ``stop()``, the abandoned step ends later: its
    result is dropped without an error, and the instance waits for another worker."""
    release = threading.Event()
    ended = threading.Event()

    @app.step
    def long_call(n: int) -> int:
        release.wait(30)
        ended.set()
        return n

    @app.workflow(name="long")
    def long(ctx: daytwo.Context, n: int) -> int:
        return long_call(n)

    app.start("long", 1, id="long-1")
    worker = app.worker(concurrency=1, poll_interval=0.02, shutdown_grace=0.1)
    with caplog.at_level(logging.INFO, logger="daytwo"):
        worker.start()
        wait_until(lambda: app.get("long-1").state == "long_call", timeout=30)
        worker.stop()
        release.set()
        wait_until(ended.is_set, timeout=30)
        wait_until(lambda: any("abandoned" in r.getMessage() for r in caplog.records), timeout=30)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    instance = app.get("long-1")
    assert (instance.status, instance.lease_owner) == ("RUNNABLE", None)
    assert app.history("long-1") == []
    with app.worker(concurrency=1, poll_interval=0.02):  # claimable a second after the release
        assert app.result("long-1", timeout=30) == 1
