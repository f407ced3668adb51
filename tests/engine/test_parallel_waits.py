"""Parallel steps that wait or stop: a paused step, dependency limits, the park policy,
cancels, and divergence of a changed fan-out (issue 13, item 2)."""

from __future__ import annotations

import threading

import pytest

import daytwo
from daytwo import App, FakeClock, InstanceStatus, Retry, WaitKind

NO_RETRY = Retry(max_attempts=1)
TWO_TRIES = Retry(max_attempts=2, initial_delay=5, backoff=1, max_delay=5, jitter=0)


def _drain(app: App) -> None:
    with app.worker(concurrency=1, poll_interval=0.05) as worker:
        worker.drain()


def _rows(app: App, instance_id: str) -> list[tuple[int, str, str, str]]:
    return [(e.seq, e.kind, e.name, e.outcome) for e in app.history(instance_id)]


def test_a_paused_step_holds_the_fan_out_until_resumed(fake_app: App, clock: FakeClock) -> None:
    ran: list[str] = []

    @fake_app.step
    def label(n: int) -> str:
        ran.append(f"label {n}")
        return f"l{n}"

    @fake_app.step
    def ship(n: int) -> str:
        ran.append(f"ship {n}")
        return f"s{n}"

    @fake_app.workflow(name="ship")
    def shipping(ctx: daytwo.Context) -> list[str]:
        return ctx.gather(label.defer(1), ship.defer(1), label.defer(2))

    fake_app.flow.pause("ship", "ship", reason="carrier down", by="ann")
    fake_app.start("ship", id="p-1")
    _drain(fake_app)
    held = fake_app.get("p-1")
    assert (held.status, held.wait_kind, held.wait_name, held.state) == (
        InstanceStatus.WAITING,
        WaitKind.PAUSED,
        "ship",
        "paused:ship",
    )
    assert sorted(ran) == ["label 1", "label 2"]  # the other branches ran and are recorded
    fake_app.flow.resume("ship", "ship", reason="carrier back", by="ann")
    _drain(fake_app)
    assert fake_app.get("p-1").output == ["l1", "s1", "l2"]
    assert sorted(ran) == ["label 1", "label 2", "ship 1"]


def test_a_dependency_limit_holds_within_a_fan_out(app: App) -> None:
    lock = threading.Lock()
    running = [0, 0]
    pair = threading.Barrier(2, timeout=10)

    @app.step(dependency="rates-api")
    def rate(n: int) -> int:
        pair.wait()  # two at a time: each branch has a slot of its own
        with lock:
            running[0] += 1
            running[1] = max(running[1], running[0])
        threading.Event().wait(0.01)
        with lock:
            running[0] -= 1
        return n

    @app.workflow(name="rates")
    def rates(ctx: daytwo.Context) -> list[int]:
        return ctx.map(rate, range(6))

    app.flow.set_dependency_limit("rates-api", 2)
    assert app.run("rates", id="d-1") == list(range(6))
    assert running[1] <= 2
    assert app.flow.dependency_status() == [{"name": "rates-api", "concurrency": 2, "in_flight": 0}]


def test_a_branch_throttled_by_another_instance_waits_for_a_slot(
    fake_app: App, clock: FakeClock
) -> None:
    @fake_app.step(dependency="rates-api")
    def rate(n: int) -> int:
        return n

    @fake_app.workflow(name="rates")
    def rates(ctx: daytwo.Context) -> list[int]:
        return ctx.map(rate, range(3))

    fake_app.flow.set_dependency_limit("rates-api", 1)
    fake_app.start("rates", id="holder")
    holder = fake_app.store.claim(
        "w", [("rates", "1")], now=clock.now(), lease_seconds=600, limit=1, instance_id="holder"
    )
    assert fake_app.flow.acquire_slot("rates-api", 1, "holder", holder[0]["lease_token"])
    fake_app.start("rates", id="t-1")
    _drain(fake_app)
    waiting = fake_app.get("t-1")
    assert (waiting.status, waiting.wait_kind) == (InstanceStatus.WAITING, WaitKind.THROTTLED)
    fake_app.flow.release_slot("rates-api", "holder", holder[0]["lease_token"])
    clock.advance(2)
    with fake_app.worker(concurrency=1, poll_interval=0.05) as worker:
        worker.drain()
    assert fake_app.get("t-1").output == [0, 1, 2]


