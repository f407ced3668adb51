"""The durable outbox: append in the writer's transaction, read in order, stored positions,
and the events the engine writes when an instance ends badly (both backends)."""

from __future__ import annotations

import random
import threading
import time
from contextlib import nullcontext
from typing import Any

import pytest
import sqlalchemy as sa

import daytwo
from daytwo.store import (
    EventKind,
    SubscriberStart,
    advance_position,
    append_event,
    ensure_subscriber,
    events_after,
    last_event_seq,
    record_delivery_failure,
    subscriber_position,
)

FIRED, RESOLVED, ENDED = (
    EventKind.ALERT_FIRED,
    EventKind.ALERT_RESOLVED,
    EventKind.INSTANCE_ENDED_BADLY,
)


def _append(app: daytwo.App, kind: EventKind, key: str, **payload: Any) -> int:
    with app.store.write() as conn:
        return append_event(conn, kind, key, payload, app.clock.now())


def test_events_are_read_in_append_order_by_kind_and_after_a_position(
    fake_app: daytwo.App,
) -> None:
    seqs = [
        _append(fake_app, FIRED, "slo/a/page", n=1),
        _append(fake_app, ENDED, "order-1", n=2),
        _append(fake_app, RESOLVED, "slo/a/page", n=3),
        _append(fake_app, FIRED, "slo/b/ticket", n=4),
    ]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4
    with fake_app.store.read() as conn:
        every = events_after(conn, 0)
        alerts = events_after(conn, 0, [FIRED, RESOLVED])
        after_second = events_after(conn, seqs[1], limit=1)
        assert last_event_seq(conn) == seqs[-1]
    assert [e.payload["n"] for e in every] == [1, 2, 3, 4]
    assert [(e.kind, e.key) for e in alerts] == [
        (FIRED, "slo/a/page"), (RESOLVED, "slo/a/page"), (FIRED, "slo/b/ticket")
    ]  # fmt: skip
    assert [e.seq for e in after_second] == [seqs[2]]
    assert isinstance(every[0].kind, EventKind) and every[0].created_at == fake_app.clock.now()


def test_an_event_rolls_back_with_its_transaction(fake_app: daytwo.App) -> None:
    kept = _append(fake_app, FIRED, "kept")
    with pytest.raises(RuntimeError), fake_app.store.write() as conn:
        append_event(conn, FIRED, "lost", {}, 0.0)
        raise RuntimeError("the change fails")
    after = _append(fake_app, FIRED, "after")
    with fake_app.store.read() as conn:
        assert [e.key for e in events_after(conn, 0)] == ["kept", "after"]
    assert after > kept


def test_sequence_numbers_are_never_reused_after_the_newest_is_deleted(
    fake_app: daytwo.App,
) -> None:
    """A subscriber past a deleted event must not have a new one hide behind its position."""
    from daytwo.store._schema import outbox_events

    first = _append(fake_app, FIRED, "x")
    with fake_app.store.write() as conn:
        conn.execute(outbox_events.delete())
    assert _append(fake_app, FIRED, "y") > first


def test_subscriber_positions_start_where_asked_and_move_by_compare_and_set(
    fake_app: daytwo.App,
) -> None:
    now = fake_app.clock.now()
    first = _append(fake_app, FIRED, "old")
    with fake_app.store.write() as conn:
        assert ensure_subscriber(conn, "everything", now).position == 0
        late = ensure_subscriber(conn, "from-now", now, SubscriberStart.END)
        assert late.position == first
        # Registering again changes nothing.
        assert ensure_subscriber(conn, "from-now", now).position == first
        assert subscriber_position(conn, "unknown") is None
        assert record_delivery_failure(conn, "everything", 0, 1, now + 1, "down", now)
        failing = subscriber_position(conn, "everything")
        assert failing is not None
        assert (failing.attempts, failing.next_attempt_at, failing.last_error) == (
            1,
            now + 1,
            "down",
        )
        assert not advance_position(conn, "everything", 5, first, now)  # stale expectation
        assert advance_position(conn, "everything", 0, first, now)
        moved = subscriber_position(conn, "everything")
        assert moved is not None
        assert (moved.position, moved.attempts, moved.next_attempt_at, moved.last_error) == (
            first, 0, None, None
        )  # fmt: skip
        assert not record_delivery_failure(conn, "everything", 0, 2, now, "stale", now)


def test_a_subscriber_registered_before_an_append_in_one_transaction_gets_it(
    fake_app: daytwo.App,
) -> None:
    _append(fake_app, FIRED, "before")
    with fake_app.store.write() as conn:
        ensure_subscriber(conn, "webhook", 0.0, SubscriberStart.END)
        append_event(conn, FIRED, "with-it", {}, 0.0)
    with fake_app.store.read() as conn:
        position = subscriber_position(conn, "webhook")
        assert position is not None
        assert [e.key for e in events_after(conn, position.position)] == ["with-it"]


# -- the engine's events ----------------------------------------------------------------


def _ended_badly(app: daytwo.App) -> dict[str, dict[str, Any]]:
    with app.store.read() as conn:
        events = events_after(conn, 0, [ENDED])
    assert all(e.key == e.payload["instance_id"] for e in events)
    return {e.key: e.payload for e in events}


