"""Retention: the service purges exactly the ended instances past their workflow's period, in
batches, with all their rows; archives hold every purged instance; the log, the outbox and
the SLO buckets have periods of their own; one service works per cluster."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import daytwo
from daytwo import Retention
from daytwo.store import (
    ROLLUP_BUCKET,
    EventKind,
    append_event,
    audit_log,
    ensure_subscriber,
    read_archive,
    slo_buckets,
)
from daytwo.store import (
    SubscriberStart as Start,
)
from daytwo.worker import RetentionService

outbox_events = daytwo.store.metadata.tables["outbox_events"]

DAY = 86400.0
#: The tables an instance's rows live in besides ``instances`` (those this test fills).
OWNED = ("history", "step_attempts", "transitions", "signals", "human_tasks")


def declare(app: daytwo.App, periods: bool = True) -> None:
    """``orders`` (kept a day) retries a step, takes a signal and a task; ``invoices`` keeps
    the app's default; ``notes`` is declared with no period in an app without one."""
    tries: dict[str, int] = {}

    @app.step(retry=daytwo.Retry(max_attempts=2, initial_delay=0, jitter=0))
    def flaky(key: str) -> str:
        tries[key] = tries.get(key, 0) + 1
        if tries[key] == 1:
            raise RuntimeError("first try fails")
        return key

    @app.workflow(retention=timedelta(days=1) if periods else None)
    def orders(ctx: daytwo.Context, n: int) -> int:
        flaky(ctx.instance_id)
        ctx.wait_for_signal("go")
        ctx.human_task("approve", assignee="bob")
        return n

    @app.workflow()
    def invoices(ctx: daytwo.Context, n: int) -> int:
        return n


def ended(app: daytwo.App, workflow: str, ids: list[str], signals: bool = False) -> None:
    """Run instances to their end now, by a worker of an app without retention (the
    app's own workers would purge as they go)."""
    runner = daytwo.App(app.database_url, clock=app.clock)
    declare(runner, periods=False)
    for key in ids:
        runner.start(workflow, 1, id=key)
        if signals:
            runner.signal(key, "go", 1)
            runner.signal(key, "approve", True)
    with runner.worker(concurrency=4) as worker:
        worker.drain()
    for key in ids:
        assert runner.get(key).status == "SUCCEEDED", runner.get(key)
    runner.close()


def rows_of(app: daytwo.App, ids: list[str]) -> dict[str, int]:
    counts = {}
    with app.store.read() as conn:
        for name in ("instances", *OWNED):
            table = daytwo.store.metadata.tables[name]
            column = table.c.id if name == "instances" else table.c.instance_id
            counts[name] = conn.execute(
                sa.select(sa.func.count()).select_from(table).where(column.in_(ids))
            ).scalar_one()
    return counts


@pytest.fixture
def kept(db_url: str, clock: daytwo.FakeClock, tmp_path: Path) -> Iterator[daytwo.App]:
    application = daytwo.App(
        db_url,
        clock=clock,
        retention=Retention(
            instances=timedelta(days=30), archive_dir=tmp_path / "archive", batch=2
        ),
    )
    declare(application)
    yield application
    application.close()


def service_of(app: daytwo.App) -> RetentionService:
    [service] = [s for s in app.worker().services if isinstance(s, RetentionService)]
    return service


