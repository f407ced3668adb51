"""Circuit breakers at a step's call, driven by a worker on the fake clock: the window opens
the circuit, waiters suspend at it without spending an attempt, probes close or reopen it,
a Reject does not count, slow calls open it, and each transition is an outbox event."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import sqlalchemy as sa

import daytwo
from daytwo import App, BreakerPolicy, BreakerState, Context, FakeClock, Retry, WaitKind
from daytwo.store import EventKind, breaker_calls, events_after
from daytwo.store._breakers import SNAPSHOT_TTL

POLICY = BreakerPolicy(failure_rate=50, window=4, minimum_calls=4, open_for=30, half_open_calls=2)


class Payments:
    """A dependency that is up or down, counting the calls that reach it."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.down = False
        self.reject = False
        self.takes = 0.0
        self.calls = 0


def _shop(
    app: App, clock: FakeClock, policy: BreakerPolicy | None = POLICY, attempts: int = 3
) -> Payments:
    payments = Payments(clock)
    if policy is not None:
        app.circuit_breaker("pay", policy)

    @app.step(dependency="pay", retry=Retry(max_attempts=attempts, initial_delay=1, jitter=0))
    def charge(order: int) -> int:
        payments.calls += 1
        clock.advance(payments.takes)
        if payments.reject:
            raise daytwo.Reject("card declined")
        if payments.down:
            raise ConnectionError("pay is down")
        return order

    @app.workflow(name="order")
    def order(ctx: Context, number: int) -> int:
        return charge(number)

    return payments


def _events(app: App) -> list[tuple[str, dict[str, Any]]]:
    with app.store.read() as conn:
        return [
            (event.kind, event.payload)
            for event in events_after(conn, 0, limit=1000)
            if event.kind.startswith("circuit.")
        ]


def _start(app: App, count: int) -> None:
    for n in range(count):
        app.start("order", n, id=f"o{n}")


def test_failures_open_the_circuit_and_waiters_hold_without_spending_an_attempt(
    fake_app: App, clock: FakeClock
) -> None:
    payments = _shop(fake_app, clock)
    payments.down = True
    _start(fake_app, 6)
    with fake_app.worker(concurrency=1) as worker:
        worker.drain()
        assert payments.calls == 4, "the fifth and sixth calls are held back"
        breaker = fake_app.breakers.get("pay")
        assert breaker.state is BreakerState.OPEN
        assert breaker.breaker.until == pytest.approx(breaker.breaker.since + 30)
        held = [fake_app.get(f"o{n}") for n in (4, 5)]
        assert {(i.status, i.state, i.wait_kind, i.attempt) for i in held} == {
            (daytwo.InstanceStatus.WAITING, "circuit open: pay", WaitKind.CIRCUIT, 0)
        }
        assert fake_app.attempts("o4") == []
        assert (held[0].waiting_for or "").startswith(
            "circuit open: pay before step 'charge' (asks again until "
        )
        clock.advance(2)  # the failed ones' retries come due: they wait at the circuit too
        worker.drain()
        assert payments.calls == 4
        assert fake_app.get("o0").state == "circuit open: pay"
        assert fake_app.get("o0").attempt == 1
        assert fake_app.breakers.get("pay").waiting == 6
    [(kind, payload)] = _events(fake_app)
    assert kind == EventKind.CIRCUIT_OPENED
    assert payload["why"] == "failure rate 100% >= 50% (4 of 4 calls)"
    assert (payload["from"], payload["to"]) == ("closed", "open")


def test_successful_probes_close_the_circuit_and_every_waiter_continues_at_once(
    fake_app: App, clock: FakeClock
) -> None:
    payments = _shop(fake_app, clock)
    payments.down = True
    _start(fake_app, 6)
    with fake_app.worker(concurrency=1) as worker:
        worker.drain()
        payments.down = False
        clock.advance(31)
        worker.drain()
    assert {fake_app.get(f"o{n}").status for n in range(6)} == {daytwo.InstanceStatus.SUCCEEDED}
    assert payments.calls == 4 + 6
    assert [kind for kind, _ in _events(fake_app)] == [
        EventKind.CIRCUIT_OPENED,
        EventKind.CIRCUIT_HALF_OPENED,
        EventKind.CIRCUIT_CLOSED,
    ]
    closed = _events(fake_app)[-1][1]
    assert closed["why"] == "half-open probes succeeded" and closed["woken"] >= 2
    assert fake_app.breakers.get("pay").state is BreakerState.CLOSED


def test_failed_probes_reopen_it_and_do_not_count_against_the_retries(
    fake_app: App, clock: FakeClock
) -> None:
    payments = _shop(fake_app, clock)
    payments.down = True
    _start(fake_app, 6)
    with fake_app.worker(concurrency=1) as worker:
        worker.drain()
        for _ in range(5):  # five half-open periods, each with two failed probes
            clock.advance(31)
            worker.drain()
            clock.advance(2)
            worker.drain()
        assert payments.calls == 4 + 5 * 2
        assert fake_app.breakers.get("pay").state is BreakerState.OPEN
        statuses = {fake_app.get(f"o{n}").status for n in range(6)}
        assert statuses == {daytwo.InstanceStatus.WAITING}, "no instance used up its retries"
        probes = [
            a for n in range(6) for a in fake_app.attempts(f"o{n}") if "circuit_probe" in a.error
        ]
        assert len(probes) == 10 and {a.error["circuit_probe"] for a in probes} == {"pay"}
        payments.down = False
        clock.advance(31)
        worker.drain()
    assert {fake_app.get(f"o{n}").status for n in range(6)} == {daytwo.InstanceStatus.SUCCEEDED}
    kinds = [kind for kind, _ in _events(fake_app)]
    assert kinds.count(EventKind.CIRCUIT_OPENED) == 6 and kinds[-1] == EventKind.CIRCUIT_CLOSED
    assert _events(fake_app)[1][1]["why"] == "open_for elapsed"
    assert _events(fake_app)[2][1]["why"].startswith("probes: failure rate 100%")


