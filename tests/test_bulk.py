"""Bulk actions by query: every selection field compiles to the right instances, a dry run
changes nothing, a job acts on each selected instance once (refusing those whose state
changed meanwhile, per instance), paced by its rate on the injected clock, with one audit
row; bad input is refused in one line with nothing changed."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

import daytwo
from daytwo import AuditOutcome, AuditTarget, BulkStatus, OperatorAction, Selection
from daytwo.store import bulk_items, bulk_jobs

T0 = datetime(2026, 1, 1, tzinfo=UTC).timestamp()  # FakeClock's start


def _shop(app: daytwo.App) -> daytwo.App:
    @app.step(dependency="inventory")
    def reserve(n: int) -> int:
        return n

    slow = daytwo.Retry(max_attempts=5, initial_delay=600, max_delay=600)

    @app.step(dependency="payments", retry=slow)
    def charge(n: int) -> int:
        if n % 2:
            raise RuntimeError("card declined")
        return n

    @app.workflow(name="order")
    def order(ctx: daytwo.Context, n: int) -> int:
        reserve(n)
        ctx.wait_for_signal("pay")
        return charge(n)

    @app.workflow(name="refund", version="2")
    def refund(ctx: daytwo.Context, n: int) -> int:
        return n

    return app


@pytest.fixture
def shop(fake_app: daytwo.App, clock: daytwo.FakeClock) -> daytwo.App:
    """o-0..o-3 started 10 s apart (t0, +10, +20, +30); all wait for "pay"; o-1 is then
    paid and retries charge ("card declined", entered at +40), o-2 is paid and succeeds;
    r-0 (refund version 2) succeeded at +30."""
    app = _shop(fake_app)
    for n in range(4):
        app.start("order", n, id=f"o-{n}")
        clock.advance(10)
    app.start("refund", 0, id="r-0")
    with app.worker(concurrency=2, poll_interval=0.05) as worker:
        worker.drain()
        clock.advance(10)
        app.signal("o-1", "pay")
        app.signal("o-2", "pay")
        worker.drain()
    return app


def _ids(app: daytwo.App, **fields: object) -> list[str]:
    preview = app.bulk("cancel", Selection(**fields))  # type: ignore[arg-type]
    assert isinstance(preview, daytwo.BulkPreview)
    assert preview.count == len(preview.first_ids)
    return preview.first_ids


def test_each_selection_field_selects_its_instances(shop: daytwo.App) -> None:
    app = shop
    assert _ids(app, workflow="order") == ["o-0", "o-1", "o-2", "o-3"]
    assert _ids(app, version="2") == ["r-0"]
    assert _ids(app, status="succeeded") == ["o-2", "r-0"]
    assert _ids(app, status=("WAITING", "SUCCEEDED"), workflow="refund") == ["r-0"]
    assert _ids(app, state="pay") == ["o-0", "o-3"]
    assert _ids(app, step="charge") == ["o-1"]  # retrying there
    assert _ids(app, dependency="payments") == ["o-1"]
    assert _ids(app, dependency="inventory") == []  # nobody is at reserve now
    assert _ids(app, started_before=T0 + 10) == ["o-0"]
    assert _ids(app, started_after=T0 + 30) == ["o-3", "r-0"]
    assert _ids(app, started_after=datetime.fromtimestamp(T0 + 20, UTC), workflow="order") == [
        "o-2", "o-3",
    ]  # fmt: skip
    assert _ids(app, entered_after=T0 + 50) == ["o-1", "o-2"]
    assert _ids(app, entered_before=T0 + 50, status="WAITING") == ["o-0", "o-3"]
    assert _ids(app, error="CARD DECLINED") == ["o-1"]  # the pending step's last error
    assert _ids(app, error="50%_off") == []  # LIKE's wildcards are taken literally
    assert _ids(app, all=True) == ["o-0", "o-1", "o-2", "o-3", "r-0"]


def test_a_dry_run_changes_nothing(shop: daytwo.App) -> None:
    before = [(i.id, i.status, i.state) for i in shop.list()]
    preview = shop.bulk("cancel", Selection(status="WAITING"), reason="outage")
    assert isinstance(preview, daytwo.BulkPreview)
    assert preview.count == 3
    assert preview.to_dict()["dry_run"] is True
    assert [(i.id, i.status, i.state) for i in shop.list()] == before
    assert shop.client.audit.list() == []
    with shop.store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(bulk_jobs)).scalar_one() == 0


def _run_job(app: daytwo.App, clock: daytwo.FakeClock, job: daytwo.BulkJob) -> None:
    with app.worker(concurrency=4, poll_interval=0.05) as worker:
        for _ in range(200):
            worker.drain()
            if job.progress().finished:
                break
            clock.advance(1)
        worker.drain()


def test_a_bulk_cancel_acts_on_each_instance_and_writes_one_audit_row(
    shop: daytwo.App, clock: daytwo.FakeClock
) -> None:
    job = shop.bulk("cancel", Selection(status="WAITING"), dry_run=False, reason="outage",
                    by="alice")  # fmt: skip
    assert isinstance(job, daytwo.BulkJob)
    assert job.progress().pending == 3
    [running] = shop.client.audit.list()
    assert (running.action, running.target_kind, running.outcome, running.count) == (
        OperatorAction.BULK, AuditTarget.SELECTION, AuditOutcome.RUNNING, 3,
    )  # fmt: skip
    _run_job(shop, clock, job)
    progress = job.progress()
    assert (progress.status, progress.selected, progress.done, progress.refused) == (
        BulkStatus.DONE, 3, 3, 0,
    )  # fmt: skip
    assert {i.id for i in shop.list(status="CANCELLED")} == {"o-0", "o-1", "o-3"}
    assert shop.get("o-0").cancel_reason == "outage"
    [record] = shop.client.audit.list()  # the job's row, updated; none per instance
    assert (record.id, record.actor, record.outcome, record.detail) == (
        running.id, "alice", AuditOutcome.DONE, "3 done",
    )  # fmt: skip
    assert record.selection == {"status": ["WAITING"]}
    assert shop.get(job.id).status is daytwo.InstanceStatus.SUCCEEDED  # its daytwo.bulk run
    assert [j.id for j in shop.client.bulk_jobs()] == [job.id]


def test_a_bulk_restart_makes_one_linked_instance_each(
    shop: daytwo.App, clock: daytwo.FakeClock
) -> None:
    job = shop.bulk("restart", Selection(status="SUCCEEDED"), dry_run=False)
    assert isinstance(job, daytwo.BulkJob)
    _run_job(shop, clock, job)
    assert job.progress().done == 2
    assert {i.id for i in shop.list()} >= {"o-2-restart-1", "r-0-restart-1"}
    assert [link.describe() for link in shop.get("r-0").links or ()] == [
        "restarted as r-0-restart-1"
    ]
    assert shop.get("r-0-restart-1").version == "2"


def test_an_instance_that_changed_meanwhile_is_refused_not_a_job_error(
    shop: daytwo.App, clock: daytwo.FakeClock
) -> None:
    shop.flow.pause("daytwo.bulk", reason="hold the job", by=None)
    job = shop.bulk("cancel", Selection(status="WAITING"), dry_run=False)
    assert isinstance(job, daytwo.BulkJob)
    shop.cancel("o-3", "by hand")  # before the job reaches it
    with shop.worker(concurrency=1, poll_interval=0.05) as worker:
        worker.drain()  # o-3 ends CANCELLED; the job waits
    assert job.progress().pending == 3
    shop.flow.resume("daytwo.bulk")
    _run_job(shop, clock, job)
    progress = job.progress()
    assert (progress.status, progress.done, progress.refused, progress.failed) == (
        BulkStatus.DONE, 2, 1, 0,
    )  # fmt: skip
    [item] = daytwo._bulk.bulk_items(shop.client, job.id, "refused")
    assert item["instance_id"] == "o-3"
    assert "already ended CANCELLED" in item["detail"]


def test_the_rate_limit_paces_the_job_on_the_injected_clock(
    fake_app: daytwo.App, clock: daytwo.FakeClock
) -> None:
    app = _shop(fake_app)
    app.start_many("refund", list(range(25)), ids=[f"r-{n:02d}" for n in range(25)])
    with app.worker(concurrency=4, poll_interval=0.05) as worker:
        worker.drain()
    job = app.bulk("restart", Selection(workflow="refund"), dry_run=False, rate=4)
    assert isinstance(job, daytwo.BulkJob)
    assert job.progress().batch_size == 4
    _run_job(app, clock, job)
    assert job.progress().done == 25
    with app.store.read() as conn:
        moments = conn.execute(
            sa.select(bulk_items.c.acted_at).where(bulk_items.c.job_id == job.id)
        ).scalars()  # fmt: skip
        per_second = Counter(int(at - T0) for at in moments)
    assert max(per_second.values()) <= 4, per_second
    # 25 at 4 per second: 7 batches, a second apart (the job slept durably between them).
    assert len(per_second) == 7, per_second
    assert app.history(job.id)[1].kind is daytwo.HistoryKind.TIMER


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda app: app.bulk("explode", Selection(status="WAITING")), "unknown bulk action"),
        (lambda app: app.bulk("cancel", Selection()), "an empty selection would select every"),
        (lambda app: app.bulk("cancel", Selection(status="STUCK")), "unknown status 'STUCK'"),
        (
            lambda app: app.bulk(
                "cancel",
                Selection(started_before="yesterday"),  # type: ignore[arg-type]
            ),
            "selection started_before must be a datetime or epoch seconds",
        ),
        (
            lambda app: app.bulk("cancel", Selection(dependency="paymnts")),
            "no step calls dependency 'paymnts'; dependencies the code declares: inventory, "
            "payments",
        ),
        (
            lambda app: app.bulk("cancel", Selection(status="WAITING"), {"result": 1}),
            "bulk instance.cancel does not take 'result'",
        ),
        (
            lambda app: app.bulk("cancel", Selection(status="WAITING"), dry_run=False, rate=0),
            "a bulk rate is instances per second, more than 0",
        ),
        (
            lambda app: app.bulk("cancel", Selection(status="WAITING"), dry_run=False, rate=1e-300),
            "a bulk rate must be at least 0.001 instances per second",
        ),
        (
            lambda app: app.bulk(
                "cancel", Selection(status="WAITING"), dry_run=False, rate=float("inf")
            ),
            "and finite",
        ),
        (
            lambda app: app.bulk("cancel", {"status": "WAITING"}),
            "a bulk action needs a daytwo.Selection",
        ),
    ],
)
def test_bad_input_is_refused_in_one_line_and_changes_nothing(
    shop: daytwo.App, call: object, message: str
) -> None:
    before = [(i.id, i.status) for i in shop.list()]
    with pytest.raises(daytwo.InvalidInput, match=message) as refused:
        call(shop)  # type: ignore[operator]
    assert "\n" not in str(refused.value)
    assert [(i.id, i.status) for i in shop.list()] == before
    assert shop.client.audit.list() == []


def test_selections_leave_out_daytwo_s_own_workflows_unless_named(shop: daytwo.App) -> None:
    shop.flow.pause("daytwo.bulk", reason="hold the job", by=None)
    job = shop.bulk("cancel", Selection(status="WAITING"), dry_run=False)
    assert isinstance(job, daytwo.BulkJob)
    assert shop.get(job.id).status is daytwo.InstanceStatus.RUNNABLE
    assert job.id not in _ids(shop, status="RUNNABLE")
    assert job.id not in _ids(shop, all=True)
    assert _ids(shop, workflow="daytwo.bulk") == [job.id]
    shop.cancel(job.id, "not now")  # stopping a job before it began: cancel its instance
    with shop.worker(concurrency=1, poll_interval=0.05) as worker:
        shop.flow.resume("daytwo.bulk")
        worker.drain()
    progress = job.progress()
    assert (progress.status, progress.pending) == (BulkStatus.STOPPED, 3)


def test_cancelling_a_running_job_stops_it_with_what_it_did(
    shop: daytwo.App, clock: daytwo.FakeClock
) -> None:
    job = shop.bulk("cancel", Selection(status="WAITING"), dry_run=False, rate=1)
    assert isinstance(job, daytwo.BulkJob)
    with shop.worker(concurrency=1, poll_interval=0.05) as worker:
        worker.drain()  # the first batch of one, then the job sleeps a second
        assert job.progress().done == 1
        shop.cancel(job.id, "enough")
        worker.drain()
    progress = job.progress()
    assert (progress.status, progress.done, progress.pending) == (BulkStatus.STOPPED, 1, 2)
    [record] = shop.client.audit.list(action="bulk")
    assert (record.outcome, record.detail) == (AuditOutcome.FAILED, "1 done, 2 pending")


class Courier:
    """The dependency of ``shipment``: down until told otherwise."""

    down = True


def _shipments(app: daytwo.App, courier: Courier) -> None:
    @app.step(retry=daytwo.Retry(max_attempts=1), on_failure=daytwo.FailurePolicy.PARK,
              dependency="courier")  # fmt: skip
    def deliver(n: int) -> int:
        if courier.down:
            raise ConnectionError("courier down")
        return n

    @app.workflow(name="shipment")
    def shipment(ctx: daytwo.Context, n: int) -> int:
        return deliver(n)


def _park(app: daytwo.App, courier: Courier, prefix: str, count: int) -> list[str]:
    courier.down = True
    ids = [f"{prefix}-{n}" for n in range(count)]
    app.start_many("shipment", list(range(count)), ids=ids)
    with app.worker(concurrency=2, poll_interval=0.05) as worker:
        worker.drain()
    assert {app.get(i).status for i in ids} == {daytwo.InstanceStatus.NEEDS_ATTENTION}
    courier.down = False
    return ids


def test_a_bulk_retry_and_a_bulk_skip_act_on_parked_instances(
    fake_app: daytwo.App, clock: daytwo.FakeClock
) -> None:
    courier = Courier()
    _shipments(fake_app, courier)
    parked = _park(fake_app, courier, "s", 4)
    assert _ids(fake_app, status="NEEDS_ATTENTION", error="courier down") == parked
    assert _ids(fake_app, dependency="courier") == parked  # parked at deliver
    retry = fake_app.bulk("retry", Selection(dependency="courier"), dry_run=False)
    assert isinstance(retry, daytwo.BulkJob)
    _run_job(fake_app, clock, retry)
    assert (retry.progress().done, retry.progress().refused) == (4, 0)
    assert {fake_app.get(i).output for i in parked} == {0, 1, 2, 3}

    skipped = _park(fake_app, courier, "t", 3)
    skip = fake_app.bulk("skip", Selection(status="NEEDS_ATTENTION"), {"result": -1},
                         dry_run=False, by="ann")  # fmt: skip
    assert isinstance(skip, daytwo.BulkJob)
    _run_job(fake_app, clock, skip)
    assert skip.progress().done == 3
    assert {fake_app.get(i).output for i in skipped} == {-1}
    [record] = fake_app.client.audit.list(action="bulk", actor="ann")
    assert record.params == {"action": "instance.skip", "result": -1, "rate": 50.0}


def test_a_bulk_skip_needs_a_result_that_serializes(fake_app: daytwo.App) -> None:
    courier = Courier()
    _shipments(fake_app, courier)
    _park(fake_app, courier, "s", 1)
    selection = Selection(status="NEEDS_ATTENTION")
    with pytest.raises(daytwo.InvalidInput, match=r"bulk instance\.skip needs 'result'"):
        fake_app.bulk("skip", selection, dry_run=False)
    with pytest.raises(daytwo.SerializationError) as unstorable:
        fake_app.bulk("skip", selection, {"result": object()}, dry_run=False)
    assert "\n" not in str(unstorable.value)
    assert fake_app.client.bulk_jobs() == []
    assert fake_app.get("s-0").status is daytwo.InstanceStatus.NEEDS_ATTENTION