def test_the_service_purges_exactly_the_ended_instances_past_their_period(
    kept: daytwo.App, clock: daytwo.FakeClock, tmp_path: Path
) -> None:
    # Active instances, in a queue no worker serves: one started long ago, one recently.
    kept.start("orders", 1, id="ancient-active", queue="unserved")
    old = [f"old-{i}" for i in range(5)]
    ended(kept, "orders", old, signals=True)
    clock.advance(2 * DAY)
    recent = ["recent-0", "recent-1"]
    ended(kept, "orders", recent, signals=True)
    ended(kept, "invoices", ["invoice-0"])
    kept.start("orders", 1, id="active-0", queue="unserved")
    clock.advance(3600)
    before = rows_of(kept, old)
    assert all(before[name] for name in ("instances", *OWNED)), before

    service = service_of(kept)
    # daytwo.bulk, the system workflow of bulk actions every App has, follows the default.
    assert service.periods == {"orders": DAY, "invoices": 30 * DAY, "daytwo.bulk": 30 * DAY}
    service.run_once()

    assert service.deleted == 5
    assert rows_of(kept, old) == dict.fromkeys(("instances", *OWNED), 0)
    survivors = [*recent, "invoice-0", "active-0", "ancient-active"]
    assert rows_of(kept, survivors)["instances"] == len(survivors)
    assert all(rows_of(kept, recent).values())  # with all their rows
    # In batches of two, one audit row counting them all.
    archives = sorted((tmp_path / "archive").glob("*.jsonl.gz"))
    assert len(archives) == 3
    [entry] = kept.client.audit.list(action="purge")
    assert (entry.actor, entry.target, entry.count, str(entry.outcome)) == (
        "daytwo:retention", "orders", 5, "done",
    )  # fmt: skip
    # Archives hold every purged instance with its rows, readable back.
    records = list(read_archive(tmp_path / "archive"))
    assert sorted(r["instance"]["id"] for r in records) == old
    for record in records:
        for name in OWNED:
            assert record[name], (name, record["instance"]["id"])
        assert record["instance"]["status"] == "SUCCEEDED"
    service.run_once()
    assert service.deleted == 5  # nothing more is due


def test_a_dry_run_changes_nothing_and_a_purge_is_audited(
    kept: daytwo.App, clock: daytwo.FakeClock
) -> None:
    ended(kept, "invoices", ["a", "b", "c"])
    kept.start("invoices", 1, id="live")
    clock.advance(DAY)
    report = kept.purge("1h")
    assert (report.dry_run, report.count, report.deleted) == (True, 3, 0)
    assert report.selected[0].workflow == "invoices"
    assert rows_of(kept, ["a", "b", "c"])["instances"] == 3
    assert kept.client.audit.list() == []
    done = kept.purge("1h", dry_run=False, workflow="invoices", reason="gdpr", by="ann", batch=2)
    assert done.deleted == 3
    assert rows_of(kept, ["a", "b", "c", "live"])["instances"] == 1
    [entry] = kept.client.audit.list()
    assert (entry.actor, entry.reason, entry.count, entry.target_kind) == (
        "ann", "gdpr", 3, daytwo.AuditTarget.WORKFLOW,
    )  # fmt: skip
    assert entry.selection is not None and entry.selection["workflow"] == "invoices"


@pytest.mark.parametrize(
    ("before", "message"),
    [
        ("tomorrow", "is not a time ago"),
        ("2999-01-01", "is in the future"),
        (object(), "must be a moment"),
    ],
)
def test_a_purge_refuses_bad_moments_in_one_line(
    kept: daytwo.App, before: Any, message: str
) -> None:
    with pytest.raises(daytwo.InvalidInput, match=message) as caught:
        kept.purge(before, dry_run=False)
    assert "\n" not in str(caught.value)
    [entry] = kept.client.audit.list()
    assert entry.outcome == daytwo.AuditOutcome.REFUSED


def test_a_purge_refuses_an_unknown_workflow_unless_forced(kept: daytwo.App) -> None:
    with pytest.raises(daytwo.InvalidInput, match="no workflow named 'nope'"):
        kept.purge("1d", workflow="nope")
    assert kept.purge("1d", workflow="nope", force=True).count == 0


def test_bad_retention_settings_are_refused() -> None:
    with pytest.raises(daytwo.InvalidInput, match="positive timedelta"):
        Retention(instances=timedelta(0))
    with pytest.raises(daytwo.InvalidInput, match="at least 32 days"):
        Retention(slo_buckets=timedelta(days=7))
    with pytest.raises(daytwo.InvalidInput, match="batch"):
        Retention(batch=0)
    app = daytwo.App("sqlite:///unused.db")
    with pytest.raises(daytwo.InvalidInput, match="workflow retention"):
        app.workflow(retention=timedelta(days=-1))


def test_one_retention_service_works_per_cluster(db_url: str, clock: daytwo.FakeClock) -> None:
    first = daytwo.App(db_url, clock=clock, retention=timedelta(days=1))
    second = daytwo.App(db_url, clock=clock, retention=timedelta(days=1))
    for application in (first, second):
        declare(application)
    ended(first, "invoices", ["a", "b"])
    clock.advance(2 * DAY)
    one, other = service_of(first), service_of(second)
    one.run_once()
    other.run_once()
    assert (one.rounds, other.rounds) == (1, 0)  # the other found the lease held
    ended(first, "invoices", ["c"])
    clock.advance(2 * DAY)
    one.close()  # a stopping worker gives the lease up
    other.run_once()
    assert (one.deleted, other.deleted) == (2, 1)
    first.close()
    second.close()


