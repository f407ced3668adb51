"""Deadlines of whole instances (issue 13, item 5): ``timeout=`` fails an instance still
active at its deadline with ``DeadlineExceeded``, then compensates or parks it by its
failure policy. Time is a FakeClock; the deadline service runs by ``meet_due()`` (a worker
runs one too, on its own thread: which of the two meets a deadline is left open, so the
tests count what was recorded, not which service met it)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

import daytwo
from daytwo import App, DeadlineExceeded, FailurePolicy, FakeClock, InvalidInput, Retry
from daytwo.store import HistoryKind
from daytwo.worker import InstanceDeadlines

DAY = 86400.0


def _order(app: App, undone: list[str], **options: Any) -> None:
    """An order workflow: charge, then wait (how: the input says)."""

    @app.step
    def charge(order_id: str) -> str:
        return f"charge-{order_id}"

    @charge.compensate
    def refund(order_id: str, charge_id: str) -> None:
        undone.append(charge_id)

    @app.step(retry=Retry(max_attempts=5, initial_delay=DAY, backoff=1, max_delay=DAY, jitter=0))
    def ship(order_id: str) -> str:
        raise ConnectionError("carrier down")

    @app.workflow(name="order", timeout=timedelta(days=3), **options)
    def order(ctx: daytwo.Context, how: str) -> Any:
        charge("o-1")
        if how == "timer":
            ctx.sleep(timedelta(days=10))
        elif how == "signal":
            return ctx.wait_for_signal("paid")
        elif how == "task":
            return ctx.human_task("approve", assignee="ops")
        elif how == "retry":
            return ship("o-1")
        return "done"


def _deadline_rows(app: App, instance_id: str) -> list[Any]:
    return [e for e in app.history(instance_id) if e.kind == HistoryKind.DEADLINE]


@pytest.mark.parametrize("how", ["timer", "signal", "task", "retry"])
def test_a_waiting_instance_past_its_deadline_fails_and_compensates(
    fake_app: App, clock: FakeClock, how: str
) -> None:
    undone: list[str] = []
    _order(fake_app, undone)
    started = clock.now()
    fake_app.start("order", how, id="o")
    deadlines = InstanceDeadlines(fake_app.store, clock)
    with fake_app.worker(concurrency=1, poll_interval=0.05) as worker:
        worker.drain()
        assert fake_app.get("o").status == "WAITING"
        deadline = fake_app.get("o").deadline_at
        assert deadline is not None and deadline.timestamp() == pytest.approx(started + 3 * DAY)
        clock.advance(3 * DAY - 1)
        deadlines.meet_due()  # a second early: nothing
        worker.drain()
        assert fake_app.get("o").status == "WAITING"
        clock.advance(1)
        deadlines.meet_due()
        deadlines.meet_due()  # once
        worker.drain()
    ended = fake_app.get("o")
    assert ended.status == "COMPENSATED", ended
    assert undone == ["charge-o-1"]
    assert ended.error is not None and ended.error["type"] == "DeadlineExceeded"
    message = ended.error["message"]
    assert message.startswith("instance exceeded its deadline of 3 d (set by @app.workflow(")
    assert "it started at" in message and "the deadline was" in message
    assert ended.cancel_reason is None and ended.cancel_outcome is None
    (row,) = _deadline_rows(fake_app, "o")
    assert row.seq == 1  # where it was met: after charge, at the wait
    with pytest.raises(DeadlineExceeded, match="exceeded its deadline of 3 d"):
        fake_app.result("o", timeout=1)
    if how == "task":
        (task,) = fake_app.tasks.list(status=None)
        assert task.status == "closed"


def test_under_park_the_deadline_parks_and_an_abort_compensates(
    fake_app: App, clock: FakeClock
) -> None:
    undone: list[str] = []
    _order(fake_app, undone, on_failure=FailurePolicy.PARK)
    fake_app.start("order", "task", id="o")
    deadlines = InstanceDeadlines(fake_app.store, clock)
    with fake_app.worker(concurrency=1, poll_interval=0.05) as worker:
        worker.drain()
        clock.advance(3 * DAY)
        deadlines.meet_due()
        worker.drain()
        parked = fake_app.get("o")
        assert (parked.status, parked.wait_kind) == ("NEEDS_ATTENTION", "deadline")
        assert parked.error is None and undone == []
        assert "deadline passed" in (parked.waiting_for or "")
        explained = fake_app.explain("o")
        assert explained.reasons[0].startswith("deadline passed: the workflow parks on failure")
        assert [a.action for a in explained.actions] == ["instance.resume", "instance.abort",
                                                          "instance.terminate"]  # fmt: skip
        (task,) = fake_app.tasks.list(status=None)
        assert task.status == "closed"  # closed like a cancel closes it
        deadlines.meet_due()  # met once: parked, it is not met again
        with pytest.raises(daytwo.NotRunnable, match="deadline passed"):
            fake_app.skip("o", "null", reason="try")
        fake_app.abort("o", reason="too late, refund", by="ops")
        worker.drain()
    ended = fake_app.get("o")
    assert ended.status == "COMPENSATED"
    assert undone == ["charge-o-1"]
    assert ended.error is not None and ended.error["type"] == "Aborted"
    assert ended.error["failure"].startswith("DeadlineExceeded: instance exceeded its deadline")
    assert len(_deadline_rows(fake_app, "o")) == 1


def test_under_park_a_resume_goes_on_without_the_deadline(fake_app: App, clock: FakeClock) -> None:
    undone: list[str] = []
    _order(fake_app, undone, on_failure="park")
    fake_app.start("order", "signal", id="o")
    deadlines = InstanceDeadlines(fake_app.store, clock)
    with fake_app.worker(concurrency=1, poll_interval=0.05) as worker:
        worker.drain()
        clock.advance(4 * DAY)
        deadlines.meet_due()
        worker.drain()
        assert fake_app.get("o").status == "NEEDS_ATTENTION"
        fake_app.resume("o", reason="customer still wants it", by="ops")
        worker.drain()
        resumed = fake_app.get("o")
        assert (resumed.status, resumed.wait_kind) == ("WAITING", "signal")
        assert resumed.deadline_at is None
        clock.advance(10 * DAY)
        deadlines.meet_due()  # no deadline any more
        fake_app.signal("o", "paid", {"ok": True})
        worker.drain()
    ended = fake_app.get("o")
    assert (ended.status, ended.output) == ("SUCCEEDED", {"ok": True})
    assert undone == []
    kinds = [e.kind for e in fake_app.history("o")]
    assert kinds == ["step", "deadline", "signal"]


def test_a_running_instance_meets_its_deadline_at_its_next_durable_point(
    fake_app: App, clock: FakeClock
) -> None:
    ran: list[str] = []
    deadlines = InstanceDeadlines(fake_app.store, clock)

    @fake_app.step
    def slow() -> str:
        ran.append("slow")
        clock.advance(2 * 3600)  # the step takes two hours
        deadlines.meet_due()  # met while the instance is RUNNING
        return "s"

    @slow.compensate
    def undo_slow(result: str) -> None:
        ran.append("undo")

    @fake_app.step
    def after() -> str:
        ran.append("after")
        return "a"

    @fake_app.workflow(name="long", timeout=3600)
    def long(ctx: daytwo.Context) -> Any:
        slow()
        return after()

    fake_app.start("long", id="l")
    with fake_app.worker(concurrency=1, poll_interval=0.05) as worker:
        worker.drain()
    ended = fake_app.get("l")
    assert ended.status == "COMPENSATED", (ran, ended, fake_app.history("l"))
    assert ran == ["slow", "undo"]  # the next step never started
    assert ended.error is not None and ended.error["type"] == "DeadlineExceeded"
    assert "deadline of 1 h" in ended.error["message"]
    (row,) = _deadline_rows(fake_app, "l")
    assert row.seq == 1


def test_a_start_overrides_the_workflow_timeout(fake_app: App, clock: FakeClock) -> None:
    undone: list[str] = []
    _order(fake_app, undone)
    now = clock.now()
    fake_app.start("order", "timer", id="short", timeout=timedelta(hours=2))
    fake_app.start("order", "timer", id="seconds", timeout=60)
    fake_app.client.start("order", "timer", id="by-client", timeout=timedelta(days=1))
    many = fake_app.start_many("order", ["timer", "timer"], ids=["m1", "m2"], timeout=600)
    assert [h.id for h in many] == ["m1", "m2"]
    fake_app.start("order", "timer", id="default")
    expected = {"short": 7200, "seconds": 60, "by-client": DAY, "m1": 600, "m2": 600,
                "default": 3 * DAY}  # fmt: skip
    for instance_id, seconds in expected.items():
        deadline = fake_app.get(instance_id).deadline_at
        assert deadline is not None and deadline.timestamp() == pytest.approx(now + seconds)
    deadlines = InstanceDeadlines(fake_app.store, clock)
    with fake_app.worker(concurrency=1, poll_interval=0.05) as worker:
        worker.drain()
        clock.advance(7200)
        deadlines.meet_due()
        worker.drain()
    short = fake_app.get("short")
    assert short.status == "COMPENSATED"
    assert short.error is not None
    assert "deadline of 2 h (set by the start's timeout=)" in short.error["message"]
    assert fake_app.get("default").status == "WAITING"


def test_without_a_deadline_nothing_changes(fake_app: App, clock: FakeClock) -> None:
    @fake_app.workflow(name="plain")
    def plain(ctx: daytwo.Context) -> Any:
        ctx.sleep(timedelta(days=30))
        return "slept"

    fake_app.start("plain", id="p")
    deadlines = InstanceDeadlines(fake_app.store, clock)
    with fake_app.worker(concurrency=1, poll_interval=0.05) as worker:
        worker.drain()
        assert fake_app.get("p").deadline_at is None
        clock.advance(29 * DAY)
        deadlines.meet_due()
        clock.advance(DAY)
        worker.drain()
    assert fake_app.get("p").status == "SUCCEEDED"
    assert _deadline_rows(fake_app, "p") == []


def test_an_inline_run_stores_the_deadline_and_a_worker_meets_it(
    fake_app: App, clock: FakeClock
) -> None:
    undone: list[str] = []
    _order(fake_app, undone)
    with pytest.raises(TimeoutError):
        fake_app.run("order", "signal", id="inline", timeout=0.2)
    assert fake_app.get("inline").deadline_at is not None
    clock.advance(3 * DAY)
    assert InstanceDeadlines(fake_app.store, clock).meet_due() == 1  # no worker runs yet
    with fake_app.worker(concurrency=1, poll_interval=0.05) as worker:
        worker.drain()
    assert fake_app.get("inline").status == "COMPENSATED"
    assert undone == ["charge-o-1"]


def test_an_instance_compensating_at_its_deadline_keeps_compensating(
    fake_app: App, clock: FakeClock
) -> None:
    undone: list[float] = []

    @fake_app.step
    def charge() -> str:
        return "c"

    @charge.compensate(
        retry=Retry(max_attempts=3, initial_delay=DAY, backoff=1, max_delay=DAY, jitter=0)
    )
    def refund(charge_id: str) -> None:
        undone.append(clock.now())
        if len(undone) < 2:
            raise ConnectionError("payments down")

    @fake_app.step
    def fail() -> None:
        raise daytwo.Reject("out of stock")

    @fake_app.workflow(name="w", timeout=DAY)
    def w(ctx: daytwo.Context) -> Any:
        charge()
        fail()

    fake_app.start("w", id="w")
    deadlines = InstanceDeadlines(fake_app.store, clock)
    with fake_app.worker(concurrency=1, poll_interval=0.05) as worker:
        worker.drain()
        assert fake_app.get("w").wait_kind == "retry"  # the refund backs off
        clock.advance(DAY)
        deadlines.meet_due()  # compensating already: not met
        worker.drain()
    ended = fake_app.get("w")
    assert ended.status == "COMPENSATED"
    assert ended.error is not None and ended.error["type"] == "StepFailed"
    assert len(undone) == 2 and _deadline_rows(fake_app, "w") == []


@pytest.mark.parametrize(
    "bad", [0, -5, "3d", timedelta(seconds=-1), float("inf"), True, float("nan")]
)
def test_a_bad_timeout_is_refused(fake_app: App, bad: Any) -> None:
    with pytest.raises(InvalidInput, match="timeout"):

        @fake_app.workflow(name="w", timeout=bad)
        def w(ctx: daytwo.Context) -> None:
            return None

    @fake_app.workflow(name="ok")
    def ok(ctx: daytwo.Context) -> None:
        return None

    with pytest.raises(InvalidInput, match=r"timeout=timedelta\(days=3\)"):
        fake_app.start("ok", timeout=bad)
    with pytest.raises(InvalidInput, match="timeout"):
        fake_app.start_many("ok", [None], timeout=bad)
    assert fake_app.list() == []


def test_explain_says_when_the_deadline_is(fake_app: App, clock: FakeClock) -> None:
    undone: list[str] = []
    _order(fake_app, undone)
    fake_app.start("order", "signal", id="o", timeout=timedelta(hours=2))
    with fake_app.worker(concurrency=1, poll_interval=0.05) as worker:
        worker.drain()
        assert any(r.startswith("deadline in 2 h") for r in fake_app.explain("o").reasons)
        clock.advance(3 * 3600)
        (line, *_) = fake_app.explain("o").reasons
        assert line.startswith("deadline passed at") and "1 h ago" in line
        InstanceDeadlines(fake_app.store, clock).meet_due()
        worker.drain()
    reasons = fake_app.explain("o").reasons
    assert reasons[0].startswith("deadline passed: instance exceeded its deadline of 2 h")


def test_the_deadline_writes_an_outbox_event(fake_app: App, clock: FakeClock) -> None:
    from daytwo.store import EventKind, events_after

    undone: list[str] = []
    _order(fake_app, undone)
    fake_app.start("order", "timer", id="o")
    with fake_app.worker(concurrency=1, poll_interval=0.05) as worker:
        worker.drain()
        clock.advance(3 * DAY)
        InstanceDeadlines(fake_app.store, clock).meet_due()
        worker.drain()
    with fake_app.store.read() as conn:
        events = events_after(conn, 0)
    kinds = [event.kind for event in events]
    assert kinds.count(EventKind.INSTANCE_DEADLINE_EXCEEDED) == 1
    (event,) = [e for e in events if e.kind == EventKind.INSTANCE_DEADLINE_EXCEEDED]
    assert event.key == "o" and event.payload["workflow"] == "order"


def test_a_deadline_is_met_once_however_many_services_try(fake_app: App, clock: FakeClock) -> None:
    from daytwo.store import InstanceDeadlines as Queries

    undone: list[str] = []
    _order(fake_app, undone)
    for n in range(3):
        fake_app.start("order", "signal", id=f"o{n}")
    clock.advance(3 * DAY)
    services = [InstanceDeadlines(fake_app.store, clock, batch=2) for _ in range(3)]
    assert [service.meet_due() for service in services] == [3, 0, 0]  # one holds the lease
    queries = Queries(fake_app.store)
    assert queries.due(clock.now()) == []
    assert queries.meet("o0", clock.now()) is False  # the compare-and-set: met already
    with fake_app.worker(concurrency=2, poll_interval=0.05) as worker:
        worker.drain()
    # Still RUNNABLE at their deadline (no worker ran them): nothing to compensate.
    assert {fake_app.get(f"o{n}").status for n in range(3)} == {"FAILED"}
    assert undone == []
    assert all(len(_deadline_rows(fake_app, f"o{n}")) == 1 for n in range(3))


def test_an_instance_held_at_a_paused_step_meets_its_deadline(
    fake_app: App, clock: FakeClock
) -> None:
    undone: list[str] = []
    _order(fake_app, undone)
    fake_app.flow.pause("order", "ship", reason="carrier outage", by="ops")
    fake_app.start("order", "retry", id="o")
    with fake_app.worker(concurrency=1, poll_interval=0.05) as worker:
        worker.drain()
        assert fake_app.get("o").wait_kind == "paused"
        clock.advance(3 * DAY)
        InstanceDeadlines(fake_app.store, clock).meet_due()
        worker.drain()
    ended = fake_app.get("o")
    assert ended.status == "COMPENSATED" and undone == ["charge-o-1"]
    assert ended.error is not None and ended.error["type"] == "DeadlineExceeded"


def test_a_client_without_the_code_starts_with_the_registered_timeout(
    fake_app: App, clock: FakeClock, db_url: str
) -> None:
    undone: list[str] = []
    _order(fake_app, undone)
    with fake_app.worker(concurrency=1, poll_interval=0.05):  # registers the workflow
        client = daytwo.Client(db_url, clock=clock)
        try:
            now = clock.now()
            by_name = client.start("order", "signal", id="by-name")
            given = client.start("order", "signal", id="given", timeout=90)
        finally:
            client.close()
    by_name_at, given_at = by_name.status().deadline_at, given.status().deadline_at
    assert by_name_at is not None and by_name_at.timestamp() == pytest.approx(now + 3 * DAY)
    assert given_at is not None and given_at.timestamp() == pytest.approx(now + 90)


def test_an_inline_run_meets_its_deadline_while_it_sleeps(fake_app: App, clock: FakeClock) -> None:
    undone: list[str] = []

    @fake_app.step
    def book() -> str:
        return "b"

    @book.compensate
    def unbook(booking: str) -> None:
        undone.append(booking)

    @fake_app.workflow(name="sleeper", timeout=30)
    def sleeper(ctx: daytwo.Context) -> None:
        book()
        ctx.sleep(60)  # slept through by app.run: its deadline comes first

    with pytest.raises(DeadlineExceeded, match="deadline of 30 s"):
        fake_app.run("sleeper", id="sleeper")
    assert fake_app.get("sleeper").status == "COMPENSATED"
    assert undone == ["b"]
    assert len(_deadline_rows(fake_app, "sleeper")) == 1
