"""Replay divergence: changed code against recorded histories (DESIGN.md §3)."""

from __future__ import annotations

from typing import Any

import pytest

import daytwo
from daytwo import App


def _v1(app: App) -> None:
    @app.step
    def reserve(order: str) -> str:
        return f"r-{order}"

    @app.step
    def charge(order: str) -> str:
        return f"c-{order}"

    @app.workflow(name="order", version="1.0")
    def order(ctx: daytwo.Context, order_id: str) -> dict[str, Any]:
        reservation = reserve(order_id)
        approval = ctx.wait_for_signal("approval")
        return {"reservation": reservation, "approval": approval, "charge": charge(order_id)}


def _wait_in_v1(db_url: str, instance_id: str) -> None:
    old = App(db_url)
    _v1(old)
    old.start("order", "42", id=instance_id)
    with old.worker(concurrency=1) as worker:
        worker.drain()
    assert old.get(instance_id).status == "WAITING"
    old.close()


def _approve_and_drain(app: App, instance_id: str) -> daytwo.Instance:
    """Send the approval the v1 instance waits for, run the new code until idle."""
    app.signal(instance_id, "approval", True)
    with app.worker(concurrency=1) as worker:
        worker.drain()
    return app.get(instance_id)


def test_incompatible_change_names_position_and_both_operations(db_url: str) -> None:
    _wait_in_v1(db_url, "o-1")
    new = App(db_url)

    @new.step
    def fraud_check(order: str) -> bool:
        return True

    @new.step
    def reserve(order: str) -> str:
        return f"r-{order}"

    @new.workflow(name="order", version="1.0")
    def order(ctx: daytwo.Context, order_id: str) -> Any:
        fraud_check(order_id)  # inserted before the recorded step: history no longer fits
        reserve(order_id)
        return ctx.wait_for_signal("approval")

    instance = _approve_and_drain(new, "o-1")
    assert instance.status == "INCOMPATIBLE"
    assert instance.error is not None
    reason = instance.error["message"]
    assert "position 0" in reason
    assert "step 'reserve'" in reason and "step 'fraud_check'" in reason
    with pytest.raises(daytwo.WorkflowFailed, match="INCOMPATIBLE"):
        new.result("o-1", timeout=5)
    # nothing recorded for the diverging code
    assert [e.name for e in new.history("o-1")] == ["reserve"]


def test_compatible_change_after_the_current_position_continues(db_url: str) -> None:
    _wait_in_v1(db_url, "o-2")
    new = App(db_url)
    shipped: list[str] = []

    @new.step
    def reserve(order: str) -> str:
        raise AssertionError("a recorded step must not run again")

    @new.step
    def charge(order: str) -> str:
        return f"c-{order}"

    @new.step
    def ship(order: str) -> str:
        shipped.append(order)
        return f"s-{order}"

    @new.workflow(name="order", version="1.0")
    def order(ctx: daytwo.Context, order_id: str) -> dict[str, Any]:
        reservation = reserve(order_id)
        approval = ctx.wait_for_signal("approval")
        return {
            "reservation": reservation,
            "approval": approval,
            "charge": charge(order_id),
            "shipment": ship(order_id),  # new step after the waiting position
        }

    new.signal("o-2", "approval", True)
    with new.worker(concurrency=1):
        result = new.result("o-2", timeout=10)
    assert result == {"reservation": "r-42", "approval": True, "charge": "c-42", "shipment": "s-42"}
    assert shipped == ["42"]


def test_changed_wait_kind_is_incompatible(db_url: str) -> None:
    _wait_in_v1(db_url, "o-3")
    new = App(db_url)

    @new.step
    def reserve(order: str) -> str:
        return f"r-{order}"

    @new.workflow(name="order", version="1.0")
    def order(ctx: daytwo.Context, order_id: str) -> Any:
        reserve(order_id)
        return ctx.human_task("approval")  # was a plain signal wait

    instance = _approve_and_drain(new, "o-3")
    assert instance.status == "INCOMPATIBLE"
    assert instance.error is not None
    # the wait at position 1 is pending, not yet in the history: the instance row says
    # what it waits for, and the new code must still be waiting for that
    assert instance.error["message"] == (
        "at position 1 the instance is waiting for signal 'approval' but the workflow now "
        "calls task 'approval'"
    )


def test_workflow_that_now_stops_early_is_incompatible(db_url: str) -> None:
    app = App(db_url)

    @app.step
    def one() -> int:
        return 1

    @app.step
    def two() -> int:
        return 2

    @app.workflow(name="short", version="1")
    def short(ctx: daytwo.Context, _: Any) -> int:
        value = one() + two()
        ctx.sleep(0.05)
        return value

    app.start("short", None, id="s-1")
    with app.worker(concurrency=1) as worker:
        worker.drain()
    app.close()

    new = App(db_url)

    @new.step(name="one")
    def one_again() -> int:
        return 1

    @new.workflow(name="short", version="1")
    def shorter(ctx: daytwo.Context, _: Any) -> int:
        return one_again()

    with new.worker(concurrency=1), pytest.raises(daytwo.WorkflowFailed):
        new.result("s-1", timeout=10)
    instance = new.get("s-1")
    assert instance.status == "INCOMPATIBLE"
    assert instance.error is not None
    assert "after 1 operation" in instance.error["message"]
    assert "step 'two'" in instance.error["message"]


def test_exception_while_replaying_is_incompatible_not_a_failure(db_url: str) -> None:
    _wait_in_v1(db_url, "o-4")
    new = App(db_url)

    @new.step
    def reserve(order: str) -> str:
        return "unused"

    @new.workflow(name="order", version="1.0")
    def order(ctx: daytwo.Context, order_id: str) -> Any:
        raise ValueError("new validation rejects old input")

    instance = _approve_and_drain(new, "o-4")
    assert instance.status == "INCOMPATIBLE"
    assert instance.error is not None
    assert "ValueError" in instance.error["message"]


def test_workflow_that_no_longer_reaches_the_pending_wait_is_incompatible(db_url: str) -> None:
    _wait_in_v1(db_url, "o-5")
    new = App(db_url)

    @new.step
    def reserve(order: str) -> str:
        return f"r-{order}"

    @new.workflow(name="order", version="1.0")
    def order(ctx: daytwo.Context, order_id: str) -> Any:
        return reserve(order_id)  # the approval wait was removed

    instance = _approve_and_drain(new, "o-5")
    assert instance.status == "INCOMPATIBLE"
    assert instance.error is not None
    assert "waiting at position 1 for signal 'approval'" in instance.error["message"]
