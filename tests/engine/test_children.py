"""Child workflows: ``ctx.child`` and ``ctx.start_child`` (issue 13, item 1)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

import daytwo
from daytwo import App, ChildFailed, ParentClose
from daytwo.store._operator_schema import instance_links
from daytwo.store._schema import history, instances


def _children_of(app: App, parent_id: str) -> list[dict[str, Any]]:
    with app.store.read() as conn:
        rows = conn.execute(
            sa.select(instances).where(instances.c.parent_id == parent_id).order_by(instances.c.id)
        ).mappings()
        return [dict(row) for row in rows]


def _kinds(app: App, instance_id: str) -> list[tuple[str, str, str]]:
    return [(e.kind, e.name, e.outcome) for e in app.history(instance_id)]


def _register_pair(app: App) -> None:
    @app.step
    def double(n: int) -> int:
        return n * 2

    @app.workflow(name="doubler")
    def doubler(ctx: daytwo.Context, n: int) -> int:
        return double(n)

    @app.workflow(name="adder")
    def adder(ctx: daytwo.Context, n: int) -> int:
        return int(ctx.child(doubler, n)) + 1


def test_a_child_result_is_returned_to_the_parent(app: App) -> None:
    _register_pair(app)
    app.start("adder", 20, id="p")
    with app.worker(concurrency=2, poll_interval=0.05):
        assert app.result("p", timeout=20) == 41
    assert _kinds(app, "p") == [
        ("child_start", "doubler", "completed"),
        ("child", "doubler", "completed"),
    ]
    [child] = _children_of(app, "p")
    assert (child["id"], child["status"], child["parent_close"]) == ("p:0", "SUCCEEDED", "cancel")
    with app.store.read() as conn:
        links = conn.execute(sa.select(instance_links)).mappings().all()
    assert [(r["instance_id"], r["linked_id"], r["kind"], r["position"]) for r in links] == [
        ("p:0", "p", "child_of", 0)
    ]


def test_start_child_returns_a_handle_whose_result_is_awaited_later(app: App) -> None:
    @app.step
    def square(n: int) -> int:
        return n * n

    @app.workflow(name="squarer")
    def squarer(ctx: daytwo.Context, n: int) -> int:
        return square(n)

    @app.workflow(name="fan")
    def fan(ctx: daytwo.Context) -> list[int]:
        handles = [ctx.start_child("squarer", n) for n in range(4)]
        assert all(isinstance(h, daytwo.ChildHandle) for h in handles)
        assert [h.workflow for h in handles] == ["squarer"] * 4
        return [h.result() for h in handles]

    app.start("fan", id="f")
    with app.worker(concurrency=3, poll_interval=0.05):
        assert app.result("f", timeout=20) == [0, 1, 4, 9]
    assert [c["id"] for c in _children_of(app, "f")] == ["f:0", "f:1", "f:2", "f:3"]
    assert [k for k, _, _ in _kinds(app, "f")] == ["child_start"] * 4 + ["child"] * 4


def _register_failing_child(app: App, undone: list[str]) -> None:
    @app.step
    def charge() -> str:
        return "c-1"

    @charge.compensate
    def refund(charge_id: str) -> None:
        undone.append(charge_id)

    @app.step
    def ship() -> None:
        raise daytwo.Reject("no stock")

    @app.workflow(name="shipping")
    def shipping(ctx: daytwo.Context) -> None:
        ship()


def test_a_failed_child_raises_child_failed_which_the_parent_can_catch(app: App) -> None:
    undone: list[str] = []
    _register_failing_child(app, undone)

    @app.workflow(name="careful")
    def careful(ctx: daytwo.Context) -> dict[str, Any]:
        try:
            ctx.child("shipping", id="careful-shipping")
        except ChildFailed as failed:
            return {"id": failed.child_id, "workflow": failed.workflow,
                    "status": failed.status, "type": failed.error_type}  # fmt: skip
        return {}

    app.start("careful", id="c")
    with app.worker(concurrency=2, poll_interval=0.05):
        assert app.result("c", timeout=20) == {
            "id": "careful-shipping", "workflow": "shipping", "status": "FAILED",
            "type": "StepFailed",
        }  # fmt: skip
    assert _kinds(app, "c")[-1] == ("child", "shipping", "failed")


def test_an_uncaught_child_failure_compensates_the_parent(app: App) -> None:
    undone: list[str] = []
    _register_failing_child(app, undone)

    @app.workflow(name="order")
    def order(ctx: daytwo.Context) -> None:
        charge = app.registry.step("charge")
        assert charge is not None
        charge()
        ctx.child("shipping")

    app.start("order", id="o")
    with app.worker(concurrency=2, poll_interval=0.05) as worker:
        worker.drain()
        with pytest.raises(daytwo.WorkflowFailed):
            app.result("o", timeout=20)
    ended = app.get("o")
    assert ended.status == "COMPENSATED"
    assert ended.error is not None and ended.error["type"] == "ChildFailed"
    assert "'shipping'" in ended.error["message"] and "o:1" in ended.error["message"]
    assert undone == ["c-1"]


def test_an_explicit_child_id_is_idempotent_and_refused_when_taken(app: App) -> None:
    _register_pair(app)

    @app.workflow(name="twice")
    def twice(ctx: daytwo.Context) -> list[str]:
        first = ctx.start_child("doubler", 1, id="the-child")
        second = ctx.start_child("doubler", 1, id="the-child")
        return [first.id, second.id, str(first.result() + second.result())]

    @app.workflow(name="thief")
    def thief(ctx: daytwo.Context) -> int:
        return int(ctx.child("doubler", 2, id="the-child"))

    app.start("twice", id="t")
    with app.worker(concurrency=2, poll_interval=0.05) as worker:
        assert app.result("t", timeout=20) == ["the-child", "the-child", "4"]
        app.start("thief", id="x")
        worker.drain()
    assert [c["id"] for c in _children_of(app, "t")] == ["the-child"]
    refused = app.get("x")
    assert refused.status == "FAILED"
    assert refused.error is not None and refused.error["type"] == "ChildIdTaken"
    assert "'the-child' exists already" in refused.error["message"]
    assert "leave id= out" in refused.error["message"]
    assert _children_of(app, "x") == []


def test_a_changed_child_workflow_name_is_incompatible_with_its_position(app: App) -> None:
    _register_pair(app)

    @app.workflow(name="changing")
    def changing(ctx: daytwo.Context) -> Any:
        return ctx.child("doubler", 1)

    app.start("changing", id="v")
    with app.worker(concurrency=1, poll_interval=0.05) as worker:
        worker.drain()  # the parent waits; the child ran and woke it ... but first:
    # Replace the code while an instance is recorded: a different child workflow.
    app.registry.workflows["changing"]["1"] = daytwo.engine.WorkflowDefinition(
        "changing", "1", lambda ctx: ctx.child("adder", 1)
    )
    with app.store.write() as conn:  # make it run again from its history
        conn.execute(
            instances.update()
            .where(instances.c.id == "v")
            .values(status="RUNNABLE", run_at=0, finished_at=None, output=None)
        )
        conn.execute(history.delete().where(history.c.instance_id == "v", history.c.seq == 1))
        conn.execute(instances.update().where(instances.c.id == "v").values(history_size=1))
    with app.worker(concurrency=1, poll_interval=0.05) as worker:
        worker.drain()
    ended = app.get("v")
    assert ended.status == "INCOMPATIBLE"
    assert ended.error is not None
    assert ended.error["message"] == (
        "at position 0 the history records child_start 'doubler' but the workflow now calls "
        "child_start 'adder'"
    )


def test_a_parent_waiting_for_a_child_diverges_at_the_wait_with_its_description(
    app: App,
) -> None:
    @app.workflow(name="sleeper")
    def sleeper(ctx: daytwo.Context) -> None:
        ctx.wait_for_signal("go")

    @app.workflow(name="waiter")
    def waiter(ctx: daytwo.Context) -> Any:
        return ctx.child(sleeper)

    app.start("waiter", id="w")
    with app.worker(concurrency=2, poll_interval=0.05) as worker:
        worker.drain()
        waiting = app.get("w")
        assert (waiting.status, waiting.wait_kind, waiting.wait_name) == (
            "WAITING", "child", "w:0",
        )  # fmt: skip
        app.registry.workflows["waiter"]["1"] = daytwo.engine.WorkflowDefinition(
            "waiter", "1", lambda ctx: [ctx.start_child(sleeper), ctx.sleep(1)]
        )
        app.signal("w:0", "go")
        worker.drain()
    ended = app.get("w")
    assert ended.status == "INCOMPATIBLE"
    assert ended.error is not None
    assert ended.error["message"] == (
        "at position 1 the instance is waiting for the end of child workflow 'sleeper' "
        "(id 'w:0') but the workflow now calls timer 'sleep'"
    )


def test_cancelling_a_parent_cancels_cancel_children_and_leaves_abandon_ones(app: App) -> None:
    @app.workflow(name="idle")
    def idle(ctx: daytwo.Context) -> str:
        return str(ctx.wait_for_signal("go"))

    @app.workflow(name="boss")
    def boss(ctx: daytwo.Context) -> Any:
        ctx.start_child(idle, id="kept", on_parent_close=ParentClose.ABANDON)
        return ctx.child(idle, id="dropped")

    app.start("boss", id="b")
    with app.worker(concurrency=2, poll_interval=0.05) as worker:
        worker.drain()
        assert app.get("dropped").status == "WAITING"
        app.cancel("b", "customer withdrew")
        worker.drain()
        assert app.get("b").status == "CANCELLED"
        dropped = app.get("dropped")
        assert dropped.status == "CANCELLED"
        assert dropped.error is not None
        assert dropped.error["message"] == ("parent instance 'b' was cancelled: customer withdrew")
        assert app.get("kept").status == "WAITING"
        app.signal("kept", "go", "still")
        assert app.result("kept", timeout=20) == "still"


def test_a_parent_that_ends_cancels_its_unawaited_cancel_children(app: App) -> None:
    @app.workflow(name="idle")
    def idle(ctx: daytwo.Context) -> None:
        ctx.wait_for_signal("go")

    @app.workflow(name="starter")
    def starter(ctx: daytwo.Context) -> str:
        ctx.start_child(idle, id="left")
        ctx.start_child(idle, id="abandoned", on_parent_close="abandon")
        return "done"

    app.start("starter", id="s")
    with app.worker(concurrency=2, poll_interval=0.05) as worker:
        assert app.result("s", timeout=20) == "done"
        worker.drain()
        left = app.get("left")
        assert left.status == "CANCELLED"
        assert left.error is not None
        assert left.error["message"] == "parent instance 's' ended SUCCEEDED"
        assert app.get("abandoned").status == "WAITING"


def test_terminating_a_child_wakes_its_parent_with_child_failed(app: App) -> None:
    @app.workflow(name="idle")
    def idle(ctx: daytwo.Context) -> None:
        ctx.wait_for_signal("go")

    @app.workflow(name="watcher")
    def watcher(ctx: daytwo.Context) -> str:
        try:
            ctx.child(idle)
        except ChildFailed as failed:
            return f"{failed.status}: {failed.error_message}"
        return "ok"

    app.start("watcher", id="wt")
    with app.worker(concurrency=2, poll_interval=0.05) as worker:
        worker.drain()
        app.terminate("wt:0", reason="stuck")
        assert app.result("wt", timeout=20) == "TERMINATED: stuck"


def test_a_parked_child_keeps_its_parent_waiting(app: App) -> None:
    @app.step(retry=daytwo.Retry(max_attempts=1), on_failure="park")
    def flaky() -> str:
        raise ConnectionError("down")

    @app.workflow(name="parking")
    def parking(ctx: daytwo.Context) -> str:
        return flaky()

    @app.workflow(name="above")
    def above(ctx: daytwo.Context) -> Any:
        return ctx.child(parking)

    app.start("above", id="a")
    with app.worker(concurrency=2, poll_interval=0.05) as worker:
        worker.drain()
        assert app.get("a:0").status == "NEEDS_ATTENTION"
        worker.drain()
        assert (app.get("a").status, app.get("a").wait_kind) == ("WAITING", "child")
        app.skip("a:0", "by hand", reason="the operator did it")
        assert app.result("a", timeout=20) == "by hand"


def test_bad_child_arguments_fail_with_one_line_errors(app: App) -> None:
    @app.workflow(name="bad")
    def bad(ctx: daytwo.Context, how: str) -> Any:
        if how == "policy":
            return ctx.start_child("bad", "x", on_parent_close="orphan")
        if how == "fn":
            return ctx.start_child(len)
        return ctx.start_child("nowhere")

    for how in ("policy", "fn", "unknown"):
        app.start("bad", how, id=how)
    with app.worker(concurrency=1, poll_interval=0.05) as worker:
        worker.drain()
    messages = {
        how: (app.get(how).error or {}).get("message") for how in ("policy", "fn", "unknown")
    }
    assert messages["policy"] == "on_parent_close must be one of cancel, abandon, not 'orphan'"
    assert "decorated with @app.workflow or a workflow name" in str(messages["fn"])
    assert "'nowhere' is not registered in this app" in str(messages["unknown"])


def test_explain_names_the_child_a_parent_waits_for_and_its_status(app: App) -> None:
    @app.workflow(name="idle")
    def idle(ctx: daytwo.Context) -> None:
        ctx.wait_for_signal("go")

    @app.workflow(name="holder")
    def holder(ctx: daytwo.Context) -> Any:
        return ctx.child(idle)

    app.start("holder", id="h")
    with app.worker(concurrency=2, poll_interval=0.05) as worker:
        worker.drain()
    explained = app.explain("h")
    assert explained.reasons == [
        "waits for the end of child instance 'h:0' (workflow idle): it is WAITING in state "
        "'go'; see: daytwo explain h:0"
    ]


def test_replays_after_a_restart_do_not_start_a_second_child(app: App, db_url: str) -> None:
    _register_pair(app)

    @app.workflow(name="patient")
    def patient(ctx: daytwo.Context) -> list[Any]:
        handle = ctx.start_child("doubler", 4)
        first = ctx.wait_for_signal("first")
        second = ctx.wait_for_signal("second")
        return [handle.result(), first, second]

    app.start("patient", id="pt")
    with app.worker(concurrency=2, poll_interval=0.05) as worker:
        worker.drain()
        app.signal("pt", "first", 1)
        worker.drain()
    # A new process (App and worker) replays the parent from its history.
    again = App(db_url)
    again.registry = app.registry
    with again.worker(concurrency=2, poll_interval=0.05):
        again.signal("pt", "second", 2)
        assert again.result("pt", timeout=20) == [8, 1, 2]
    again.close()
    assert [c["id"] for c in _children_of(app, "pt")] == ["pt:0"]
    assert [k for k, _, _ in _kinds(app, "pt")] == ["child_start", "signal", "signal", "child"]


def test_an_inline_parent_gets_the_result_of_a_child_a_worker_runs(app: App) -> None:
    _register_pair(app)
    with app.worker(concurrency=2, poll_interval=0.05):
        assert app.run("adder", 5, id="inline", timeout=20) == 11
    assert [c["id"] for c in _children_of(app, "inline")] == ["inline:0"]


@pytest.mark.parametrize("action", ["terminate", "abort"])
def test_terminating_or_aborting_a_parent_cancels_its_cancel_children(
    app: App, action: str
) -> None:
    @app.workflow(name="idle")
    def idle(ctx: daytwo.Context) -> None:
        ctx.wait_for_signal("go")

    @app.workflow(name="owner")
    def owner(ctx: daytwo.Context) -> Any:
        ctx.start_child(idle, id="free", on_parent_close=ParentClose.ABANDON)
        return ctx.child(idle, id="bound")

    app.start("owner", id="ow")
    with app.worker(concurrency=2, poll_interval=0.05) as worker:
        worker.drain()
        if action == "terminate":
            app.terminate("ow", reason="wrong order")
        else:
            app.abort("ow", reason="wrong order")
        worker.drain()
        assert app.get("ow").status == ("TERMINATED" if action == "terminate" else "CANCELLED")
        bound = app.get("bound")
        assert bound.status == "CANCELLED"
        verb = "terminated" if action == "terminate" else f"aborted by {daytwo.resolve_actor(None)}"
        assert bound.error is not None
        assert bound.error["message"] == f"parent instance 'ow' was {verb}: wrong order"
        assert app.get("free").status == "WAITING"
