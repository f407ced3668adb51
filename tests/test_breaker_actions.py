"""Operators and circuit breakers (``client.breakers``): force open, force close, reset,
configure; each audited done or refused; refusals that name the problem; which policy wins;
the /metrics families."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

import daytwo
from daytwo import (
    App,
    AuditOutcome,
    BreakerPolicy,
    BreakerState,
    Context,
    FakeClock,
    OperatorAction,
    Retry,
)
from daytwo.store import EventKind, events_after


def _shop(app: App, clock: FakeClock, state: dict[str, Any]) -> None:
    app.circuit_breaker("pay", BreakerPolicy(window=4, minimum_calls=4, open_for=30))

    @app.step(dependency="pay", retry=Retry(max_attempts=3, initial_delay=1, jitter=0))
    def charge(order: int) -> int:
        state["calls"] = state.get("calls", 0) + 1
        if state.get("down"):
            raise ConnectionError("pay is down")
        return order

    @app.workflow(name="order")
    def order(ctx: Context, number: int) -> int:
        return charge(number)


def _kinds(app: App) -> list[str]:
    with app.store.read() as conn:
        return [e.kind for e in events_after(conn, 0, limit=100) if e.kind.startswith("circuit.")]


def test_force_open_holds_calls_and_force_close_lets_the_waiters_go_on(
    fake_app: App, clock: FakeClock
) -> None:
    state: dict[str, Any] = {}
    _shop(fake_app, clock, state)
    fake_app.flow.breakers.declare(fake_app.registry.breakers)
    opened = fake_app.breakers.open("pay", reason="vendor maintenance", by="alice")
    assert opened.state is BreakerState.FORCED_OPEN
    for n in range(3):
        fake_app.start("order", n, id=f"o{n}")
    with fake_app.worker(concurrency=1) as worker:
        worker.drain()
        assert state.get("calls", 0) == 0
        assert fake_app.get("o0").state == "circuit open: pay"
        assert fake_app.breakers.get("pay").waiting == 3
        closed = fake_app.breakers.close("pay", reason="maintenance over", by="bob")
        assert closed.state is BreakerState.FORCED_CLOSED and closed.waiting == 0
        worker.drain()
        # Forced closed: failures go through and do not open it.
        state["down"] = True
        for n in range(3, 9):
            fake_app.start("order", n, id=f"o{n}")
        worker.drain()
    assert {fake_app.get(f"o{n}").status for n in range(3)} == {daytwo.InstanceStatus.SUCCEEDED}
    assert state["calls"] == 3 + 6
    assert fake_app.breakers.get("pay").state is BreakerState.FORCED_CLOSED
    assert _kinds(fake_app) == [EventKind.CIRCUIT_FORCED_OPEN, EventKind.CIRCUIT_FORCED_CLOSED]
    close, open_ = fake_app.client.audit.list(action="breaker")
    assert (open_.action, open_.actor, open_.reason, open_.outcome, open_.count) == (
        OperatorAction.BREAKER_OPEN,
        "alice",
        "vendor maintenance",
        AuditOutcome.DONE,
        None,
    )
    assert (close.action, close.actor, close.count) == (OperatorAction.BREAKER_CLOSE, "bob", 3)
    view = fake_app.breakers.get("pay").breaker
    assert (view.changed_by, view.reason) == ("bob", "maintenance over")


def test_reset_empties_the_window_and_leaves_a_forced_state(
    fake_app: App, clock: FakeClock
) -> None:
    state: dict[str, Any] = {"down": True}
    _shop(fake_app, clock, state)
    fake_app.start("order", 1, id="o1")
    with fake_app.worker(concurrency=1) as worker:
        worker.drain()
    assert fake_app.breakers.get("pay").window.calls == 1
    reset = fake_app.breakers.reset("pay", reason="false alarm", by="carol")
    assert (reset.state, reset.window.calls) == (BreakerState.CLOSED, 0)
    fake_app.breakers.open("pay", by="carol")
    assert fake_app.breakers.reset("pay", by="carol").state is BreakerState.CLOSED
    assert _kinds(fake_app)[-1] == EventKind.CIRCUIT_CLOSED
    [last, _, first] = fake_app.client.audit.list(action="breaker")
    assert (first.action, first.reason, last.action) == (
        OperatorAction.BREAKER_RESET,
        "false alarm",
        OperatorAction.BREAKER_RESET,
    )


def test_actions_that_make_no_sense_are_refused_audited_and_change_nothing(
    fake_app: App, clock: FakeClock
) -> None:
    _shop(fake_app, clock, {})
    fake_app.flow.breakers.declare(fake_app.registry.breakers)
    with pytest.raises(daytwo.BreakerNotFound) as unknown:
        fake_app.breakers.open("payments", by="dave")
    message = str(unknown.value)
    assert message.startswith("no circuit breaker named 'payments'; known breakers: pay")
    assert "\n" not in message
    with pytest.raises(daytwo.NotRunnable, match="closed with no calls in its window"):
        fake_app.breakers.reset("pay", by="dave")
    fake_app.breakers.open("pay", by="dave")
    with pytest.raises(daytwo.NotRunnable, match=r"already forced open .* by dave"):
        fake_app.breakers.open("pay", by="erin")
    fake_app.breakers.close("pay", by="dave")
    with pytest.raises(daytwo.NotRunnable, match="already forced closed"):
        fake_app.breakers.close("pay", by="erin")
    with pytest.raises(daytwo.BreakerNotFound):
        fake_app.breakers.get("nope")
    refused = fake_app.client.audit.list(outcome="refused")
    assert [r.action for r in refused] == [
        OperatorAction.BREAKER_CLOSE,
        OperatorAction.BREAKER_OPEN,
        OperatorAction.BREAKER_RESET,
        OperatorAction.BREAKER_OPEN,
    ]
    assert refused[-1].target == "payments" and "known breakers: pay" in (refused[-1].detail or "")
    assert _kinds(fake_app) == [EventKind.CIRCUIT_FORCED_OPEN, EventKind.CIRCUIT_FORCED_CLOSED]


def test_configure_checks_the_name_and_its_setting_wins_over_the_code(
    fake_app: App, clock: FakeClock
) -> None:
    _shop(fake_app, clock, {})
    with pytest.raises(
        daytwo.InvalidInput, match="no dependency named 'paymnets' is known \\(known: pay\\)"
    ):
        fake_app.breakers.configure("paymnets", BreakerPolicy(), by="frank")
    assert fake_app.breakers.list() == []
    stored = BreakerPolicy(failure_rate=20, window_seconds=60, open_for=120)
    status = fake_app.breakers.configure("pay", stored, reason="flaky vendor", by="frank")
    assert (status.breaker.policy, status.breaker.policy_source) == (stored, "operator")
    with fake_app.worker(concurrency=1):  # the worker declares the code's breakers
        pass
    assert fake_app.breakers.get("pay").breaker.policy == stored, "the operator's setting wins"
    forced = fake_app.breakers.configure("elsewhere", BreakerPolicy(), by="frank", force=True)
    assert forced.state is BreakerState.CLOSED
    [other, done, refused] = fake_app.client.audit.list(action="breaker.set")
    assert (refused.outcome, done.outcome, other.target) == (
        AuditOutcome.REFUSED,
        AuditOutcome.DONE,
        "elsewhere",
    )
    assert done.params is not None and done.params["failure_rate"] == 20


def test_a_code_declared_policy_follows_the_code_until_an_operator_sets_one(
    fake_app: App, clock: FakeClock
) -> None:
    _shop(fake_app, clock, {})
    fake_app.flow.breakers.declare(fake_app.registry.breakers)
    newer = BreakerPolicy(window=50, minimum_calls=20)
    fake_app.circuit_breaker("pay", newer)
    fake_app.flow.breakers.declare(fake_app.registry.breakers)
    view = fake_app.breakers.get("pay").breaker
    assert (view.policy, view.policy_source) == (newer, "code")


def test_a_bad_declaration_is_refused_in_one_line(fake_app: App) -> None:
    with pytest.raises(daytwo.InvalidInput, match=r"needs a daytwo\.BreakerPolicy"):
        fake_app.circuit_breaker("pay", {"failure_rate": 50})  # type: ignore[arg-type]
    with pytest.raises(daytwo.InvalidInput, match="invalid dependency name"):
        fake_app.circuit_breaker("", BreakerPolicy())


def test_metrics_show_each_breakers_state_and_window(fake_app: App, clock: FakeClock) -> None:
    _shop(fake_app, clock, {"down": True})
    for n in range(5):
        fake_app.start("order", n, id=f"o{n}")
    with fake_app.worker(concurrency=1) as worker:
        worker.drain()
    registry = CollectorRegistry()
    for collector in fake_app.collectors():
        registry.register(collector)
    text = generate_latest(registry).decode()
    assert 'daytwo_breaker_state{dependency="pay",state="open"} 1.0' in text
    assert 'daytwo_breaker_state{dependency="pay",state="closed"} 0.0' in text
    assert 'daytwo_breaker_waiting{dependency="pay"} 1.0' in text
