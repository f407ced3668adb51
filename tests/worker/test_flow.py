"""Flow control: queues, priorities, queue and dependency limits, rate limits, pauses."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from _harness import wait_until
from typer.testing import CliRunner, Result

import daytwo
from daytwo import App, Context, FakeClock
from daytwo.cli._main import app as cli
from daytwo.store import _flow


class Gauge:
    """Counts calls in flight and remembers the most seen at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = 0
        self.peak = 0
        self.calls = 0

    @contextmanager
    def inside(self) -> Iterator[None]:
        with self._lock:
            self.now += 1
            self.calls += 1
            self.peak = max(self.peak, self.now)
        try:
            yield
        finally:
            with self._lock:
                self.now -= 1


def _order_app(app: App, order: list[str]) -> None:
    @app.step
    def record(name: str) -> str:
        order.append(name)
        return name

    @app.workflow(name="job")
    def job(ctx: Context, name: str) -> str:
        return record(name)

    @app.workflow(name="other", queue="other")
    def other(ctx: Context, name: str) -> str:
        return record(name)


def test_lower_priority_number_runs_first_then_fifo(fake_app: App, clock: FakeClock) -> None:
    order: list[str] = []
    _order_app(fake_app, order)
    for name, priority in [("late", 5), ("urgent", 0), ("normal-1", 1), ("normal-2", 1)]:
        fake_app.start("job", name, id=name, priority=priority)
        clock.advance(1)
    with fake_app.worker(concurrency=1) as worker:
        worker.drain()
    assert order == ["urgent", "normal-1", "normal-2", "late"]


def test_a_worker_serves_only_its_queues(fake_app: App) -> None:
    order: list[str] = []
    _order_app(fake_app, order)
    fake_app.start("job", "in-default", id="d")
    fake_app.start("other", "in-other", id="o")
    fake_app.start("job", "moved", id="m", queue="other")
    with fake_app.worker(concurrency=2, queues=["other"]) as worker:
        worker.drain()
    assert sorted(order) == ["in-other", "moved"]
    assert fake_app.get("d").status == "RUNNABLE"
    with fake_app.worker(concurrency=2) as worker:
        worker.drain()
    assert fake_app.get("d").status == "SUCCEEDED"


def test_bad_queue_and_priority_are_refused(fake_app: App) -> None:
    _order_app(fake_app, [])
    with pytest.raises(daytwo.InvalidInput, match="priority must be an integer"):
        fake_app.start("job", "x", priority="high")  # type: ignore[arg-type]
    with pytest.raises(daytwo.InvalidInput, match="queue"):
        fake_app.start("job", "x", queue="")
    with pytest.raises(daytwo.InvalidInput, match="at least 1"):
        fake_app.flow.set_queue("q", concurrency=0)
    with pytest.raises(daytwo.InvalidInput, match="both a count and a period"):
        fake_app.flow.set_queue("q", rate_limit=5)


def _blocking_app(app: App, gauge: Gauge, seconds: float = 0.05) -> None:
    @app.step(dependency="payments-api")
    def charge(n: int) -> int:
        with gauge.inside():
            time.sleep(seconds)
        return n

    @app.workflow(name="pay", queue="payments")
    def pay(ctx: Context, n: int) -> int:
        return charge(n)


def test_queue_concurrency_holds_across_workers(app: App) -> None:
    gauge = Gauge()
    _blocking_app(app, gauge)
    app.flow.set_queue("payments", concurrency=3)
    for n in range(24):
        app.start("pay", n, id=f"p{n}")
    workers = [app.worker(concurrency=4, queues=["payments"], poll_interval=0.02) for _ in range(2)]
    for worker in workers:
        worker.start()
    try:
        # Not drain(): one worker has nothing claimable while the other holds every
        # slot of the queue, so it may go idle before the queue is empty.
        for n in range(24):
            assert app.result(f"p{n}", timeout=60) == n
    finally:
        for worker in workers:
            worker.stop()
    assert gauge.calls == 24
    assert gauge.peak == 3


def test_worker_concurrency_of_a_queue_caps_one_process(app: App) -> None:
    gauge = Gauge()
    _blocking_app(app, gauge)
    app.flow.set_queue("payments", worker_concurrency=2)
    for n in range(10):
        app.start("pay", n, id=f"p{n}")
    with app.worker(concurrency=8, queues=["payments"], poll_interval=0.02) as worker:
        worker.drain(timeout=60)
    assert gauge.calls == 10 and gauge.peak == 2


