"""The typed vocabulary (issue 10, item 5): the enums are what the database holds, on both
backends; the partial-index conditions name enum members; a lost lease is told apart by
its type."""

from __future__ import annotations

import contextlib
import logging
import re
from enum import StrEnum
from pathlib import Path

import pytest
import sqlalchemy as sa
from _harness import wait_until

import daytwo
from daytwo import (
    App,
    HistoryKind,
    HistoryOutcome,
    InstanceStatus,
    Retry,
    TaskStatus,
    WaitKind,
)
from daytwo._errors import InstanceExists, LeaseLost, LeaseTakenOver
from daytwo.engine import execute
from daytwo.store import ACTIVE_STATUSES, TERMINAL_STATUSES, DirectWriter
from daytwo.store._schema import READY, RUNNING, TIMED, history, human_tasks, instances
from daytwo.store._schema import transitions as transitions_table

MIGRATIONS = Path(daytwo.__file__).parent / "store" / "migrations" / "versions"
NO_RETRY = Retry(max_attempts=1)


def _values(enum: type[StrEnum]) -> set[str]:
    return {str(member) for member in enum}


def _distinct(app: App, column: sa.Column[str | None]) -> set[str]:
    with app.store.read() as conn:
        return {value for value in conn.execute(sa.select(column).distinct()).scalars() if value}


def _register(app: App) -> None:
    @app.step(retry=NO_RETRY)
    def reserve(item: str) -> str:
        return f"reserved {item}"

    @reserve.compensate
    def release(item: str, reservation: str) -> None:
        pass

    @app.step(retry=NO_RETRY)
    def hold(item: str) -> str:
        return f"held {item}"

    @hold.compensate(retry=NO_RETRY)
    def unhold(item: str, holding: str) -> None:
        raise RuntimeError("the hold cannot be released")

    @app.step(retry=Retry(max_attempts=2, initial_delay=3600, max_delay=3600, jitter=0))
    def flaky() -> None:
        raise RuntimeError("down")

    @app.workflow(name="succeeds")
    def succeeds(ctx: daytwo.Context) -> str:
        ctx.now()
        ctx.uuid()
        ctx.random()
        ctx.sleep(0, name="no-wait")
        return reserve("a")

    @app.workflow(name="fails")
    def fails(ctx: daytwo.Context) -> None:
        raise daytwo.Reject("no")

    @app.workflow(name="compensates")
    def compensates(ctx: daytwo.Context) -> None:
        reserve("b")
        raise daytwo.Reject("no")

    @app.workflow(name="compensation-fails")
    def compensation_fails(ctx: daytwo.Context) -> None:
        hold("c")
        raise daytwo.Reject("no")

    @app.workflow(name="signal")
    def signal(ctx: daytwo.Context) -> object:
        with contextlib.suppress(daytwo.WaitTimeout):
            ctx.wait_for_signal("early", timeout=0)
        return ctx.wait_for_signal("go")

    @app.workflow(name="task")
    def task(ctx: daytwo.Context) -> object:
        return ctx.human_task("approve", assignee="alice")

    @app.workflow(name="timer")
    def timer(ctx: daytwo.Context) -> None:
        ctx.sleep(3600)

    @app.workflow(name="retry")
    def retry(ctx: daytwo.Context) -> None:
        flaky()

    @app.step(retry=NO_RETRY, on_failure="park")
    def broken() -> None:
        raise RuntimeError("broken")

    @app.workflow(name="parks")
    def parks(ctx: daytwo.Context) -> None:
        broken()

    @app.workflow(name="child")
    def child(ctx: daytwo.Context) -> str:
        return reserve("d")

    @app.workflow(name="parent")
    def parent(ctx: daytwo.Context) -> object:
        return ctx.child(child)

    @app.workflow(name="fans-out")
    def fans_out(ctx: daytwo.Context) -> list[str]:
        return ctx.map(reserve, ["b", "c"])

    @app.workflow(name="late", timeout=0.2)  # the worker's deadline service meets it
    def late(ctx: daytwo.Context) -> None:
        ctx.sleep(3600)


