"""Cancellation: a cancel is a request honoured at the next durable point, the end included;
it never undoes a retry backoff and is never dropped silently (issue 9: 32, 33)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

import daytwo
from daytwo import App, FakeClock, Retry

SLOW_RETRIES = Retry(max_attempts=4, initial_delay=3, backoff=1, max_delay=3, jitter=0)


def test_a_cancel_does_not_undo_the_backoff_of_compensation_retries(
    fake_app: App, clock: FakeClock
) -> None:
    refunds: list[float] = []

    @fake_app.step
    def charge() -> str:
        return "c-1"

    @charge.compensate(retry=SLOW_RETRIES)
    def refund(charge_id: str) -> None:
        refunds.append(clock.now())
        raise ConnectionError("payments API down")

    @fake_app.workflow(name="order")
    def order(ctx: daytwo.Context) -> Any:
        charge()
        return ctx.wait_for_signal("shipped")

    fake_app.start("order", id="o")
    with fake_app.worker(concurrency=1, poll_interval=0.05) as worker:
        worker.drain()
        fake_app.cancel("o", "customer withdrew")
        worker.drain()
        waiting = fake_app.get("o")
        assert len(refunds) == 1, refunds  # not four refunds in a row
        assert (waiting.status, waiting.wait_kind) == ("WAITING", "retry")
        for attempt in range(2, 5):
            clock.advance(3)
            worker.drain()
            assert len(refunds) == attempt
    assert [b - a for a, b in itertools.pairwise(refunds)] == [3, 3, 3]
    ended = fake_app.get("o")
    assert ended.status == "COMPENSATION_FAILED"
    assert ended.cancel_outcome == (
        "took effect, but a compensation failed: the instance ended COMPENSATION_FAILED"
    )


def test_a_cancel_during_the_last_step_compensates_instead_of_succeeding(app: App) -> None:
    undone: list[str] = []

    @app.step
    def reserve() -> str:
        return "r-1"

    @reserve.compensate
    def release(reservation: str) -> None:
        undone.append(reservation)

    @app.step
    def ship(instance_id: str) -> str:
        app.cancel(instance_id, "customer withdrew")  # arrives while the last step runs
        return "s-1"

    @ship.compensate
    def recall(instance_id: str, shipment: str) -> None:
        undone.append(shipment)

    @app.workflow(name="order")
    def order(ctx: daytwo.Context) -> Any:
        reserve()
        return ship(ctx.instance_id)

    with pytest.raises(daytwo.WorkflowFailed, match="CANCELLED"):
        app.run("order", id="late")
    assert undone == ["s-1", "r-1"]
    instance = app.get("late")
    assert instance.cancel_outcome == "took effect: the instance compensated and ended CANCELLED"
    kinds = [(e.kind, e.name, e.outcome) for e in app.history("late")]
    assert kinds == [
        ("step", "reserve", "completed"),
        ("step", "ship", "completed"),
        ("cancel", "cancel", "completed"),
        ("compensation", "ship", "completed"),
        ("compensation", "reserve", "completed"),
    ]
    assert app.history("late")[2].detail == {"reason": "customer withdrew"}


def test_a_cancel_that_meets_a_failure_is_recorded_as_superseded(app: App) -> None:
    undone: list[str] = []

    @app.step
    def reserve() -> str:
        return "r-1"

    @reserve.compensate
    def release(reservation: str) -> None:
        undone.append(reservation)

    @app.step(retry=Retry(max_attempts=1))
    def ship(instance_id: str) -> str:
        app.cancel(instance_id, "customer withdrew")
        raise daytwo.Reject("address undeliverable")

    @app.workflow(name="order")
    def order(ctx: daytwo.Context) -> Any:
        reserve()
        return ship(ctx.instance_id)

    with pytest.raises(daytwo.WorkflowFailed, match="COMPENSATED"):
        app.run("order", id="both")
    assert undone == ["r-1"]
    [cancel] = [e for e in app.history("both") if e.kind == "cancel"]
    assert cancel.outcome == "superseded"
    assert cancel.detail is not None and "address undeliverable" in cancel.detail["failure"]
    assert app.get("both").cancel_outcome == (
        "superseded: the instance was already failing when it arrived, and ended COMPENSATED"
    )


def test_cancelling_an_instance_that_is_already_compensating_is_refused(
    fake_app: App, clock: FakeClock
) -> None:
    @fake_app.step
    def charge() -> str:
        return "c-1"

    @charge.compensate(retry=SLOW_RETRIES)
    def refund(charge_id: str) -> None:
        raise ConnectionError("payments API down")

    @fake_app.workflow(name="order")
    def order(ctx: daytwo.Context) -> None:
        charge()
        raise daytwo.Reject("out of stock")

    fake_app.start("order", id="o")
    with fake_app.worker(concurrency=1, poll_interval=0.05) as worker:
        worker.drain()
    assert fake_app.get("o").wait_kind == "retry"
    with pytest.raises(daytwo.NotRunnable, match="already compensating after a failure"):
        fake_app.cancel("o")
    assert fake_app.get("o").cancel_reason is None