def test_dependency_limit_holds_and_waiters_hold_no_thread(app: App) -> None:
    gauge = Gauge()
    _blocking_app(app, gauge, seconds=0.1)
    app.flow.set_dependency_limit("payments-api", 2)
    for n in range(12):
        app.start("pay", n, id=f"p{n}")
    with app.worker(concurrency=8, queues=["payments"], poll_interval=0.02) as worker:
        seen_waiting = False
        deadline = time.monotonic() + 60
        while any(app.get(f"p{n}").status != "SUCCEEDED" for n in range(12)):
            assert time.monotonic() < deadline, "instances did not finish"
            states = {i.state for i in app.list(workflow="pay", status="waiting")}
            seen_waiting = seen_waiting or "waiting for payments-api" in states
            time.sleep(0.02)
        worker.drain(timeout=30)
    assert gauge.calls == 12
    assert gauge.peak == 2
    assert seen_waiting, "throttled instances should wait visibly, not hold a thread"
    assert app.flow.dependency_status() == [
        {"name": "payments-api", "concurrency": 2, "in_flight": 0}
    ]


def test_rate_limit_starts_at_most_n_per_period(fake_app: App, clock: FakeClock) -> None:
    order: list[str] = []
    _order_app(fake_app, order)
    fake_app.flow.set_queue("default", rate_limit=5, rate_period=60)
    for n in range(12):
        fake_app.start("job", f"j{n:02d}", id=f"j{n:02d}")
    with fake_app.worker(concurrency=8) as worker:
        worker.drain()
        assert len(order) == 5
        clock.advance(30)
        worker.drain()
        assert len(order) == 5, "the period has not passed yet"
        clock.advance(31)
        worker.drain()
        assert len(order) == 10
        clock.advance(61)
        worker.drain()
    assert len(order) == 12
    # FIFO within one priority: each period starts the oldest (8 threads run a batch in
    # any order, so the order inside a batch is not the claim's).
    batches = [sorted(order[:5]), sorted(order[5:10]), sorted(order[10:])]
    assert batches == [[f"j{n:02d}" for n in range(a, b)] for a, b in ((0, 5), (5, 10), (10, 12))]


def test_paused_starts_hold_new_instances_until_resumed(fake_app: App) -> None:
    order: list[str] = []
    _order_app(fake_app, order)
    fake_app.flow.pause("job", reason="payments outage", by="alice")
    for n in range(3):
        fake_app.start("job", f"j{n}", id=f"j{n}")
    with fake_app.worker(concurrency=2) as worker:
        worker.drain()
        assert order == []
        [pause] = fake_app.flow.list_pauses()
        assert pause["workflow"] == "job" and pause["step"] == "" and pause["held"] == 3
        assert pause["reason"] == "payments outage" and pause["paused_by"] == "alice"
        fake_app.flow.resume("job")
        fake_app.flow.invalidate()
        worker.wake()
        worker.drain()
    assert sorted(order) == ["j0", "j1", "j2"]
    assert fake_app.flow.list_pauses() == []


def test_what_a_pause_holds_back_is_not_due(fake_app: App, clock: FakeClock) -> None:
    _order_app(fake_app, [])
    fake_app.start("job", "held", id="held")
    pairs = fake_app.registry.pairs()
    assert fake_app.store.next_due(pairs) == clock.now()
    assert fake_app.store.next_due(pairs, paused=frozenset({"job"})) is None


