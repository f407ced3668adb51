"""What happens to a step attempt that cannot be recorded, overruns its timeout, or loses its
worker (issue 9: 6, 28, 29)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa

import daytwo
from daytwo import App, FakeClock, Retry
from daytwo.app import INLINE_LEASE_SECONDS
from daytwo.store._schema import slo_buckets

NO_WAIT = Retry(max_attempts=3, initial_delay=0, max_delay=0, jitter=0)

# -- item 6: a result that cannot be stored -------------------------------------------------


def test_a_step_result_that_cannot_be_serialized_fails_at_once_without_a_rerun(
    app: App,
) -> None:
    calls: list[str] = []

    @app.step(retry=NO_WAIT)
    def book() -> str:
        calls.append("book")
        return "booking-1"

    @book.compensate
    def unbook(booking: str) -> None:
        calls.append(f"unbook {booking}")

    @app.step(retry=NO_WAIT)
    def charge() -> dict[str, Any]:
        calls.append("charge")
        return {"receipt": {"at": object()}}

    @app.workflow(name="pay")
    def pay(ctx: daytwo.Context) -> Any:
        book()
        return charge()

    with pytest.raises(daytwo.WorkflowFailed, match="COMPENSATED"):
        app.run("pay", id="p")
    assert calls == ["book", "charge", "unbook booking-1"]  # charge ran once, not three times
    [attempt] = app.attempts("p")
    assert (attempt.name, attempt.attempt, attempt.retry_at) == ("charge", 1, None)
    assert attempt.error["type"] == "SerializationError"
    assert (
        "the result of step 'charge' is not JSON-serializable at ['receipt']['at']"
        in (attempt.error["message"])
    )


# -- item 28: timeouts ----------------------------------------------------------------------


def test_a_timed_out_attempt_is_waited_for_before_its_retry_runs(
    fake_app: App, clock: FakeClock
) -> None:
    events: list[str] = []

    @fake_app.step(timeout=0.2, retry=NO_WAIT)
    def slow() -> str:
        info = daytwo.current_step()
        events.append(f"start {info.attempt}")
        if info.attempt == 1:
            while not info.cancelled:  # an attempt that notices its cancellation late
                time.sleep(0.01)
            time.sleep(0.3)  # ... and takes a while to wind down
            events.append("end 1")
            return "late"
        events.append(f"end {info.attempt}")
        return "on time"

    @fake_app.workflow(name="w")
    def w(ctx: daytwo.Context) -> Any:
        return slow()

    assert fake_app.run("w", id="t") == "on time"
    assert events == ["start 1", "end 1", "start 2", "end 2"]
    [attempt] = fake_app.attempts("t")
    assert attempt.error["type"] == "StepTimeout"


def test_a_timed_out_step_is_compensated_only_after_its_attempt_returned(app: App) -> None:
    events: list[str] = []

    @app.step(retry=Retry(max_attempts=1))
    def reserve() -> str:
        return "r-1"

    @reserve.compensate
    def release(reservation: str) -> None:
        events.append(f"release {reservation}")

    @app.step(timeout=0.1, retry=Retry(max_attempts=1))
    def charge() -> str:
        info = daytwo.current_step()
        while not info.cancelled:
            time.sleep(0.01)
        time.sleep(0.3)
        events.append("charge side effect done")
        return "c-1"

    @app.workflow(name="saga")
    def saga(ctx: daytwo.Context) -> Any:
        reserve()
        return charge()

    with pytest.raises(daytwo.WorkflowFailed, match="COMPENSATED"):
        app.run("saga", id="s")
    assert events == ["charge side effect done", "release r-1"]


def test_a_step_can_stop_when_its_attempt_is_cancelled(app: App) -> None:
    seen = threading.Event()

    @app.step(timeout=0.1, retry=Retry(max_attempts=1))
    def long_job() -> None:
        info = daytwo.current_step()
        while True:
            time.sleep(0.01)
            if info.cancelled:
                seen.set()
            info.raise_if_cancelled()

    @app.workflow(name="job")
    def job(ctx: daytwo.Context) -> None:
        long_job()

    with pytest.raises(daytwo.WorkflowFailed, match="StepTimeout"):
        app.run("job", id="j")
    assert seen.is_set()
    assert daytwo.StepInfo("i", "w", "s", 0, 1, "k").cancelled is False  # no timeout: never


# -- item 29: attempts lost with their worker -----------------------------------------------


class _Killed(BaseException):
    """Stands in for the process dying in the middle of a step (nothing catches it)."""


def _crashing_app(db_url: str, clock: FakeClock, crash: list[int], calls: list[int]) -> App:
    app = App(db_url, clock=clock)

    @app.step(retry=Retry(max_attempts=2, initial_delay=1, jitter=0))
    def work() -> str:
        attempt = daytwo.current_step().attempt
        calls.append(attempt)
        if crash and crash[0] == attempt:
            crash.pop(0)
            raise _Killed()
        if attempt == 2:
            raise ConnectionError("flaky")
        return f"done at attempt {attempt}"

    @app.workflow(name="w")
    def w(ctx: daytwo.Context) -> Any:
        return work()

    return app


def test_an_attempt_lost_with_its_worker_is_recorded_and_spares_the_retries(
    db_url: str, clock: FakeClock
) -> None:
    calls: list[int] = []
    first = _crashing_app(db_url, clock, [1], calls)
    with pytest.raises(_Killed):  # the process "dies" during attempt 1
        first.run("w", id="lost")
    running = first.get("lost")
    assert (running.status, running.state, running.attempt) == ("RUNNING", "work", 1)
    first.close()

    clock.advance(INLINE_LEASE_SECONDS + 1)  # its lease expires; another process takes over
    second = _crashing_app(db_url, clock, [], calls)
    try:
        result = second.run("w", id="lost")
        # Attempt 1 lost, 2 failed (retried: the lost one does not count), 3 succeeded.
        assert result == "done at attempt 3"
        assert calls == [1, 2, 3]
        attempts = second.attempts("lost")
        assert [(a.attempt, a.error["type"]) for a in attempts] == [
            (1, "WorkerLost"),
            (2, "ConnectionError"),
        ]
        assert "lost with its worker" in attempts[0].error["message"]
        [event] = second.history("lost")
        assert (event.attempt, event.idempotency_key) == (3, "lost:0")
        with second.store.read() as conn:
            retries = conn.execute(
                sa.select(sa.func.sum(slo_buckets.c.events)).where(
                    slo_buckets.c.series == "retry:work", slo_buckets.c.resolution == 60
                )
            ).scalar_one()
        assert retries == 2  # the lost attempt counts in the retry SLIs
    finally:
        second.close()


def test_an_attempt_lost_during_a_compensation_is_recorded(db_url: str, clock: FakeClock) -> None:
    crash = [1]

    def build() -> App:
        app = App(db_url, clock=clock)

        @app.step(retry=Retry(max_attempts=1))
        def book() -> str:
            return "b-1"

        @book.compensate(retry=Retry(max_attempts=1))
        def unbook(booking: str) -> None:
            if crash:
                crash.pop()
                raise _Killed()

        @app.workflow(name="w")
        def w(ctx: daytwo.Context) -> None:
            book()
            raise daytwo.Reject("no")

        return app

    first = build()
    with pytest.raises(_Killed):
        first.run("w", id="c")
    first.close()
    clock.advance(INLINE_LEASE_SECONDS + 1)
    second = build()
    try:
        with pytest.raises(daytwo.WorkflowFailed, match="COMPENSATED"):
            second.run("w", id="c")
        [lost] = second.attempts("c")
        assert (lost.name, lost.attempt, lost.error["type"]) == ("compensate:book", 1, "WorkerLost")
        compensation = second.history("c")[-1]
        assert (compensation.kind, compensation.attempt) == ("compensation", 2)
    finally:
        second.close()
