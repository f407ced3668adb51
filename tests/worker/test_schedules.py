"""Durable schedules (issue 13 item 4): one instance per tick across workers, catch-up
after an outage, overlap, daylight-saving changes in Europe/Zagreb, declarations kept in
the store (changed, orphaned) and refused when they are wrong."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

import daytwo
from daytwo import App, CatchUp, Context, FakeClock, InstanceStatus, Overlap, TickOutcome
from daytwo.store import Cadence, EventKind, events_after, schedule_ticks
from daytwo.worker import Scheduler, Worker, declare_schedules

MINUTE = 60.0
ZAGREB = ZoneInfo("Europe/Zagreb")


def _scheduler(worker: Worker) -> Scheduler:
    [scheduler] = [s for s in worker.services if isinstance(s, Scheduler)]
    return scheduler


def _ids(app: App, workflow: str) -> list[str]:
    return sorted(i.id for i in app.list(workflow=workflow, limit=1000))


def _tick_id(name: str, moment: float) -> str:
    return f"schedule:{name}:{datetime.fromtimestamp(moment, UTC):%Y-%m-%dT%H:%M:%SZ}"


def _every_minute(
    app: App,
    *,
    catch_up: CatchUp | str = CatchUp.ONE,
    max_catch_up: int = 10,
    overlap: Overlap | str = Overlap.SKIP,
) -> None:
    @app.schedule(
        every=timedelta(minutes=1), catch_up=catch_up, max_catch_up=max_catch_up, overlap=overlap
    )
    @app.workflow(name="ping")
    def ping(ctx: Context) -> str:
        return "pong"


@pytest.fixture
def three_apps(db_url: str, clock: FakeClock) -> Iterator[list[App]]:
    """Three apps (three stores, as three processes would have) on one database and one
    fake clock, each with the same minutely schedule."""
    apps = [App(db_url, clock=clock) for _ in range(3)]
    for app in apps:
        _every_minute(app, catch_up=CatchUp.ALL, overlap=Overlap.ALLOW)
    yield apps
    for app in apps:
        app.close()


def test_a_minutely_schedule_starts_exactly_one_instance_per_tick_across_three_workers(
    three_apps: list[App], clock: FakeClock
) -> None:
    start = clock.now()
    workers = [app.worker(concurrency=2) for app in three_apps]
    for worker in workers:
        worker.start()
    try:
        schedulers = [_scheduler(worker) for worker in workers]
        for _ in range(20):
            clock.advance(MINUTE)  # wakes every worker's scheduler thread too
            # ... and each ticks explicitly, at the same time, from threads of its own.
            rounds = [threading.Thread(target=s.tick_due) for s in schedulers]
            for thread in rounds:
                thread.start()
            for thread in rounds:
                thread.join()
        for worker in workers:
            worker.drain()
    finally:
        for worker in workers:
            worker.stop()
    app = three_apps[0]
    expected = sorted(_tick_id("ping", start + MINUTE * k) for k in range(1, 21))
    assert _ids(app, "ping") == expected
    assert {app.get(i).status for i in expected} == {InstanceStatus.SUCCEEDED}
    assert sum(s.started for s in schedulers) == 20
    with app.store.read() as conn:
        outcomes = conn.execute(sa.select(schedule_ticks.c.outcome)).scalars().all()
    assert outcomes == [TickOutcome.STARTED] * 20
    view = app.schedules.get("ping")
    assert view.next_run_at == start + 21 * MINUTE
    assert view.last_instance_id == expected[-1] and view.last_status == "SUCCEEDED"


def _outage(app: App, clock: FakeClock) -> tuple[float, Scheduler]:
    """The schedule ticks once (00:01), then no worker runs for 10 ticks (00:02-00:11):
    the scheduler looks again at 00:11:45."""
    declare_schedules(app.store, clock, app.registry)
    scheduler = Scheduler(app.store, clock)
    start = clock.now()
    clock.advance(MINUTE)
    assert scheduler.tick_due() == 1
    clock.advance(10 * MINUTE + 45)
    return start, scheduler


@pytest.mark.parametrize(
    ("catch_up", "max_catch_up", "started", "missed"),
    [
        (CatchUp.SKIP, 10, [], 10),
        (CatchUp.ONE, 10, [11], 9),
        (CatchUp.ALL, 10, list(range(2, 12)), 0),
        (CatchUp.ALL, 3, [9, 10, 11], 7),
    ],
)
def test_catch_up_after_an_outage_of_ten_ticks(
    fake_app: App,
    clock: FakeClock,
    catch_up: CatchUp,
    max_catch_up: int,
    started: list[int],
    missed: int,
) -> None:
    _every_minute(fake_app, catch_up=catch_up, max_catch_up=max_catch_up, overlap="allow")
    start, scheduler = _outage(fake_app, clock)
    scheduler.tick_due()
    assert _ids(fake_app, "ping") == sorted(
        _tick_id("ping", start + MINUTE * k) for k in [1, *started]
    )
    view = fake_app.schedules.get("ping")
    assert view.next_run_at == start + 12 * MINUTE  # the next future tick
    assert scheduler.tick_due() == 0  # nothing is due twice
    if missed:
        [record] = [t for t in view.ticks if t.outcome is TickOutcome.MISSED]
        assert record.count == missed and record.tick_at == start + 2 * MINUTE
        with fake_app.store.read() as conn:
            [event] = [e for e in events_after(conn, 0, limit=100) if e.kind == "schedule.missed"]
        assert event.payload["count"] == missed
    else:
        assert TickOutcome.MISSED not in {t.outcome for t in view.ticks}
    # Started in tick order: the oldest tick's instance has the smallest id.
    [*_, latest] = _ids(fake_app, "ping")
    assert view.last_instance_id == latest


def test_overlap_skip_starts_nothing_while_the_previous_instance_is_active(
    fake_app: App, clock: FakeClock
) -> None:
    _every_minute(fake_app, overlap=Overlap.SKIP)
    declare_schedules(fake_app.store, clock, fake_app.registry)
    scheduler = Scheduler(fake_app.store, clock)
    start = clock.now()
    clock.advance(MINUTE)
    scheduler.tick_due()  # 00:01 starts; no worker runs it, so it stays active
    clock.advance(MINUTE)
    assert scheduler.tick_due() == 0  # 00:02 is skipped
    first = _tick_id("ping", start + MINUTE)
    assert _ids(fake_app, "ping") == [first]
    skipped = [t for t in fake_app.schedules.get("ping").ticks if t.outcome is TickOutcome.SKIPPED]
    assert len(skipped) == 1 and first in (skipped[0].detail or "")
    with fake_app.store.read() as conn:
        kinds = [e.kind for e in events_after(conn, 0, limit=100)]
    assert kinds == [EventKind.SCHEDULE_SKIPPED]
    with fake_app.worker() as worker:  # the first instance runs and ends
        worker.drain()
    assert fake_app.get(first).status is InstanceStatus.SUCCEEDED
    clock.advance(MINUTE)
    assert scheduler.tick_due() == 1  # 00:03: the previous ended
    assert _ids(fake_app, "ping") == [first, _tick_id("ping", start + 3 * MINUTE)]


def test_overlap_allow_starts_every_tick(fake_app: App, clock: FakeClock) -> None:
    _every_minute(fake_app, overlap=Overlap.ALLOW)
    declare_schedules(fake_app.store, clock, fake_app.registry)
    scheduler = Scheduler(fake_app.store, clock)
    for _ in range(3):
        clock.advance(MINUTE)
        assert scheduler.tick_due() == 1
    assert len(_ids(fake_app, "ping")) == 3


def _runs(app: App, clock: FakeClock, name: str, until: datetime) -> list[datetime]:
    """Tick ``name`` at each of its next runs until ``until``; the local times started."""
    declare_schedules(app.store, clock, app.registry)
    scheduler = Scheduler(app.store, clock)
    while (next_run := app.schedules.get(name).next_run_at) < until.timestamp():
        clock.set(next_run)
        scheduler.tick_due()
    ticks = [daytwo.scheduled_tick(i) for i in _ids(app, "report")]
    return [tick.astimezone(ZAGREB) for tick in ticks if tick is not None]


def _zagreb(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=ZAGREB)


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        pytest.param(
            _zagreb(2026, 3, 28),
            # 02:30 does not exist on 29 March (02:00 -> 03:00): it runs at 03:00 CEST.
            ["2026-03-28T02:30:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"],
            id="spring-forward",
        ),
        pytest.param(
            _zagreb(2026, 10, 24),
            # 02:30 exists twice on 25 October (03:00 -> 02:00): it runs once, the first.
            ["2026-10-24T02:30:00+02:00", "2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"],
            id="fall-back",
        ),
    ],
)
def test_a_daily_0230_run_across_daylight_saving_changes_in_zagreb(
    db_url: str, start: datetime, expected: list[str]
) -> None:
    clock = FakeClock(start.timestamp())
    app = App(db_url, clock=clock)

    @app.schedule("30 2 * * *", timezone="Europe/Zagreb", name="nightly", overlap="allow")
    @app.workflow()
    def report(ctx: Context) -> None:
        return None

    try:
        runs = _runs(app, clock, "nightly", start + timedelta(days=3))
        listed = app.schedules.get("nightly").to_dict()
    finally:
        app.close()
    assert [run.isoformat() for run in runs] == expected
    # The next run, in the schedule's zone and in UTC.
    assert listed["next_run"] == (runs[-1] + timedelta(days=1)).isoformat()
    assert listed["next_run_utc"].endswith("+00:00")


def test_an_hourly_cron_ticks_every_real_hour_across_both_changes() -> None:
    hourly = Cadence("0 * * * *", None, "Europe/Zagreb")
    for day, hours in ((datetime(2026, 3, 29), 23), (datetime(2026, 10, 25), 24 + 1)):
        begin = day.replace(tzinfo=ZAGREB).timestamp()
        end = (day + timedelta(days=1)).replace(tzinfo=ZAGREB).timestamp()
        ticks, count, _ = hourly.due(hourly.next_after(begin - 1), end - 1, 100)
        assert count == hours
        assert all(b - a == 3600 for a, b in itertools.pairwise(ticks))


def test_an_interval_schedule_ticks_in_absolute_time_across_a_change() -> None:
    every = Cadence(None, 3600.0, "Europe/Zagreb")
    begin = datetime(2026, 3, 29, tzinfo=ZAGREB).timestamp()
    ticks, count, _ = every.due(every.next_after(begin - 1), begin + 6 * 3600, 100)
    assert count == 7 and ticks[0] == begin
    assert [datetime.fromtimestamp(t, ZAGREB).hour for t in ticks] == [0, 1, 3, 4, 5, 6, 7]


def test_a_changed_declaration_keeps_the_pause_and_a_dropped_one_is_orphaned(
    db_url: str, clock: FakeClock
) -> None:
    first = App(db_url, clock=clock)
    _every_minute(first)
    declare_schedules(first.store, clock, first.registry)
    first.schedules.pause("ping", reason="vendor down", by="ann")
    second = App(db_url, clock=clock)

    @second.schedule("*/5 * * * *", name="ping")
    @second.workflow(name="ping")
    def ping(ctx: Context) -> str:
        return "pong"

    declare_schedules(second.store, clock, second.registry)
    view = second.schedules.get("ping")
    assert (view.cadence.cron, view.paused, view.paused_by) == ("*/5 * * * *", True, "ann")
    third = App(db_url, clock=clock)

    @third.workflow(name="ping")
    def ping_unscheduled(ctx: Context) -> str:
        return "pong"

    declare_schedules(third.store, clock, third.registry)
    [listed] = third.schedules.list()
    assert listed.orphaned and listed.to_dict()["orphaned"] is True
    second.schedules.resume("ping")
    clock.advance(3600)
    assert Scheduler(third.store, clock).tick_due() == 0  # an orphan does not tick
    for app in (first, second, third):
        app.close()


@pytest.mark.parametrize(
    ("args", "options", "message"),
    [
        (("61 * * * *",), {}, "invalid cron expression '61 * * * *'"),
        (("0 2 * *",), {}, "use five fields"),
        (("0 2 * * *",), {"timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        (("0 2 * * *",), {"every": timedelta(minutes=1)}, "exactly one of"),
        ((), {}, "exactly one of"),
        ((), {"every": timedelta(milliseconds=10)}, "at least one second"),
        ((), {"every": 60}, "must be a datetime.timedelta"),
        ((), {"every": timedelta(minutes=1), "catch_up": "sometimes"}, "catch_up must be"),
        ((), {"every": timedelta(minutes=1), "max_catch_up": 0}, "max_catch_up must be"),
        ((), {"every": timedelta(minutes=1), "input": {"n": 1}}, "takes no input"),
    ],
)
def test_a_bad_declaration_is_refused_at_once(
    args: tuple[str, ...], options: dict[str, Any], message: str
) -> None:
    app = App("sqlite:///:memory:")

    @app.workflow()
    def job(ctx: Context) -> None:
        return None

    with pytest.raises(daytwo.InvalidInput, match=message.replace("*", r"\*")):
        app.schedule(*args, **options)(job)
    assert app.registry.schedules == {}


def test_a_schedule_needs_a_workflow_below_it_or_given() -> None:
    app = App("sqlite:///:memory:")
    with pytest.raises(daytwo.InvalidInput, match=r"put @app\.schedule"):

        @app.schedule(every=timedelta(minutes=1))
        def plain(ctx: Context) -> None:
            return None

    @app.workflow()
    def job(ctx: Context, size: int) -> None:
        return None

    spec = app.schedule(every=timedelta(hours=1), workflow="job", name="hourly-job", input=3)
    assert (spec.name, spec.workflow, spec.input_text) == ("hourly-job", "job", "3")
    with pytest.raises(daytwo.InvalidInput, match="declared twice"):
        app.schedule(every=timedelta(hours=2), workflow=job, name="hourly-job", input=4)