def test_the_enums_are_what_the_database_holds(app: App) -> None:
    """Every status, wait kind, history kind and outcome, and task status an instance
    writes is a member, and the records read back carry members."""
    _register(app)
    assert app.run("succeeds") == "reserved a"
    assert app.run("fans-out") == ["reserved b", "reserved c"]
    ends = {
        "fails": InstanceStatus.FAILED,
        "compensates": InstanceStatus.COMPENSATED,
        "compensation-fails": InstanceStatus.COMPENSATION_FAILED,
    }
    for name, end in ends.items():
        with pytest.raises(daytwo.WorkflowFailed) as failed:
            app.run(name, id=name)
        assert failed.value.status is end
        with pytest.raises(daytwo.WorkflowFailed) as failed:  # the existing id's path
            app.run(name, id=name)
        assert failed.value.status is end
    waiting = {name: app.start(name).id for name in ("signal", "task", "timer", "retry")}
    cancelled = app.start("signal").id
    with app.worker(concurrency=2, poll_interval=0.02):
        wait_until(
            lambda: all(
                app.get(i).status is InstanceStatus.WAITING for i in [*waiting.values(), cancelled]
            ),
            timeout=30,
            what="the waiting instances to wait",
        )
        # WAITING with every kind an instance can wait with here, in the stored rows too.
        with app.store.read() as conn:
            kinds = set(
                conn.execute(
                    sa.select(instances.c.wait_kind).where(instances.c.status == "WAITING")
                ).scalars()
            )
        assert kinds == {WaitKind.SIGNAL, WaitKind.TASK, WaitKind.TIMER, WaitKind.RETRY}
        assert {app.get(i).wait_kind for i in waiting.values()} == kinds
        app.cancel(cancelled)
        assert app.result(app.start("parent").id, timeout=30) == "reserved d"
        app.tasks.complete(app.tasks.list()[0].id, "yes", by="alice")
        assert app.result(waiting["task"], timeout=30) == "yes"
        app.signal(waiting["signal"], "go", 1)
        assert app.result(waiting["signal"], timeout=30) == 1
        with pytest.raises(daytwo.WorkflowFailed):
            app.result(cancelled, timeout=30)
        with pytest.raises(daytwo.DeadlineExceeded):
            app.result(app.start("late").id, timeout=30)
        parked = app.start("parks").id
        wait_until(
            lambda: app.get(parked).status is InstanceStatus.NEEDS_ATTENTION,
            timeout=30,
            what="the instance to park",
        )
        assert app.get(parked).wait_kind is WaitKind.PARKED
        app.terminate(parked, reason="not worth fixing")

    statuses = _distinct(app, instances.c.status)
    assert statuses <= _values(InstanceStatus)
    assert statuses >= {
        InstanceStatus.SUCCEEDED,
        InstanceStatus.FAILED,
        InstanceStatus.COMPENSATED,
        InstanceStatus.COMPENSATION_FAILED,
        InstanceStatus.CANCELLED,
        InstanceStatus.WAITING,
        InstanceStatus.TERMINATED,
    }
    assert _distinct(app, transitions_table.c.status) <= _values(InstanceStatus)
    assert _distinct(app, instances.c.wait_kind) <= _values(WaitKind)
    assert _distinct(app, history.c.kind) == _values(HistoryKind)
    outcomes = _distinct(app, history.c.outcome)
    assert outcomes <= _values(HistoryOutcome)
    assert outcomes >= {HistoryOutcome.COMPLETED, HistoryOutcome.FAILED, HistoryOutcome.TIMED_OUT}
    assert _distinct(app, human_tasks.c.status) <= _values(TaskStatus)

    records = app.list(limit=100)
    assert {type(instance.status) for instance in records} == {InstanceStatus}
    events = [event for instance in records for event in app.history(instance.id)]
    assert {type(event.kind) for event in events} == {HistoryKind}
    assert {type(event.outcome) for event in events} == {HistoryOutcome}
    assert {type(t.status) for i in records for t in app.transitions(i.id)} == {InstanceStatus}
    assert {type(task.status) for task in app.tasks.list(status=None)} == {TaskStatus}
    # The statuses filter takes members and their text alike.
    # "fails", and "late" (its deadline)
    assert len(app.list(status=InstanceStatus.FAILED)) == len(app.list(status="failed")) == 2


