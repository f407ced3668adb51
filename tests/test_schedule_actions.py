"""Operators and schedules (``client.schedules``): pause, resume and trigger, each audited
done or refused; the refusals name the problem; a Client without the code acts the same;
a worker's scheduler wakes on the clock's advance, and sleeps until the next tick."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

import daytwo
from daytwo import App, AuditOutcome, Client, Context, FakeClock, OperatorAction, TickOutcome
from daytwo.worker import Scheduler, declare_schedules
from daytwo.worker._scheduler import IDLE_SECONDS

MINUTE = 60.0


def _nightly(app: App) -> None:
    @app.schedule("0 2 * * *", timezone="Europe/Zagreb", name="nightly", input={"full": True})
    @app.workflow(name="report")
    def report(ctx: Context, options: dict[str, bool]) -> bool:
        return options["full"]


def test_pause_resume_and_trigger_are_audited(fake_app: App, clock: FakeClock) -> None:
    _nightly(fake_app)
    declare_schedules(fake_app.store, clock, fake_app.registry)
    scheduler = Scheduler(fake_app.store, clock)
    paused = fake_app.schedules.pause("nightly", reason="warehouse migration", by="ann")
    assert (paused.paused, paused.paused_by, paused.paused_reason) == (
        True,
        "ann",
        "warehouse migration",
    )
    clock.advance(3 * 86400)
    assert scheduler.tick_due() == 0  # paused: nothing starts
    # A trigger starts one now, paused or not; the same key starts nothing more.
    handle = fake_app.schedules.trigger("nightly", reason="rerun", by="bob", key="rerun-1")
    assert (handle.id, handle.created) == ("schedule:nightly:trigger:rerun-1", True)
    again = fake_app.schedules.trigger("nightly", key="rerun-1")
    assert (again.id, again.created) == (handle.id, False)
    assert fake_app.get(handle.id).workflow == "report"
    resumed = fake_app.schedules.resume("nightly", reason="done", by="ann")
    assert not resumed.paused
    # The ticks of the pause are not caught up: the next one is after the resume.
    assert resumed.next_run_at > clock.now()
    assert scheduler.tick_due() == 0
    with fake_app.worker() as worker:
        worker.drain()
    assert handle.result(timeout=5) is True
    view = fake_app.schedules.get("nightly")
    assert (view.last_instance_id, view.last_status) == (handle.id, "SUCCEEDED")
    assert [t.outcome for t in view.ticks] == [TickOutcome.TRIGGERED]
    records = fake_app.client.audit.list(action="schedule")
    assert [(r.action, r.actor, r.reason, r.outcome) for r in reversed(records)] == [
        (OperatorAction.SCHEDULE_PAUSE, "ann", "warehouse migration", AuditOutcome.DONE),
        (OperatorAction.SCHEDULE_TRIGGER, "bob", "rerun", AuditOutcome.DONE),
        (OperatorAction.SCHEDULE_TRIGGER, records[1].actor, None, AuditOutcome.DONE),
        (OperatorAction.SCHEDULE_RESUME, "ann", "done", AuditOutcome.DONE),
    ]
    assert records[2].params == {"instance_id": handle.id, "created": True}
    assert records[1].params == {"instance_id": handle.id, "created": False}


def test_refusals_are_audited_and_change_nothing(fake_app: App, clock: FakeClock) -> None:
    _nightly(fake_app)
    declare_schedules(fake_app.store, clock, fake_app.registry)
    fake_app.schedules.pause("nightly", by="ann")
    with pytest.raises(daytwo.NotRunnable, match=r"already paused .* resume nightly"):
        fake_app.schedules.pause("nightly", by="bob")
    assert fake_app.schedules.get("nightly").paused_by == "ann"
    fake_app.schedules.resume("nightly")
    with pytest.raises(daytwo.NotRunnable, match="is not paused"):
        fake_app.schedules.resume("nightly", by="bob")
    with pytest.raises(daytwo.ScheduleNotFound, match="known schedules: nightly"):
        fake_app.schedules.trigger("nighty", by="bob")
    with pytest.raises(daytwo.ScheduleNotFound):
        fake_app.schedules.get("nighty")
    with pytest.raises(daytwo.InvalidInput, match="trigger key"):
        fake_app.schedules.trigger("nightly", key="two words")
    refused = fake_app.client.audit.list(outcome="refused")
    assert [(r.action, r.target) for r in reversed(refused)] == [
        (OperatorAction.SCHEDULE_PAUSE, "nightly"),
        (OperatorAction.SCHEDULE_RESUME, "nightly"),
        (OperatorAction.SCHEDULE_TRIGGER, "nighty"),
        (OperatorAction.SCHEDULE_TRIGGER, "nightly"),
    ]
    assert fake_app.list(workflow="report") == []


def test_a_client_without_the_code_lists_and_triggers(db_url: str, clock: FakeClock) -> None:
    app = App(db_url, clock=clock)
    _nightly(app)
    declare_schedules(app.store, clock, app.registry)
    client = Client(db_url, clock=clock)
    try:
        [listed] = client.schedules.list()
        shown = listed.to_dict()
        # 2026-01-01 00:00 UTC is 01:00 in Zagreb: the next run is 02:00 there, 01:00 UTC.
        assert shown["next_run"] == "2026-01-01T02:00:00+01:00"
        assert shown["next_run_utc"] == "2026-01-01T01:00:00+00:00"
        assert shown["input"] == {"full": True} and shown["paused"] is False
        handle = client.schedules.trigger("nightly", key="from-ops")
        assert client.get(handle.id).status is daytwo.InstanceStatus.RUNNABLE
    finally:
        client.close()
        app.close()


def test_the_worker_scheduler_wakes_on_the_clock_and_sleeps_until_the_next_tick(
    fake_app: App, clock: FakeClock
) -> None:
    @fake_app.schedule(every=timedelta(minutes=1))
    @fake_app.workflow()
    def ping(ctx: Context) -> None:
        return None

    with fake_app.worker() as worker:
        clock.advance(MINUTE)  # no explicit tick: the worker's own scheduler thread wakes
        deadline = time.monotonic() + 30
        while not fake_app.list(workflow="ping") and time.monotonic() < deadline:
            time.sleep(0.01)
        worker.drain()
    assert [i.id for i in fake_app.list(workflow="ping")] == ["schedule:ping:2026-01-01T00:01:00Z"]
    # A fake clock's scheduler waits for advances; a real one until the next tick.
    assert Scheduler(fake_app.store, clock).interval == IDLE_SECONDS
    real = Scheduler(fake_app.store, daytwo.SystemClock())
    real.tick_due()
    assert 0 < real.interval <= IDLE_SECONDS