def test_park_policy_parks_the_fan_out_and_retry_runs_the_branch_again(
    fake_app: App, clock: FakeClock
) -> None:
    fixed = threading.Event()

    @fake_app.step(retry=NO_RETRY, on_failure="park")
    def charge(n: int) -> int:
        if n == 2 and not fixed.is_set():
            raise ConnectionError("PSP down")
        return n

    @fake_app.workflow(name="charges")
    def charges(ctx: daytwo.Context) -> list[int]:
        return ctx.map(charge, range(4))

    fake_app.start("charges", id="k-1")
    _drain(fake_app)
    parked = fake_app.get("k-1")
    assert (parked.status, parked.wait_kind, parked.wait_name) == (
        InstanceStatus.NEEDS_ATTENTION,
        WaitKind.PARKED,
        "charge",
    )
    assert [row[0] for row in _rows(fake_app, "k-1")] == [0, 1, 2, 4]  # branch 2 has no row
    fixed.set()
    fake_app.retry("k-1", reason="PSP back", by="ann")
    _drain(fake_app)
    assert fake_app.get("k-1").output == [0, 1, 2, 3]
    assert [(a.seq, a.attempt) for a in fake_app.attempts("k-1")] == [(3, 1)]
    assert fake_app.history("k-1")[3].attempt == 2


def test_a_cancel_while_waiting_in_a_fan_out_compensates_the_completed_branches(
    fake_app: App, clock: FakeClock
) -> None:
    undone: list[int] = []

    @fake_app.step(retry=TWO_TRIES)
    def book(n: int) -> int:
        if n == 0:
            raise ConnectionError("busy")
        return n

    @book.compensate
    def unbook(n: int, result: int) -> None:
        undone.append(n)

    @fake_app.workflow(name="trip")
    def trip(ctx: daytwo.Context) -> list[int]:
        return ctx.map(book, range(3))

    fake_app.start("trip", id="x-1")
    _drain(fake_app)
    assert fake_app.get("x-1").wait_kind is WaitKind.RETRY
    fake_app.cancel("x-1", "customer changed their mind")
    _drain(fake_app)
    assert fake_app.get("x-1").status is InstanceStatus.CANCELLED
    assert undone == [2, 1]  # reverse position order
    rows = _rows(fake_app, "x-1")
    assert rows[1] == (1, "step", "book", "cancelled")
    assert len({row[0] for row in rows}) == len(rows) == rows[-1][0] + 1


def _fan_v1(app: App, count: int, step: str = "price") -> None:
    @app.step(name=step, retry=TWO_TRIES)
    def price(n: int) -> int:
        if n == 0:
            raise ConnectionError("later")
        return n

    @app.workflow(name="prices", version="1")
    def prices(ctx: daytwo.Context) -> list[int]:
        return ctx.map(price, range(count))


@pytest.mark.parametrize(
    ("count", "step", "expected"),
    [
        (
            99,
            "price",
            "at position 0 the history records a fan-out of 100 branch(es) of 'price' but the "
            "workflow now fans out 99",
        ),
        (
            100,
            "quote",
            "at position 1 the history records branch 0 of the fan-out at position 0 calling "
            "step 'price' but the workflow now calls step 'quote'",
        ),
    ],
)
def test_divergence_names_a_changed_fan_out_and_its_position(
    db_url: str, count: int, step: str, expected: str
) -> None:
    old = App(db_url)
    _fan_v1(old, 100)
    old.start("prices", id="v-1")
    with old.worker(concurrency=1) as worker:
        worker.drain()
    assert old.get("v-1").wait_kind is WaitKind.RETRY  # suspended inside the fan-out
    old.close()
    new = App(db_url)
    _fan_v1(new, count, step)
    new.wake("v-1", reason="test", by="ann")
    with new.worker(concurrency=1) as worker:
        worker.drain()
    instance = new.get("v-1")
    assert instance.status is InstanceStatus.INCOMPATIBLE
    assert instance.error is not None and instance.error["message"] == expected
    new.close()


def test_a_cancel_arriving_during_the_fan_out_stops_it_and_compensates(app: App) -> None:
    undone: list[int] = []
    ran: list[int] = []

    @app.step
    def book(n: int) -> int:
        ran.append(n)
        if n == 0:
            app.cancel(daytwo.current_step().instance_id, "changed plans")
        return n

    @book.compensate
    def unbook(n: int, result: int) -> None:
        undone.append(n)

    @app.workflow(name="trip")
    def trip(ctx: daytwo.Context) -> list[int]:
        return ctx.map(book, range(3), concurrency=1)

    app.start("trip", id="c-2")
    _drain(app)
    assert app.get("c-2").status is InstanceStatus.CANCELLED
    assert ran == [0] and undone == [0]  # the cancel took effect at the next durable point
    assert [row[3] for row in _rows(app, "c-2")[:4]] == [
        "completed",
        "completed",
        "cancelled",
        "cancelled",
    ]
