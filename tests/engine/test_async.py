"""Async workflows and steps (issue 13, item 3): the same replay, suspension, divergence and
failure rules as sync code; async steps on the worker's event loop; AsyncClient."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

import daytwo
from daytwo import App


def _steps(app: App, calls: list[str]) -> tuple[Any, Any]:
    @app.step
    async def reserve(order: str) -> dict[str, Any]:
        calls.append("reserve")
        await asyncio.sleep(0)  # a real await on the step loop
        info = daytwo.current_step()
        return {
            "order": order,
            "key": info.idempotency_key,
            "thread": threading.current_thread().name,
        }

    @app.step
    def charge(order: str) -> str:
        calls.append("charge")
        return f"charged-{order}-{threading.current_thread().name}"

    return reserve, charge


def test_async_workflow_runs_async_and_sync_steps(app: App) -> None:
    calls: list[str] = []
    reserve, charge = _steps(app, calls)

    @app.workflow(name="async-order")
    async def order(ctx: daytwo.AsyncContext, order_id: str) -> dict[str, Any]:
        reservation = await reserve(order_id)
        charged = await ctx.step(charge, order_id)
        return {"reservation": reservation, "charged": charged, "id": ctx.instance_id}

    inline = app.run(order, "o-1", id="inline-1")
    assert inline["reservation"]["key"] == "inline-1:0"
    assert inline["reservation"]["thread"] == "daytwo-inline-async-steps"
    assert not inline["charged"].endswith("daytwo-inline-async-steps")
    app.start(order, "o-2", id="worked-1")
    with app.worker(concurrency=2):
        result = app.result("worked-1", timeout=20)
    assert result["reservation"] == {
        "order": "o-2", "key": "worked-1:0", "thread": "daytwo-async-steps",
    }  # fmt: skip
    assert result["charged"].startswith("charged-o-2-daytwo-run-")
    assert [e.kind for e in app.history("worked-1")] == ["step", "step"]


def test_async_step_in_a_sync_workflow_and_a_worker_mixing_both(app: App) -> None:
    calls: list[str] = []
    reserve, charge = _steps(app, calls)

    @app.workflow(name="sync-order")
    def sync_order(ctx: daytwo.Context, order_id: str) -> list[Any]:
        reservation: Any = reserve(order_id)  # a sync workflow gets the value itself
        return [reservation["key"], charge(order_id)[:12]]

    @app.workflow(name="async-order")
    async def async_order(ctx: daytwo.AsyncContext, order_id: str) -> list[Any]:
        reservation = await reserve(order_id)
        return [reservation["key"], (await ctx.step(charge, order_id))[:12]]

    handles = [app.start(sync_order, f"s{n}", id=f"s{n}") for n in range(4)]
    handles += [app.start(async_order, f"a{n}", id=f"a{n}") for n in range(4)]
    with app.worker(concurrency=4):
        results = [handle.result(timeout=30) for handle in handles]
    assert results == [[f"{h.id}:0", f"charged-{h.id}-daytwo-run"[:12]] for h in handles]


def test_sleep_signal_task_and_recorded_values_in_an_async_workflow(
    fake_app: App, clock: daytwo.FakeClock
) -> None:
    app = fake_app

    @app.workflow(name="waits")
    async def waits(ctx: daytwo.AsyncContext) -> dict[str, Any]:
        started = await ctx.now()
        await ctx.sleep(60, name="cooling")
        approval = await ctx.wait_for_signal("approval")
        review = await ctx.human_task("review", assignee="alice", payload={"n": 1})
        token = await ctx.uuid()
        chance = await ctx.random()
        return {
            "slept": (await ctx.now() - started).total_seconds(),
            "approval": approval, "review": review,
            "uuid": len(str(token)), "random": 0 <= chance < 1,
        }  # fmt: skip

    app.start(waits, id="w")
    with app.worker(concurrency=1, poll_interval=0.05) as worker:
        worker.drain()
        assert (app.get("w").wait_kind, app.get("w").state) == ("timer", "cooling")
        clock.advance(61)
        worker.wake()
        worker.drain()
        assert app.get("w").wait_kind == "signal"
        app.signal("w", "approval", "yes")
        worker.drain()
        [task] = app.tasks.list()
        assert (task.name, task.assignee, task.payload) == ("review", "alice", {"n": 1})
        app.tasks.complete(task.id, {"ok": True}, by="alice")
        result = app.result("w", timeout=20)
    assert result["slept"] >= 60
    assert result == {**result, "approval": "yes", "review": {"ok": True}, "uuid": 36}
    assert result["random"] is True


def test_replay_returns_recorded_results_without_running_steps_again(app: App) -> None:
    calls: list[str] = []
    reserve, charge = _steps(app, calls)

    @app.workflow(name="replayed")
    async def replayed(ctx: daytwo.AsyncContext, order_id: str) -> list[Any]:
        first = await reserve(order_id)
        approval = await ctx.wait_for_signal("approval")
        second = await ctx.step(charge, order_id)
        return [first["key"], approval, second[:10]]

    app.start(replayed, "o", id="r")
    with app.worker(concurrency=1) as worker:
        worker.drain()
        assert calls == ["reserve"]
        app.signal("r", "approval", "ok")
        assert app.result("r", timeout=20) == ["r:0", "ok", "charged-o-"]
    assert calls == ["reserve", "charge"]  # the second run replayed reserve from history


def test_divergence_in_an_async_workflow_is_reported_with_its_position(db_url: str) -> None:
    old = App(db_url)

    @old.step
    async def reserve(order: str) -> str:
        return f"r-{order}"

    @old.workflow(name="div", version="1")
    async def v1(ctx: daytwo.AsyncContext) -> str:
        await reserve("x")
        return str(await ctx.wait_for_signal("go"))

    old.start("div", id="d")
    with old.worker(concurrency=1) as worker:
        worker.drain()
    old.close()
    new = App(db_url)

    @new.step
    async def refund(order: str) -> str:
        return f"f-{order}"

    @new.workflow(name="div", version="1")
    async def v1_changed(ctx: daytwo.AsyncContext) -> str:
        await refund("x")
        return str(await ctx.wait_for_signal("go"))

    new.signal("d", "go", 1)
    with new.worker(concurrency=1) as worker:
        worker.drain()
    instance = new.get("d")
    new.close()
    assert instance.status == "INCOMPATIBLE"
    assert instance.error is not None
    assert "at position 0 the history records step 'reserve'" in instance.error["message"]
    assert "now calls step 'refund'" in instance.error["message"]


@pytest.mark.parametrize("foreign", ["asyncio.sleep(1)", "asyncio.sleep(0)", "to_thread"])
def test_a_foreign_await_fails_the_instance_with_a_clear_error(app: App, foreign: str) -> None:
    @app.workflow(name="foreign")
    async def foreign_await(ctx: daytwo.AsyncContext) -> str:
        if foreign == "asyncio.sleep(1)":
            await asyncio.sleep(1)
        elif foreign == "asyncio.sleep(0)":
            await asyncio.sleep(0)
        else:
            await asyncio.to_thread(print, "I/O")
        return "never"

    with pytest.raises(daytwo.WorkflowFailed) as failed:
        app.run(foreign_await)
    error = failed.value.error
    assert error is not None and error["type"] == "ForeignAwait"
    assert "which is not a daytwo operation" in error["message"]
    assert "do I/O" in error["message"] and "in an @app.step" in error["message"]


def test_a_sync_step_of_an_async_workflow_may_run_its_own_event_loop(app: App) -> None:
    @app.step
    def fetch() -> int:
        async def io() -> int:
            await asyncio.sleep(0)
            return 7

        return asyncio.run(io())

    @app.workflow(name="own-loop")
    async def own_loop(ctx: daytwo.AsyncContext) -> int:
        return await ctx.step(fetch)

    assert app.run(own_loop) == 7


def test_an_async_step_past_its_timeout_is_cancelled_and_times_out(app: App) -> None:
    seen: list[str] = []

    @app.step(timeout=0.2, retry=daytwo.Retry(max_attempts=1))
    async def slow() -> str:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            seen.append(f"cancelled {daytwo.current_step().cancelled}")
            raise
        return "late"

    @app.workflow(name="slow")
    async def slow_workflow(ctx: daytwo.AsyncContext) -> str:
        return await slow()

    with pytest.raises(daytwo.WorkflowFailed) as failed:
        app.run(slow_workflow)
    assert seen == ["cancelled True"]  # current_step().cancelled was set by then
    error = failed.value.error
    assert error is not None and error["type"] == "StepFailed"
    [attempt] = app.attempts(failed.value.instance_id)
    assert attempt.error is not None and attempt.error["type"] == "StepTimeout"


def test_an_async_compensation_undoes_a_step(app: App) -> None:
    undone: list[Any] = []

    @app.step
    async def reserve(order: str) -> str:
        return f"r-{order}"

    @reserve.compensate
    async def release(order: str, reservation: str) -> None:
        await asyncio.sleep(0)
        undone.append((order, reservation, daytwo.current_step().idempotency_key))

    @app.step(retry=daytwo.Retry(max_attempts=1))
    async def charge(order: str) -> str:
        raise daytwo.Reject("card declined")

    @app.workflow(name="saga")
    async def saga(ctx: daytwo.AsyncContext) -> str:
        await reserve("o")
        return await charge("o")

    with pytest.raises(daytwo.WorkflowFailed) as failed:
        app.run(saga, id="s")
    assert failed.value.status == "COMPENSATED"
    assert undone == [("o", "r-o", "s:0:compensate")]


def test_async_client_starts_signals_and_waits_without_blocking_the_loop(app: App) -> None:
    @app.workflow(name="approval")
    async def approval(ctx: daytwo.AsyncContext, amount: int) -> dict[str, Any]:
        return {"amount": amount, "by": await ctx.wait_for_signal("approve")}

    async def main() -> tuple[Any, int, int]:
        client = app.async_client()
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.005)

        ticking = asyncio.create_task(ticker())
        handle = await client.start(approval, 5, id="a-1")
        waiting = asyncio.create_task(handle.result(timeout=30))
        while (await handle.status()).wait_kind != "signal":
            await asyncio.sleep(0.02)
        before = ticks
        await asyncio.sleep(0.2)  # the result wait goes on: the loop keeps ticking
        during = ticks - before
        await handle.signal("approve", "alice")
        result = await waiting
        stop.set()
        await ticking
        return result, during, len(await client.list(workflow="approval"))

    with app.worker(concurrency=1):
        result, during, listed = asyncio.run(main())
    assert result == {"amount": 5, "by": "alice"}
    assert during > 3  # ticked all along while a result wait was pending
    assert listed == 1
    assert app.client.result_waits.waited() == 0


def test_async_client_of_a_client_starts_by_name_and_reads_tasks(app: App) -> None:
    @app.workflow(name="review")
    async def review(ctx: daytwo.AsyncContext) -> Any:
        return await ctx.human_task("review")

    async def main() -> Any:
        client = daytwo.AsyncClient(daytwo.Client(app.database_url))
        try:
            handle = await client.start("review", version="1")
            while not await client.tasks.list():
                await asyncio.sleep(0.02)
            [task] = await client.tasks.list()
            await client.tasks.complete(task.id, "done", by="bob")
            return await client.result(handle.id, timeout=30)
        finally:
            client.client.close()

    with app.worker(concurrency=1):
        assert asyncio.run(main()) == "done"


def test_a_result_wait_times_out_with_the_instance_as_it_is(app: App) -> None:
    @app.workflow(name="forever")
    async def forever(ctx: daytwo.AsyncContext) -> Any:
        return await ctx.wait_for_signal("never")

    async def main() -> None:
        client = app.async_client()
        handle = await client.start(forever)
        with pytest.raises(TimeoutError, match="still"):
            await handle.result(timeout=0.3)

    with app.worker(concurrency=1):
        asyncio.run(main())
    assert app.client.result_waits.waited() == 0


def test_async_client_starts_many_and_cancels(app: App) -> None:
    @app.workflow(name="held")
    async def held(ctx: daytwo.AsyncContext, n: int) -> Any:
        return await ctx.wait_for_signal("go")

    async def main() -> list[str]:
        client = app.async_client()
        handles = await client.start_many(held, [1, 2, 3], ids=["h1", "h2", "h3"])
        again = await client.start(held, 1, id="h1")
        assert [h.created for h in handles] == [True, True, True] and not again.created
        await client.cancel("h2", "not needed", by="ops")
        await client.signal("h1", "go", "now")
        await handles[2].cancel()
        outcomes = []
        for handle in handles:
            try:
                outcomes.append(str(await handle.result(timeout=30)))
            except daytwo.WorkflowFailed as failed:
                outcomes.append(str(failed.status))
        return outcomes

    with app.worker(concurrency=2):
        assert asyncio.run(main()) == ["now", "CANCELLED", "CANCELLED"]


def test_an_async_workflow_input_is_checked_at_start(app: App) -> None:
    @app.workflow(name="typed")
    async def typed(ctx: daytwo.AsyncContext, order: dict[str, int]) -> int:
        return sum(order.values())

    with pytest.raises(daytwo.InvalidInput, match="typed"):
        app.start(typed, ["not", "a", "dict"])
    assert app.run(typed, {"a": 1, "b": 2}) == 3


def test_a_step_call_never_awaited_is_reported(app: App, caplog: pytest.LogCaptureFixture) -> None:
    ran: list[str] = []

    @app.step
    def notify(order: str) -> None:
        ran.append(order)

    @app.workflow(name="forgetful")
    async def forgetful(ctx: daytwo.AsyncContext) -> str:
        notify("o")  # the mistake under test: not awaited
        return "done"

    with caplog.at_level("WARNING", logger="daytwo.runner"):
        assert app.run(forgetful) == "done"
    assert ran == []
    assert "without awaiting its call(s) of step notify" in caplog.text
    assert "write `await notify(...)`" in caplog.text
