"""Signals and human tasks: one signal per wait, one completion per task, no task left open
by an ended instance (issue 9: 26, 27, 35)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

import daytwo
from daytwo import App, TaskStatus
from daytwo.store._migrate import alembic_config
from daytwo.store._schema import human_tasks, instances, signals


def _unconsumed(app: App, instance_id: str) -> int:
    with app.store.read() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(signals)
                .where(signals.c.instance_id == instance_id, signals.c.consumed_seq.is_(None))
            ).scalar_one()
        )


# -- item 26: a signal answers one wait -----------------------------------------------------


def test_two_waits_for_one_signal_name_take_two_signals(app: App) -> None:
    @app.workflow(name="two-approvals")
    def two_approvals(ctx: daytwo.Context) -> list[Any]:
        return [ctx.wait_for_signal("approval"), ctx.wait_for_signal("approval")]

    app.start("two-approvals", id="early")
    app.signal("early", "approval", "alice", sent_by="alice")
    app.signal("early", "approval", "bob", sent_by="bob")
    app.start("two-approvals", id="one")
    app.signal("one", "approval", "alice")
    with app.worker(concurrency=2, poll_interval=0.05) as worker:
        assert app.result("early", timeout=20) == ["alice", "bob"]
        assert _unconsumed(app, "early") == 0
        worker.drain()
        waiting = app.get("one")  # one signal answered the first wait only
        assert (waiting.status, waiting.wait_kind, waiting.wait_name) == (
            "WAITING", "signal", "approval",
        )  # fmt: skip
        app.signal("one", "approval", "bob")
        assert app.result("one", timeout=20) == ["alice", "bob"]


def test_two_human_tasks_of_one_name_need_two_completions(app: App) -> None:
    @app.workflow(name="four-eyes")
    def four_eyes(ctx: daytwo.Context) -> list[Any]:
        return [ctx.human_task("approve", assignee="role:manager") for _ in range(2)]

    app.start("four-eyes", id="f")
    with app.worker(concurrency=1, poll_interval=0.05) as worker:
        worker.drain()
        [first] = app.tasks.list()
        app.tasks.complete(first.id, {"by": "alice"}, by="alice")
        worker.drain()
        [second] = app.tasks.list()  # a new open task, not one completed by alice
        assert second.id != first.id and second.status == TaskStatus.OPEN
        app.tasks.complete(second.id, {"by": "bob"}, by="bob")
        assert app.result("f", timeout=20) == [{"by": "alice"}, {"by": "bob"}]
    done = app.tasks.list(status=None)
    assert sorted((t.completed_by or "") for t in done) == ["alice", "bob"]


# -- item 27: one completion wins -----------------------------------------------------------


def test_simultaneous_completions_of_one_task_accept_exactly_one(app: App) -> None:
    @app.workflow(name="approval")
    def approval(ctx: daytwo.Context) -> Any:
        return ctx.human_task("approve")

    for round_ in range(5):
        instance_id = f"a{round_}"
        app.start("approval", id=instance_id)
        with app.worker(concurrency=1, poll_interval=0.05) as worker:
            worker.drain()
        [task] = app.tasks.list()
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def complete(
            who: str,
            task_id: str = task.id,
            barrier: threading.Barrier = barrier,
            outcomes: list[str] = outcomes,
        ) -> None:
            barrier.wait()
            try:
                app.tasks.complete(task_id, who, by=who)
                outcomes.append(f"won {who}")
            except daytwo.NotRunnable as refused:
                outcomes.append(f"refused {refused}")

        threads = [threading.Thread(target=complete, args=(who,)) for who in ("ann", "ben")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        won = [o for o in outcomes if o.startswith("won")]
        assert len(won) == 1, outcomes
        winner = won[0].split()[1]
        [refusal] = [o for o in outcomes if o.startswith("refused")]
        assert f"is already completed (by {winner})" in refusal
        with app.worker(concurrency=1, poll_interval=0.05):
            assert app.result(instance_id, timeout=20) == winner
        assert _unconsumed(app, instance_id) == 0  # the loser left no stray signal


# -- item 35: tasks of ended instances are closed -------------------------------------------


def test_the_open_task_of_a_cancelled_instance_is_closed_with_the_reason(app: App) -> None:
    @app.workflow(name="approval")
    def approval(ctx: daytwo.Context) -> Any:
        return ctx.human_task("approve", assignee="alice")

    app.start("approval", id="c")
    with app.worker(concurrency=1, poll_interval=0.05) as worker:
        worker.drain()
        [task] = app.tasks.list(assignee="alice")
        app.cancel("c", "customer withdrew")
        with pytest.raises(daytwo.WorkflowFailed, match="CANCELLED"):
            app.result("c", timeout=20)
    closed = app.tasks.get(task.id)
    assert closed.status == TaskStatus.CLOSED
    assert closed.closed_reason == "the instance ended CANCELLED"
    assert app.tasks.list(assignee="alice") == []
    with pytest.raises(daytwo.NotRunnable, match="already closed: the instance ended CANCELLED"):
        app.tasks.complete(task.id, True)


def test_upgrading_closes_tasks_an_older_daytwo_left_open(db_url: str) -> None:
    app = App(db_url)

    @app.workflow(name="approval")
    def approval(ctx: daytwo.Context) -> Any:
        return ctx.human_task("approve")

    app.start("approval", id="old")
    with app.worker(concurrency=1, poll_interval=0.05) as worker:
        worker.drain()
    [task] = app.tasks.list()
    app.close()
    # Back to the schema before closed tasks, and what an older daytwo left behind there:
    # the instance ended, its task still open.
    engine = sa.create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
    config = alembic_config(engine)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0005")
        conn.execute(
            instances.update()
            .where(instances.c.id == "old")
            .values(status="CANCELLED", finished_at=123.0)
        )
    engine.dispose()
    upgraded = App(db_url)
    try:
        closed = upgraded.tasks.get(task.id)
        assert (closed.status, closed.closed_reason) == ("closed", "the instance ended CANCELLED")
        with upgraded.store.read() as conn:
            when = conn.execute(
                sa.select(human_tasks.c.completed_at).where(human_tasks.c.id == task.id)
            ).scalar_one()
        assert when == 123.0
    finally:
        upgraded.close()
