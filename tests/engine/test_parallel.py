"""Parallel steps: ``ctx.gather`` and ``ctx.map`` (issue 13, item 2)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from _cli import clean_cli_environment, cli_invoker  # noqa: F401 -- an autouse fixture

import daytwo
from daytwo import App, FakeClock, InstanceStatus, Retry, WaitKind

NO_RETRY = Retry(max_attempts=1)
TWO_TRIES = Retry(max_attempts=2, initial_delay=5, backoff=1, max_delay=5, jitter=0)


def _drain(app: App, clock: FakeClock | None = None, rounds: int = 1, step: float = 5) -> None:
    with app.worker(concurrency=1, poll_interval=0.05) as worker:
        for _ in range(rounds):
            worker.drain()
            if clock is not None:
                clock.advance(step)
        worker.drain()


def _rows(app: App, instance_id: str) -> list[tuple[int, str, str, str]]:
    return [(e.seq, e.kind, e.name, e.outcome) for e in app.history(instance_id)]


def test_gather_returns_results_in_argument_order_at_their_positions(app: App) -> None:
    @app.step
    def price(item: str) -> int:
        return len(item)

    @app.step
    def tax(amount: int, *, rate: int) -> int:
        return amount * rate

    @app.workflow(name="quote")
    def quote(ctx: daytwo.Context, items: list[str]) -> dict[str, Any]:
        prices = ctx.map(price, items, concurrency=2)
        mixed = ctx.gather(price.defer("abc"), tax.defer(2, rate=3))
        return {"prices": prices, "mixed": mixed, "empty": ctx.gather()}

    result = app.run("quote", ["a", "bbbb", "cc"], id="q-1")
    assert result == {"prices": [1, 4, 2], "mixed": [3, 6], "empty": []}
    assert _rows(app, "q-1") == [
        (0, "gather", "price", "completed"),
        (1, "step", "price", "completed"),
        (2, "step", "price", "completed"),
        (3, "step", "price", "completed"),
        (4, "gather", "gather", "completed"),
        (5, "step", "price", "completed"),
        (6, "step", "tax", "completed"),
        (7, "gather", "gather", "completed"),
    ]
    branch = app.history("q-1")[2]
    assert branch.idempotency_key == "q-1:2" and branch.args == [["bbbb"], {}]


def test_branches_run_concurrently_within_the_concurrency_bound(app: App) -> None:
    barrier = threading.Barrier(4, timeout=10)
    lock = threading.Lock()
    running = [0, 0]  # now, most

    @app.step
    def meet(n: int) -> int:
        barrier.wait()  # all four must be running at once, or this times out
        return n

    @app.step
    def count(n: int) -> int:
        with lock:
            running[0] += 1
            running[1] = max(running[1], running[0])
        try:
            threading.Event().wait(0.01)
        finally:
            with lock:
                running[0] -= 1
        return n

    @app.workflow(name="fan")
    def fan(ctx: daytwo.Context) -> list[int]:
        return ctx.map(meet, range(4)) + ctx.map(count, range(12), concurrency=3)

    assert app.run("fan", id="f-1") == [*range(4), *range(12)]
    assert 1 <= running[1] <= 3


def test_replay_returns_recorded_results_without_running_steps(
    fake_app: App, clock: FakeClock
) -> None:
    calls: list[int] = []

    @fake_app.step
    def square(n: int) -> int:
        calls.append(n)
        return n * n

    @fake_app.workflow(name="squares")
    def squares(ctx: daytwo.Context) -> list[int]:
        results = ctx.map(square, [1, 2, 3])
        ctx.sleep(10)
        return results

    fake_app.start("squares", id="s-1")
    _drain(fake_app, clock, rounds=2, step=10)
    assert fake_app.get("s-1").status is InstanceStatus.SUCCEEDED
    assert fake_app.get("s-1").output == [1, 4, 9]
    assert sorted(calls) == [1, 2, 3]  # the second run replayed them


def test_a_failing_branch_retries_on_its_own(fake_app: App, clock: FakeClock) -> None:
    tries: dict[int, int] = {}

    @fake_app.step(retry=Retry(max_attempts=3, initial_delay=5, backoff=1, jitter=0))
    def flaky(n: int) -> int:
        tries[n] = tries.get(n, 0) + 1
        if n == 1 and tries[n] < 3:
            raise ConnectionError("try again")
        return n

    @fake_app.workflow(name="retrying")
    def retrying(ctx: daytwo.Context) -> list[int]:
        return ctx.map(flaky, range(3))

    fake_app.start("retrying", id="r-1")
    with fake_app.worker(concurrency=1, poll_interval=0.05) as worker:
        worker.drain()
        waiting = fake_app.get("r-1")
        assert (waiting.status, waiting.wait_kind, waiting.wait_name) == (
            InstanceStatus.WAITING,
            WaitKind.RETRY,
            "flaky",
        )
        assert tries == {0: 1, 1: 1, 2: 1}
        reasons = fake_app.explain("r-1").reasons
        assert (
            "in the fan-out 'flaky' at position 0: 2 of 3 branch(es) done, 0 failed, 1 not "
            "done yet (1 of them after failed attempts)"
        ) in reasons
        for _ in range(2):
            clock.advance(5)
            worker.drain()
    assert fake_app.get("r-1").output == [0, 1, 2]
    assert tries == {0: 1, 1: 3, 2: 1}  # completed branches were not run again
    attempts = [(a.seq, a.attempt) for a in fake_app.attempts("r-1")]
    assert attempts == [(2, 1), (2, 2)]
    assert fake_app.history("r-1")[2].attempt == 3


def test_fail_fast_stops_the_fan_out_and_compensates_completed_branches(app: App) -> None:
    undone: list[int] = []
    started: list[int] = []

    @app.step(retry=NO_RETRY)
    def book(n: int) -> int:
        started.append(n)
        if n == 1:
            raise ValueError("sold out")
        return n

    @book.compensate
    def unbook(n: int, result: int) -> None:
        undone.append(n)

    @app.workflow(name="trip")
    def trip(ctx: daytwo.Context) -> list[int]:
        return ctx.map(book, range(6), concurrency=1)

    with pytest.raises(daytwo.WorkflowFailed):
        app.run("trip", id="t-1")
    assert started == [0, 1]  # with one at a time, nothing started after the failure
    assert undone == [0]
    assert app.get("t-1").status is InstanceStatus.COMPENSATED
    rows = _rows(app, "t-1")
    assert rows[:3] == [
        (0, "gather", "book", "completed"),
        (1, "step", "book", "completed"),
        (2, "step", "book", "failed"),
    ]
    assert [row[3] for row in rows[3:7]] == ["cancelled"] * 4
    assert rows[7][1:] == ("compensation", "book", "completed")


def test_without_fail_fast_every_branch_finishes_and_all_failures_are_reported(app: App) -> None:
    @app.step(retry=NO_RETRY)
    def check(n: int) -> int:
        if n % 2:
            raise ValueError(f"odd {n}")
        return n

    @app.workflow(name="checks")
    def checks(ctx: daytwo.Context) -> dict[str, Any]:
        try:
            ctx.map(check, range(5), fail_fast=False)
        except daytwo.BranchesFailed as failed:
            return {
                "failed": sorted(failed.failures),
                "results": failed.results,
                "first": failed.error_message,
            }
        return {}

    assert app.run("checks", id="c-1") == {
        "failed": [1, 3],
        "results": [0, None, 2, None, 4],
        "first": "odd 1",
    }


def test_bad_input_is_refused(app: App) -> None:
    @app.step
    def one(n: int) -> int:
        return n

    problems: list[str] = []

    @app.workflow(name="bad")
    def bad(ctx: daytwo.Context) -> list[str]:
        attempts: list[Callable[[], object]] = [
            lambda: ctx.gather(one(1)),  # type: ignore[call-overload]
            lambda: ctx.map(one, [1], concurrency=0),
            lambda: ctx.map(one, "abc"),
            lambda: ctx.map(print, [1]),  # type: ignore[arg-type]
        ]
        for attempt in attempts:
            try:
                attempt()
            except daytwo.InvalidInput as exc:
                problems.append(str(exc))
        return problems

    found = app.run("bad", id="b-1")
    assert len(found) == 4
    assert "step.defer" in found[0] and "concurrency" in found[1]


def test_a_branch_past_its_timeout_fails_that_attempt(app: App) -> None:
    attempts: list[int] = []

    @app.step(timeout=0.05, retry=Retry(max_attempts=2, initial_delay=0, jitter=0))
    def slow(n: int) -> int:
        info = daytwo.current_step()
        attempts.append(info.attempt)
        if n == 1 and info.attempt == 1:
            while not info.cancelled:  # stops when asked to, as a long step should
                threading.Event().wait(0.01)
            return -1
        return n

    @app.workflow(name="slow")
    def slow_fan(ctx: daytwo.Context) -> list[int]:
        return ctx.map(slow, range(3))

    assert app.run("slow", id="to-1") == [0, 1, 2]
    failed = app.attempts("to-1")
    assert [(a.seq, a.attempt) for a in failed] == [(2, 1)]
    assert failed[0].error is not None and "did not finish within" in str(failed[0].error)


def test_instance_history_shows_the_branches_at_their_positions(app: App, db_url: str) -> None:
    @app.step
    def double(n: int) -> int:
        return 2 * n

    @app.workflow(name="doubles")
    def doubles(ctx: daytwo.Context) -> list[int]:
        return ctx.map(double, [5, 6])

    app.run("doubles", id="h-1")
    result = cli_invoker(db_url)("instance", "history", "h-1", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["history"]
    assert [(row["seq"], row["kind"], row["name"], row["result"]) for row in rows] == [
        (0, "gather", "double", None),
        (1, "step", "double", 10),
        (2, "step", "double", 12),
    ]