def test_the_statuses_are_terminal_or_active() -> None:
    assert set(InstanceStatus) == TERMINAL_STATUSES | ACTIVE_STATUSES
    assert not TERMINAL_STATUSES & ACTIVE_STATUSES
    assert all(status.terminal for status in TERMINAL_STATUSES)
    assert not any(status.terminal for status in ACTIVE_STATUSES)
    # A member is its stored text: it compares, hashes and formats as that string.
    assert "RUNNING" in ACTIVE_STATUSES and InstanceStatus("RUNNING") is InstanceStatus.RUNNING
    assert f"{WaitKind.TIMER}" == str(WaitKind.TIMER) == "timer"


def _quoted(text: str) -> set[str]:
    return set(re.findall(r"status\s*(?:=|<>)\s*'(\w+)'", text))


def test_the_index_conditions_name_statuses() -> None:
    """The partial-index literals (in the schema and in every migration) are members."""
    assert _quoted(READY) == {"RUNNABLE"}
    assert _quoted(TIMED) == {"WAITING"}
    assert _quoted(RUNNING) == {"RUNNING"}
    # Migrations spell their own literals (they are frozen): instance or task statuses.
    for path in sorted(MIGRATIONS.glob("*.py")):
        statuses = _values(InstanceStatus) | _values(TaskStatus)
        assert _quoted(path.read_text()) <= statuses, path.name


def test_the_stored_index_conditions_name_statuses(app: App) -> None:
    """What the database itself holds as partial-index conditions (both backends)."""
    app.list(limit=1)  # creates the tables
    with app.store.read() as conn:
        if app.store.dialect == "sqlite":
            query = "SELECT sql FROM sqlite_master WHERE type = 'index' AND sql LIKE '%WHERE%'"
        else:
            query = "SELECT indexdef FROM pg_indexes WHERE indexdef LIKE '%WHERE%'"
        definitions = list(conn.execute(sa.text(query)).scalars())
    literals = set().union(*(re.findall(r"'(\w+)'", d) for d in definitions))
    assert literals == {"RUNNABLE", "WAITING", "RUNNING"} <= _values(InstanceStatus)


def test_lease_lost_is_a_type_with_two_cases() -> None:
    assert issubclass(InstanceExists, LeaseLost) and issubclass(LeaseTakenOver, LeaseLost)
    assert not issubclass(InstanceExists, LeaseTakenOver)
    assert InstanceExists("a").instance_id == "a"
    assert LeaseTakenOver("status WAITING").rejected == "status WAITING"
    # Control flow: a workflow's `except Exception` cannot swallow either.
    assert not issubclass(LeaseLost, Exception)


def test_a_stale_lease_token_stops_the_run(app: App, caplog: pytest.LogCaptureFixture) -> None:
    """LeaseTakenOver: another worker took the instance over; nothing is written."""

    @app.workflow(name="taken")
    def taken(ctx: daytwo.Context) -> None:
        ctx.sleep(3600)

    instance_id = app.start("taken").id
    [row] = app.store.claim("me", [("taken", "1")], now=app.clock.now(), lease_seconds=60, limit=1)
    with app.store.write() as conn:  # another worker's claim bumps the token
        conn.execute(instances.update().values(lease_token=instances.c.lease_token + 1))
    with caplog.at_level(logging.WARNING, logger="daytwo.runner"):
        result = execute(app.runtime, DirectWriter(app.store), row)
    assert (result.kind, result.status) == ("lost", InstanceStatus.RUNNING)
    assert "fencing token" in caplog.text and "status WAITING" in caplog.text
    stored = app.store.get_instance(instance_id)
    assert stored is not None and stored["wait_kind"] is None  # the suspension was not written
    assert stored["status"] == InstanceStatus.RUNNING


def test_an_existing_id_stops_an_inline_insert(app: App, caplog: pytest.LogCaptureFixture) -> None:
    """InstanceExists: an inline run's first durable point met an existing row."""

    @app.workflow(name="once")
    def once(ctx: daytwo.Context) -> str:
        return "done"

    assert app.run("once", id="same") == "done"
    row = dict(app.store.get_instance("same") or {})
    row.update(lease_token=1, status=InstanceStatus.RUNNING.value, lease_owner="other")
    with caplog.at_level(logging.WARNING, logger="daytwo.runner"):
        result = execute(app.runtime, DirectWriter(app.store), row, history=[], insert=True)
    assert (result.kind, result.status) == ("lost", InstanceStatus.RUNNING)
    assert "fencing token" not in caplog.text  # not a takeover: nothing to warn about
    assert app.run("once", id="same") == "done"  # and App.run's existing-id path agrees