def _register_endings(app: daytwo.App) -> None:
    @app.step()
    def book(x: int) -> int:
        return x

    @book.compensate
    def unbook(x: int, _: int) -> None:
        return None

    @app.step(retry=daytwo.Retry(max_attempts=1))
    def explode(x: int) -> int:
        raise ValueError(f"boom {x}")

    @app.workflow(name="ends")
    def ends(ctx: daytwo.Context, how: str) -> str:
        if how == "fail":
            explode(1)
        if how == "compensate":
            book(1)
            raise daytwo.Reject("no stock")
        if how == "wait":
            ctx.wait_for_signal("go")
        return "ok"


def test_an_instance_that_ends_badly_writes_an_event_with_its_end(app: daytwo.App) -> None:
    """Inline runs (PostgreSQL: off the one-statement path) and worker runs (group commit)."""
    _register_endings(app)
    for how in ("ok", "fail", "compensate"):
        with pytest.raises(daytwo.WorkflowFailed) if how != "ok" else nullcontext():
            app.run("ends", how, id=f"inline-{how}")
    for how in ("ok", "fail", "compensate"):
        app.start("ends", how, id=f"worker-{how}")
    app.start("ends", "wait", id="cancelled")
    app.cancel("cancelled", reason="changed my mind")
    with app.worker(concurrency=4) as worker:
        worker.drain(timeout=60)
    events = _ended_badly(app)
    assert sorted(events) == ["inline-compensate", "inline-fail", "worker-compensate",
                              "worker-fail"]  # fmt: skip
    for source in ("inline", "worker"):
        failed, compensated = events[f"{source}-fail"], events[f"{source}-compensate"]
        assert failed["status"] == "FAILED" and compensated["status"] == "COMPENSATED"
        assert failed["workflow"] == "ends" and failed["error"]["type"] == "StepFailed"
        assert "boom" in failed["error"]["message"] and "traceback" not in failed["error"]
        instance = app.get(f"{source}-fail")
        assert instance.finished_at is not None
        assert failed["finished_at"] == pytest.approx(instance.finished_at.timestamp(), abs=1e-5)
    assert app.get("cancelled").status == "CANCELLED"  # cancelled: not "ended badly"


def test_a_group_commit_writes_one_event_per_bad_end_and_none_for_successes(
    app: daytwo.App,
) -> None:
    _register_endings(app)
    hows = ["ok", "fail", "compensate"] * 12
    for n, how in enumerate(hows):
        app.start("ends", how, id=f"i{n}-{how}")
    with app.worker(concurrency=16) as worker:
        worker.drain(timeout=120)
    assert sorted(_ended_badly(app)) == sorted(
        f"i{n}-{how}" for n, how in enumerate(hows) if how != "ok"
    )


# -- ordering under concurrent appenders ------------------------------------------------


def test_concurrent_appenders_never_make_a_reader_skip_an_event(app: daytwo.App) -> None:
    """Writers keep their transaction open for a while after appending (the pitfall: a
    lower seq committing after a higher one); a reader that moves its position to the
    highest seq it saw still sees every event exactly once."""
    writers, per_writer = 6, 15
    stop = threading.Event()
    seen: list[int] = []
    errors: list[BaseException] = []

    def write(index: int) -> None:
        rng = random.Random(index)
        try:
            for n in range(per_writer):
                with app.store.write() as conn:
                    append_event(conn, FIRED, f"w{index}-{n}", {"w": index}, 0.0)
                    time.sleep(rng.uniform(0, 0.01))  # commit comes a while after the number
                    if rng.random() < 0.1:
                        raise _RolledBack()
        except _RolledBack:
            pass
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def read() -> None:
        position = 0
        while True:
            done = stop.is_set()
            with app.store.read() as conn:
                events = events_after(conn, position, limit=7)
            for event in events:
                seen.append(event.seq)
                position = event.seq
            if done and not events:
                return

    reader = threading.Thread(target=read)
    reader.start()
    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    reader.join()
    assert not errors
    with app.store.read() as conn:
        committed = [e.seq for e in events_after(conn, 0, limit=10_000)]
    assert seen == committed  # nothing skipped, nothing twice, in order
    assert len(committed) > writers  # the writers did append


class _RolledBack(Exception):
    pass


@pytest.mark.backends("postgresql")  # SQLite has a single writer anyway
def test_appends_on_postgresql_are_serialised_to_commit(app: daytwo.App) -> None:
    """While one transaction holds an appended event, another append waits for its commit."""
    order: list[str] = []
    appended = threading.Event()

    def slow() -> None:
        with app.store.write() as conn:
            append_event(conn, FIRED, "slow", {}, 0.0)
            appended.set()
            time.sleep(0.3)
            order.append("slow commits")

    thread = threading.Thread(target=slow)
    thread.start()
    assert appended.wait(10)
    with app.store.write() as conn:
        append_event(conn, FIRED, "fast", {}, 0.0)
        order.append("fast appended")
    thread.join()
    assert order == ["slow commits", "fast appended"]
    with app.store.read() as conn:
        assert [e.key for e in events_after(conn, 0)] == ["slow", "fast"]


def test_migration_0008_makes_the_outbox_tables(app: daytwo.App) -> None:
    """The outbox tables exist with their index (made by migration 0008)."""
    inspector = sa.inspect(app.store.engine)
    assert {"outbox_events", "outbox_subscribers"} <= set(inspector.get_table_names())
    indexes = {ix["name"] for ix in inspector.get_indexes("outbox_events")}
    assert "ix_outbox_events_kind_seq" in indexes
