"""Composition across the issue-13 operations: children fanned in by ``ctx.gather``, and
children, fan-outs and async steps from an async workflow."""

from __future__ import annotations

import asyncio

import pytest

import daytwo
from daytwo import App, ChildFailed


def _register(app: App) -> None:
    @app.step
    def square(n: int) -> int:
        if n < 0:
            raise daytwo.Reject(f"{n} is negative")
        return n * n

    @app.step
    async def cube(n: int) -> int:
        await asyncio.sleep(0)
        return n * n * n

    @app.workflow(name="squarer")
    def squarer(ctx: daytwo.Context, n: int) -> int:
        return square(n)

    @app.workflow(name="fan-in")
    def fan_in(ctx: daytwo.Context, numbers: list[int]) -> list[int]:
        handles = [ctx.start_child(squarer, n) for n in numbers]
        return ctx.gather(*handles)

    @app.workflow(name="fan-in-all")
    def fan_in_all(ctx: daytwo.Context, numbers: list[int]) -> str:
        handles = [ctx.start_child(squarer, n) for n in numbers]
        try:
            ctx.gather(*handles, fail_fast=False)
        except ChildFailed as failed:
            return f"{failed.child_id} {failed.status}"
        return "all succeeded"

    @app.workflow(name="async-composed")
    async def async_composed(ctx: daytwo.AsyncContext, numbers: list[int]) -> dict[str, object]:
        handles = [await ctx.start_child(squarer, n) for n in numbers]
        squares = await ctx.gather(*handles)
        cubes = await ctx.map(cube, numbers, concurrency=2)
        first = await handles[0].result()
        both = await ctx.gather(cube.defer(2), cube.defer(3))
        return {
            "squares": squares,
            "cubes": cubes,
            "first": first,
            "both": both,
            "child": await ctx.child("squarer", 9),
        }


def test_gather_of_child_handles_is_their_fan_in(app: App) -> None:
    _register(app)
    app.start("fan-in", [1, 2, 3], id="in")
    app.start("fan-in-all", [4, -5, 6], id="all")
    with app.worker(concurrency=4, poll_interval=0.05):
        assert app.result("in", timeout=30) == [1, 4, 9]
        assert app.result("all", timeout=30) == "all:1 FAILED"
    kinds = [(event.kind, event.name) for event in app.history("in")]
    assert kinds == [("child_start", "squarer")] * 3 + [("child", "squarer")] * 3
    # fail_fast=False waited for every child, the failed one included.
    assert [event.kind for event in app.history("all")].count(daytwo.HistoryKind.CHILD) == 3


def test_an_async_workflow_starts_children_fans_out_and_fans_in(app: App) -> None:
    _register(app)
    app.start("async-composed", [1, 2, 3], id="async")
    with app.worker(concurrency=4, poll_interval=0.05):
        assert app.result("async", timeout=30) == {
            "squares": [1, 4, 9],
            "cubes": [1, 8, 27],
            "first": 1,
            "both": [8, 27],
            "child": 81,
        }


def test_gather_refuses_steps_and_children_mixed(app: App) -> None:
    _register(app)

    @app.workflow(name="mixed")
    def mixed(ctx: daytwo.Context) -> object:
        square = app.registry.step("square")
        assert square is not None
        handle = ctx.start_child("squarer", 2)
        try:
            ctx.gather(square.defer(1), handle)  # type: ignore[call-overload]
        except daytwo.InvalidInput as refused:
            return str(refused)
        return "accepted"

    app.start("mixed", id="m")
    with app.worker(concurrency=2, poll_interval=0.05):
        message = app.result("m", timeout=30)
    assert "gather steps and children in separate calls" in message


@pytest.mark.parametrize("fail_fast", [True, False])
def test_fail_fast_is_checked_for_children_too(app: App, fail_fast: bool) -> None:
    _register(app)

    @app.workflow(name="bad-flag")
    def bad_flag(ctx: daytwo.Context) -> str:
        try:
            ctx.gather(ctx.start_child("squarer", 1), fail_fast="yes")  # type: ignore[call-overload]
        except daytwo.InvalidInput as refused:
            return str(refused)
        return "accepted"

    app.start("bad-flag", id=f"f-{fail_fast}")
    with app.worker(concurrency=2, poll_interval=0.05):
        assert "fail_fast must be True or False" in app.result(f"f-{fail_fast}", timeout=30)


def test_children_and_scheduled_instances_get_their_workflows_deadline(
    fake_app: App, clock: daytwo.FakeClock
) -> None:
    """Every way an instance is made lays out its row in one place (queued_instance), so a
    child and a schedule's tick get the deadline of their workflow's ``timeout=``."""
    from datetime import timedelta

    from daytwo.worker import Scheduler

    @fake_app.workflow(name="bounded", timeout=timedelta(hours=2))
    def bounded(ctx: daytwo.Context) -> None:
        ctx.sleep(60)

    @fake_app.workflow(name="starter")
    def starter(ctx: daytwo.Context) -> None:
        ctx.start_child(bounded)

    fake_app.schedule(every=timedelta(minutes=1), workflow="bounded", name="tick")
    fake_app.start("starter", id="s")
    with fake_app.worker(concurrency=2, poll_interval=0.05) as worker:
        [scheduler] = [s for s in worker.services if isinstance(s, Scheduler)]
        clock.advance(60)
        scheduler.tick_due()
        fake_app.result("s", timeout=30)
    [ticked] = [i for i in fake_app.list(workflow="bounded") if i.id.startswith("schedule:")]
    for instance_id in ("s:0", ticked.id):
        instance = fake_app.get(instance_id)
        assert instance.deadline_at is not None
        assert instance.deadline_at.timestamp() == pytest.approx(
            instance.created_at.timestamp() + 7200
        )