def test_the_audit_log_and_the_outbox_follow_their_own_periods(
    db_url: str, clock: daytwo.FakeClock
) -> None:
    app = daytwo.App(
        db_url, clock=clock, retention=Retention(audit=timedelta(days=10), outbox=timedelta(days=1))
    )
    declare(app)
    with app.store.write() as conn:
        ensure_subscriber(conn, "slow", clock.now(), Start.BEGINNING)
        seqs = [
            append_event(conn, EventKind.INSTANCE_ENDED_BADLY, f"i{n}", {}, clock.now())
            for n in range(4)
        ]
    app.purge("0s", dry_run=False, reason="an old action")
    clock.advance(20 * DAY)
    app.purge("0s", dry_run=False, reason="a recent action")
    with app.store.write() as conn:  # the subscriber has handled the first two events
        conn.execute(
            daytwo.store.metadata.tables["outbox_subscribers"].update().values(position=seqs[1])
        )
    service_of(app).run_once()
    with app.store.read() as conn:
        kept_events = list(conn.execute(sa.select(outbox_events.c.seq)).scalars())
        reasons = list(conn.execute(sa.select(audit_log.c.reason)).scalars())
    assert kept_events == seqs[2:]  # never one a subscriber has not handled
    assert reasons == ["a recent action"]
    app.close()


def test_old_slo_buckets_fold_into_all_time_totals(db_url: str, clock: daytwo.FakeClock) -> None:
    app = daytwo.App(db_url, clock=clock, retention=Retention(slo_buckets=timedelta(days=40)))
    declare(app)
    ended(app, "invoices", ["a", "b"])
    clock.advance(50 * DAY)
    ended(app, "invoices", ["c"])

    def hour_sums() -> tuple[int, dict[float, int]]:
        with app.store.read() as conn:
            rows = conn.execute(
                sa.select(slo_buckets.c.bucket_start, slo_buckets.c.events).where(
                    slo_buckets.c.resolution == 3600
                )
            ).all()
        starts: dict[float, int] = {}
        for start, events in rows:
            starts[start] = starts.get(start, 0) + events
        return sum(starts.values()), starts

    total, starts = hour_sums()
    assert len(starts) == 2
    service_of(app).run_once()
    after, starts_after = hour_sums()
    assert after == total  # the /metrics counters do not go down
    assert ROLLUP_BUCKET in starts_after and len(starts_after) == 2
    assert starts_after[ROLLUP_BUCKET] == starts[min(starts)]
    app.close()


def test_a_purge_batch_reads_the_ended_index(tmp_path: Path) -> None:
    app = daytwo.App(f"sqlite:///{tmp_path / 'plan.db'}")
    app.list(limit=1)
    with app.store.read() as conn:
        query = conn.connection.driver_connection
        assert query is not None
        plan = " ".join(
            str(row)
            for row in query.execute(
                "EXPLAIN QUERY PLAN SELECT id FROM instances WHERE workflow = 'w' AND "
                "finished_at IS NOT NULL AND finished_at < 1 ORDER BY finished_at, id LIMIT 10"
            )
        )
    assert "ix_instances_ended" in plan
    app.close()


def test_a_purge_takes_the_task_events_and_links_of_an_instance(
    kept: daytwo.App, clock: daytwo.FakeClock
) -> None:
    """Rows other tables keep per instance go with it: its tasks' events (which reference
    the tasks, so they go first) and its own links; a newer instance's link to it stays."""
    ended(kept, "orders", ["old"], signals=True)
    restarted = kept.client.restart("old", new_id="new", reason="again", by="ann")
    events = daytwo.store.metadata.tables["task_events"]
    links = daytwo.store.metadata.tables["instance_links"]
    with kept.store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one() > 0
    clock.advance(2 * DAY)
    done = kept.purge("1d", dry_run=False, workflow="orders")
    assert done.deleted == 1 and restarted.id == "new"
    with kept.store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one() == 0
        kept_links = conn.execute(sa.select(links.c.instance_id, links.c.linked_id)).all()
    assert [tuple(row) for row in kept_links] == [("new", "old")]