def test_a_business_reject_is_not_counted(fake_app: App, clock: FakeClock) -> None:
    payments = _shop(fake_app, clock)
    payments.reject = True
    _start(fake_app, 6)
    with fake_app.worker(concurrency=2) as worker:
        worker.drain()
    assert payments.calls == 6
    assert fake_app.breakers.get("pay").window.calls == 0
    assert fake_app.breakers.get("pay").state is BreakerState.CLOSED


def test_slow_calls_open_the_circuit_by_their_own_rate(fake_app: App, clock: FakeClock) -> None:
    policy = BreakerPolicy(
        window=4, minimum_calls=4, slow_call_duration=5, slow_call_rate=75, open_for=30
    )
    payments = _shop(fake_app, clock, policy)
    payments.takes = 6.0
    _start(fake_app, 5)
    with fake_app.worker(concurrency=1) as worker:
        worker.drain()
    assert payments.calls == 4
    assert fake_app.breakers.get("pay").state is BreakerState.OPEN
    assert _events(fake_app)[0][1]["why"].startswith("slow-call rate 100% >= 75%")
    assert fake_app.get("o4").state == "circuit open: pay"


def test_a_time_window_forgets_calls_older_than_it_and_prunes_them(
    fake_app: App, clock: FakeClock
) -> None:
    policy = BreakerPolicy(window_seconds=60, minimum_calls=4, open_for=30)
    payments = _shop(fake_app, clock, policy, attempts=1)
    payments.down = True
    with fake_app.worker(concurrency=1) as worker:
        for n in range(6):  # one failed call every 30 s: never 4 within a minute
            fake_app.start("order", n, id=f"o{n}")
            worker.drain()
            clock.advance(30)
        assert fake_app.breakers.get("pay").state is BreakerState.CLOSED
        assert fake_app.breakers.get("pay").window.calls <= 2
    with fake_app.store.read() as conn:
        stored = conn.execute(sa.select(sa.func.count()).select_from(breaker_calls)).scalar_one()
    assert stored <= 3, "calls that fell out of the window are deleted"


def test_a_count_window_keeps_only_its_last_calls(fake_app: App, clock: FakeClock) -> None:
    _shop(fake_app, clock, BreakerPolicy(window=3, minimum_calls=3))
    _start(fake_app, 8)
    with fake_app.worker(concurrency=1) as worker:
        worker.drain()
    with fake_app.store.read() as conn:
        outcomes = conn.execute(sa.select(breaker_calls.c.outcome)).scalars().all()
    assert outcomes == ["success"] * 3


def test_steps_without_a_breaker_never_touch_the_breaker_tables(
    fake_app: App, clock: FakeClock
) -> None:
    _shop(fake_app, clock, policy=None)  # a dependency without a breaker

    @fake_app.step
    def plain(n: int) -> int:
        return n

    @fake_app.workflow(name="plain")
    def flow(ctx: Context, n: int) -> int:
        return plain(n)

    statements: list[str] = []
    fake_app.flow.breakers.snapshot()  # the snapshot of the breakers is read at most once a second

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "breaker" in statement:
            statements.append(statement)

    sa.event.listen(fake_app.store.engine, "before_cursor_execute", count)
    began = time.monotonic()
    try:
        for n in range(20):
            fake_app.start("plain", n, id=f"p{n}")
            fake_app.start("order", n, id=f"o{n}")
        with fake_app.worker(concurrency=2) as worker:
            worker.drain()
    finally:
        sa.event.remove(fake_app.store.engine, "before_cursor_execute", count)
    elapsed = time.monotonic() - began
    # Only the snapshot's read of the breakers, at most once a second (of real time): no
    # write, no window, no permit; the steps without a dependency do not even ask.
    assert all(s.lstrip().upper().startswith("SELECT") for s in statements)
    assert not any("breaker_calls" in s or "breaker_probes" in s for s in statements)
    assert len(statements) <= 2 + elapsed / SNAPSHOT_TTL, statements


def test_a_reset_lets_every_waiter_continue_at_once(fake_app: App, clock: FakeClock) -> None:
    payments = _shop(fake_app, clock)
    payments.down = True
    _start(fake_app, 5)
    with fake_app.worker(concurrency=1) as worker:
        worker.drain()
        fake_app.breakers.reset("pay", reason="fixed", by="ops")
        payments.down = False
        worker.drain()
        clock.advance(2)  # the retries of the calls that failed before it opened
        worker.drain()
    assert {fake_app.get(f"o{n}").status for n in range(5)} == {daytwo.InstanceStatus.SUCCEEDED}
    history = [json.loads(json.dumps(e.kind)) for e in fake_app.history("o4")]
    assert history == ["step"]


def test_a_circuit_opened_by_one_process_holds_the_instances_of_another(
    db_url: str, clock: FakeClock
) -> None:
    first, second = App(db_url, clock=clock), App(db_url, clock=clock)
    try:
        payments = _shop(first, clock)
        other = _shop(second, clock)
        payments.down = True
        _start(first, 4)
        with first.worker(concurrency=1) as worker:
            worker.drain()
        assert second.breakers.get("pay").state is BreakerState.OPEN
        second.start("order", 99, id="elsewhere")
        with second.worker(concurrency=1) as worker:
            worker.drain()
        assert (payments.calls, other.calls) == (4, 0)
        assert second.get("elsewhere").state == "circuit open: pay"
    finally:
        first.close()
        second.close()