@pytest.mark.parametrize("held_back_by", ["pause", "queue limit"])
def test_a_worker_polls_instead_of_spinning_while_instances_are_held_back(
    app: App, held_back_by: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()

    @app.step
    def hold(n: int) -> int:
        release.wait(30)
        return n

    @app.workflow(name="held")
    def held(ctx: Context, n: int) -> int:
        return hold(n)

    looks: list[float | None] = []
    next_due = app.store.next_due

    def next_due_seen(*args: Any) -> float | None:
        looks.append(next_due(*args))
        return looks[-1]

    monkeypatch.setattr(app.store, "next_due", next_due_seen)
    if held_back_by == "pause":
        app.flow.pause("held", reason="vendor outage", by="bob")
    else:
        app.flow.set_queue("default", concurrency=1)
    for n in range(3):
        app.start("held", n, id=f"h{n}")
    with app.worker(concurrency=4, poll_interval=0.05):
        try:
            time.sleep(0.5)
        finally:
            release.set()
    # Spinning made ~1,800 claim passes a second; polling makes one per poll interval.
    assert 0 < len(looks) < 50, len(looks)


@pytest.mark.backends("postgresql")
def test_a_worker_follows_settings_changed_by_another_process_at_once(
    app: App, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Snapshots are trusted for an hour: only the change notification can tell the worker.
    monkeypatch.setattr(_flow, "SETTINGS_TTL", 3600.0)
    monkeypatch.setattr(_flow, "FOLLOWED_TTL", 3600.0)
    order: list[str] = []
    _order_app(app, order)
    operator = daytwo.App(db_url)  # what `daytwo pause` in another process does

    with app.worker(concurrency=1) as worker:
        assert worker._listener is not None
        wait_until(
            lambda: worker._listener is not None and worker._listener.connected,
            timeout=30, interval=0.02, what="the listener to connect",
        )  # fmt: skip
        assert app.flow.settings().paused_starts == frozenset()
        operator.flow.pause("job", reason="vendor outage", by="bob")
        wait_until(
            lambda: "job" in app.flow.settings().paused_starts,
            timeout=30, interval=0.02, what="the worker to see the pause",
        )  # fmt: skip
        app.start("job", "held", id="held")
        worker.drain()
        assert order == []
        operator.flow.resume("job")
        assert app.result("held", timeout=30) == "held"
    operator.close()


def test_a_paused_step_holds_instances_in_a_named_state(fake_app: App) -> None:
    calls: list[str] = []

    @fake_app.step
    def reserve(n: int) -> int:
        calls.append(f"reserve-{n}")
        return n

    @fake_app.step
    def ship(n: int) -> int:
        calls.append(f"ship-{n}")
        return n

    @fake_app.workflow(name="order")
    def order(ctx: Context, n: int) -> int:
        return ship(reserve(n))

    fake_app.flow.pause("order", "ship", reason="carrier down", by="bob")
    fake_app.start("order", 1, id="o1")
    with fake_app.worker(concurrency=2) as worker:
        worker.drain()
        held = fake_app.get("o1")
        assert (held.status, held.state) == ("WAITING", "paused:ship")
        assert calls == ["reserve-1"]
        assert fake_app.flow.list_pauses()[0]["held"] == 1
        assert fake_app.flow.resume("order", "ship") == 1
        worker.wake()
        worker.drain()
    assert fake_app.result("o1", timeout=5) == 1
    assert calls == ["reserve-1", "ship-1"]
    with pytest.raises(daytwo.InvalidInput, match="is not paused"):
        fake_app.flow.resume("order", "ship")


def test_queue_status_shows_backlog_and_limits(fake_app: App, clock: FakeClock) -> None:
    _order_app(fake_app, [])
    fake_app.flow.set_queue("default", concurrency=4, rate_limit=10, rate_period=60)
    fake_app.start("job", "a", id="a")
    clock.advance(30)
    [default] = fake_app.flow.queue_status()
    assert default["name"] == "default" and default["concurrency"] == 4
    assert default["runnable"] == 1 and default["running"] == 0
    assert default["oldest_runnable_seconds"] == pytest.approx(30)


def test_flow_control_from_the_cli(db_url: str) -> None:
    app = App(db_url)
    _order_app(app, [])
    app.start("job", "a", id="a")
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(cli, [*args, "--database", db_url])

    assert run("queues", "set", "default", "--concurrency", "4").exit_code == 0
    listed = json.loads(run("queues", "list", "--json").stdout)
    assert listed[0]["name"] == "default" and listed[0]["concurrency"] == 4
    assert listed[0]["runnable"] == 1
    assert run("pause", "job", "--reason", "outage", "--by", "carol").exit_code == 0
    [held] = json.loads(run("pauses", "--json").stdout)
    assert (held["workflow"], held["held"], held["paused_by"]) == ("job", 1, "carol")
    assert run("resume", "job").exit_code == 0
    refused = run("resume", "job")
    assert refused.exit_code == 2 and "is not paused" in refused.stderr
    # No step of the app calls payments-api (see test_flow_names.py): forced.
    forced = run("dependencies", "set", "payments-api", "--concurrency", "5", "--force")
    assert forced.exit_code == 0
    deps = json.loads(run("dependencies", "list", "--json").stdout)
    assert deps == [{"name": "payments-api", "concurrency": 5, "in_flight": 0}]
    assert run("dependencies", "set", "payments-api", "--unlimited").exit_code == 0
    assert json.loads(run("dependencies", "list", "--json").stdout) == []
    bad = run("queues", "set", "default", "--rate", "5")
    assert bad.exit_code == 2 and "period" in bad.stderr
    app.close()
