"""The ``park`` failure policy: a step that fails for good stops its instance NEEDS_ATTENTION
at the step instead of compensating (issue 12, item 1)."""

from __future__ import annotations

from typing import Any

import pytest

import daytwo
from daytwo import App, FailurePolicy, FakeClock, InstanceStatus, Retry, WaitKind
from daytwo.store import EventKind, events_after

TWO_TRIES = Retry(max_attempts=2, initial_delay=5, backoff=1, max_delay=5, jitter=0)


def _order_app(
    app: App, *, step_policy: Any = None, workflow_policy: Any = "compensate"
) -> list[str]:
    calls: list[str] = []

    @app.step
    def reserve() -> str:
        calls.append("reserve")
        return "r-1"

    @reserve.compensate
    def release(reservation: str) -> None:
        calls.append(f"release {reservation}")

    @app.step(retry=TWO_TRIES, on_failure=step_policy)
    def charge(total: int) -> str:
        calls.append("charge")
        raise ConnectionError("payments API down")

    @app.workflow(name="order", on_failure=workflow_policy)
    def order(ctx: daytwo.Context, total: int) -> Any:
        reserve()
        return charge(total)

    return calls


def _drain(app: App, clock: FakeClock, rounds: int = 3) -> None:
    with app.worker(concurrency=1, poll_interval=0.05) as worker:
        for _ in range(rounds):
            worker.drain()
            clock.advance(5)
        worker.drain()


def test_a_parked_instance_stops_at_the_failed_step_without_compensating(
    fake_app: App, clock: FakeClock
) -> None:
    calls = _order_app(fake_app, step_policy=FailurePolicy.PARK)
    fake_app.start("order", 10, id="o-1")
    _drain(fake_app, clock)
    parked = fake_app.get("o-1")
    assert calls == ["reserve", "charge", "charge"]  # no release: nothing compensated
    assert parked.status is InstanceStatus.NEEDS_ATTENTION
    assert not parked.status.terminal
    assert (parked.state, parked.wait_kind, parked.wait_name, parked.attempt) == (
        "parked:charge",
        WaitKind.PARKED,
        "charge",
        2,
    )
    assert parked.error is None and parked.finished_at is None
    assert "parked" in (parked.waiting_for or "")
    row = fake_app.store.get_instance("o-1")
    assert row is not None and row["run_at"] is None and row["wait_seq"] == 1
    # The step has no failed history row; its attempts stay, the last with the error.
    assert [(h.name, h.outcome) for h in fake_app.history("o-1")] == [("reserve", "completed")]
    attempts = fake_app.attempts("o-1")
    assert [(a.attempt, a.retry_at is None) for a in attempts] == [(1, False), (2, True)]
    assert attempts[-1].error["message"] == "payments API down"
    assert fake_app.transitions("o-1")[-1].to_state == "parked:charge"
    assert fake_app.list(status="NEEDS_ATTENTION")[0].id == "o-1"


def test_parking_appends_an_outbox_event_in_the_same_write(fake_app: App, clock: FakeClock) -> None:
    _order_app(fake_app, workflow_policy="park")  # the workflow's policy, the step none
    fake_app.start("order", 10, id="o-1")
    _drain(fake_app, clock)
    with fake_app.store.read() as conn:
        [event] = events_after(conn, 0)
    assert (event.kind, event.key) == (EventKind.INSTANCE_PARKED, "o-1")
    assert event.kind == "instance.parked"
    assert event.payload["workflow"] == "order" and event.payload["version"] == "1"
    assert (event.payload["step"], event.payload["attempt"]) == ("charge", 2)
    assert event.payload["error"] == {"type": "ConnectionError", "message": "payments API down"}


def test_the_step_policy_beats_the_workflow_policy(fake_app: App, clock: FakeClock) -> None:
    calls = _order_app(fake_app, step_policy="compensate", workflow_policy="park")
    fake_app.start("order", 10, id="o-1")
    _drain(fake_app, clock)
    assert fake_app.get("o-1").status is InstanceStatus.COMPENSATED
    assert calls[-1] == "release r-1"


def test_a_reject_compensates_under_park(fake_app: App, clock: FakeClock) -> None:
    released: list[str] = []

    @fake_app.step
    def reserve() -> str:
        return "r-1"

    @reserve.compensate
    def release(reservation: str) -> None:
        released.append(reservation)

    @fake_app.step(on_failure="park")
    def check(total: int) -> None:
        raise daytwo.Reject("total over the credit limit")

    @fake_app.workflow(name="order", on_failure="park")
    def order(ctx: daytwo.Context, total: int) -> None:
        reserve()
        check(total)

    fake_app.start("order", 10, id="o-1")
    _drain(fake_app, clock)
    ended = fake_app.get("o-1")
    assert ended.status is InstanceStatus.COMPENSATED
    assert released == ["r-1"]
    assert fake_app.history("o-1")[1].outcome == "failed"


def test_an_unknown_policy_is_refused_in_one_line(fake_app: App) -> None:
    with pytest.raises(daytwo.InvalidInput, match=r"unknown failure policy 'stop'.*'park'"):

        @fake_app.step(on_failure="stop")
        def charge() -> None: ...

    with pytest.raises(daytwo.InvalidInput, match="unknown failure policy"):
        fake_app.workflow(name="w", on_failure="later")
