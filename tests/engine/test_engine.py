"""Execution semantics of the engine on the embedded store (DESIGN.md §3)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

import daytwo
from daytwo import App, FakeClock, Retry


def test_inline_run_records_history_in_call_order(app: App) -> None:
    @app.step
    def add(x: int) -> int:
        return x + 1

    @app.step
    def double(x: int) -> int:
        return x * 2

    @app.workflow(name="calc")
    def calc(ctx: daytwo.Context, x: int) -> dict[str, Any]:
        return {"value": double(add(x)), "at": ctx.now().isoformat()}

    result = app.run("calc", 3, id="calc-1")
    assert result["value"] == 8
    events = app.history("calc-1")
    assert [(e.seq, e.kind, e.name, e.outcome) for e in events] == [
        (0, "step", "add", "completed"),
        (1, "step", "double", "completed"),
        (2, "now", "now", "completed"),
    ]
    assert events[0].args == [[3], {}] and events[0].result == 4
    assert app.get("calc-1").status == "SUCCEEDED"
    assert app.get("calc-1").state == "succeeded"


def test_step_outside_workflow_is_a_plain_call(app: App) -> None:
    @app.step
    def add(x: int) -> int:
        return x + 1

    assert add(1) == 2
    with pytest.raises(daytwo.InvalidInput, match="outside a step"):
        daytwo.current_step()


def test_start_is_idempotent_on_id(app: App) -> None:
    runs: list[int] = []

    @app.step
    def work(x: int) -> int:
        runs.append(x)
        return x

    @app.workflow(name="once")
    def once(ctx: daytwo.Context, x: int) -> int:
        return work(x)

    first = app.start("once", 1, id="same")
    second = app.start("once", 1, id="same")
    assert first.created and not second.created
    assert app.get("same").input == 1
    with app.worker(concurrency=2):
        assert second.result(timeout=10) == 1
    assert runs == [1]
    assert app.run("once", 1, id="same") == 1
    assert runs == [1]


def test_retries_with_backoff_record_every_attempt_with_one_idempotency_key(
    fake_app: App, clock: FakeClock
) -> None:
    keys: list[str] = []

    @fake_app.step(retry=Retry(max_attempts=4, initial_delay=10, backoff=2, jitter=0))
    def flaky() -> str:
        keys.append(daytwo.current_step().idempotency_key)
        if len(keys) < 3:
            raise ConnectionError(f"attempt {len(keys)} failed")
        return "ok"

    @fake_app.workflow(name="flaky")
    def wf(ctx: daytwo.Context, _: Any) -> str:
        return flaky()

    start = clock.now()
    assert fake_app.run("flaky", None, id="f1") == "ok"
    assert len(set(keys)) == 1 and keys[0] == "f1:0"
    attempts = fake_app.attempts("f1")
    assert [a.attempt for a in attempts] == [1, 2]
    assert attempts[0].error["type"] == "ConnectionError"
    # durable backoff: 10 s then 20 s of (fake) time passed
    assert clock.now() - start == pytest.approx(30, abs=0.5)
    assert fake_app.history("f1")[0].attempt == 3


def test_non_retryable_error_fails_at_once_and_workflow_can_catch_it(app: App) -> None:
    @app.step(retry=Retry(max_attempts=5, initial_delay=0, non_retryable=(KeyError,)))
    def lookup() -> str:
        raise KeyError("missing")

    @app.workflow(name="catcher")
    def catcher(ctx: daytwo.Context, _: Any) -> str:
        try:
            return lookup()
        except daytwo.StepFailed as failure:
            return f"fallback after {failure.attempts}: {failure.error_type}"

    assert app.run("catcher", None, id="c1") == "fallback after 1: KeyError"
    assert [e.outcome for e in app.history("c1")] == ["failed"]


def test_compensation_runs_in_reverse_order(app: App) -> None:
    log: list[str] = []

    @app.step
    def reserve(order: dict[str, Any]) -> str:
        log.append("reserve")
        return "r-1"

    @reserve.compensate
    def release(order: dict[str, Any], reservation: str) -> None:
        log.append(f"release {reservation}")

    @app.step
    def charge(order: dict[str, Any]) -> str:
        log.append("charge")
        return "c-1"

    @charge.compensate
    def refund(order: dict[str, Any], charge_id: str) -> None:
        log.append(f"refund {charge_id} of {order['total']}")

    @app.step(retry=Retry(max_attempts=1))
    def ship(order: dict[str, Any]) -> str:
        raise RuntimeError("truck broke down")

    @app.workflow(name="order")
    def order(ctx: daytwo.Context, data: dict[str, Any]) -> str:
        reserve(data)
        charge(data)
        return ship(data)

    with pytest.raises(daytwo.WorkflowFailed, match="COMPENSATED"):
        app.run("order", {"total": 10}, id="o1")
    assert log == ["reserve", "charge", "refund c-1 of 10", "release r-1"]
    instance = app.get("o1")
    assert instance.status == "COMPENSATED"
    assert instance.error is not None and instance.error["type"] == "StepFailed"
    kinds = [(e.kind, e.name) for e in app.history("o1")]
    assert kinds[-2:] == [("compensation", "charge"), ("compensation", "reserve")]


def test_reject_is_not_retried_and_compensates(app: App) -> None:
    calls: list[str] = []

    @app.step
    def book() -> int:
        calls.append("book")
        return 1

    @book.compensate
    def unbook(result: int) -> None:
        calls.append("unbook")

    @app.step(retry=Retry(max_attempts=5, initial_delay=0))
    def check() -> None:
        calls.append("check")
        raise daytwo.Reject("not allowed")

    @app.workflow(name="rej")
    def rej(ctx: daytwo.Context, _: Any) -> None:
        book()
        check()

    with pytest.raises(daytwo.WorkflowFailed):
        app.run("rej", None, id="r1")
    assert calls == ["book", "check", "unbook"]


def test_failing_compensation_ends_compensation_failed(app: App) -> None:
    @app.step
    def pay() -> str:
        return "p"

    @pay.compensate(retry=Retry(max_attempts=2, initial_delay=0, jitter=0))
    def unpay(result: str) -> None:
        raise RuntimeError("refund API down")

    @app.workflow(name="cf")
    def cf(ctx: daytwo.Context, _: Any) -> None:
        pay()
        raise daytwo.Reject("no")

    with pytest.raises(daytwo.WorkflowFailed, match="COMPENSATION_FAILED"):
        app.run("cf", None, id="cf1")
    instance = app.get("cf1")
    assert instance.error is not None
    assert instance.error["compensation_error"]["message"] == "refund API down"
    assert [a.name for a in app.attempts("cf1")] == ["compensate:pay", "compensate:pay"]


def test_durable_timer_suspends_and_resumes(fake_app: App, clock: FakeClock) -> None:
    @fake_app.workflow(name="nap")
    def nap(ctx: daytwo.Context, _: Any) -> str:
        ctx.sleep(timedelta(hours=2), name="cooling-off")
        return "awake"

    handle = fake_app.start("nap", None, id="n1")
    worker = fake_app.worker(concurrency=1).start()
    try:
        worker.drain()
        instance = fake_app.get("n1")
        assert instance.status == "WAITING" and instance.state == "cooling-off"
        assert instance.wait_kind == "timer"
        clock.advance(3600)
        worker.drain()
        assert fake_app.get("n1").status == "WAITING"
        clock.advance(3601)
        assert handle.result(timeout=10) == "awake"
    finally:
        worker.stop()
    [timer] = fake_app.history("n1")
    assert (timer.finished_at - timer.started_at).total_seconds() == pytest.approx(7201)


def test_signal_wait_with_early_signal_and_timeout(fake_app: App, clock: FakeClock) -> None:
    @fake_app.workflow(name="sig")
    def sig(ctx: daytwo.Context, _: Any) -> Any:
        first = ctx.wait_for_signal("first")
        try:
            ctx.wait_for_signal("second", timeout=60)
        except daytwo.WaitTimeout:
            return {"first": first, "second": "timed out"}
        return {"first": first}

    fake_app.start("sig", None, id="s1")
    fake_app.signal("s1", "first", {"n": 1})  # before the workflow waits
    with fake_app.worker(concurrency=1) as worker:
        worker.drain()
        assert fake_app.get("s1").state == "second"
        clock.advance(61)
        assert fake_app.result("s1", timeout=10) == {"first": {"n": 1}, "second": "timed out"}
    outcomes = [(e.name, e.outcome) for e in fake_app.history("s1")]
    assert outcomes == [("first", "completed"), ("second", "timed_out")]


def test_human_task_inbox_complete_and_reassign(app: App) -> None:
    @app.workflow(name="approval")
    def approval(ctx: daytwo.Context, amount: int) -> str:
        decision = ctx.human_task(
            "manager-approval", assignee="role:sales-manager", due=timedelta(hours=4),
            payload={"amount": amount},
        )  # fmt: skip
        return "approved" if decision["approved"] else "rejected"

    handle = app.start("approval", 1500, id="a1")
    with app.worker(concurrency=2) as worker:
        worker.drain()
        [task] = app.tasks.list()
        assert task.name == "manager-approval" and task.payload == {"amount": 1500}
        assert task.assignee == "role:sales-manager" and task.due_at is not None
        app.tasks.reassign(task.id, "alice")
        assert app.tasks.get(task.id).assignee == "alice"
        app.tasks.complete(task.id, {"approved": True}, by="alice")
        assert handle.result(timeout=10) == "approved"
    done = app.tasks.get(task.id)
    assert done.status == "completed" and done.completed_by == "alice"
    with pytest.raises(daytwo.NotRunnable):
        app.tasks.complete(task.id, {"approved": False})


def test_cancel_waiting_instance_runs_compensations(app: App) -> None:
    undone: list[str] = []

    @app.step
    def hold() -> str:
        return "h"

    @hold.compensate
    def unhold(result: str) -> None:
        undone.append(result)

    @app.workflow(name="cancellable")
    def cancellable(ctx: daytwo.Context, _: Any) -> None:
        hold()
        ctx.wait_for_signal("never")

    handle = app.start("cancellable", None, id="x1")
    with app.worker(concurrency=1) as worker:
        worker.drain()
        handle.cancel("customer changed their mind")
        with pytest.raises(daytwo.WorkflowFailed, match="CANCELLED"):
            handle.result(timeout=10)
    assert undone == ["h"]
    with pytest.raises(daytwo.NotRunnable):
        app.cancel("x1")


def test_deterministic_values_replay_identically(fake_app: App, clock: FakeClock) -> None:
    seen: list[tuple[str, str, float]] = []

    @fake_app.workflow(name="det")
    def det(ctx: daytwo.Context, _: Any) -> list[Any]:
        values = (ctx.now().isoformat(), str(ctx.uuid()), ctx.random())
        seen.append(values)
        ctx.sleep(10)
        return list(values)

    with fake_app.worker(concurrency=1) as worker:
        fake_app.start("det", None, id="d1")
        worker.drain()
        clock.advance(11)
        result = fake_app.result("d1", timeout=10)
    assert len(seen) == 2 and seen[0] == seen[1]
    assert result == list(seen[0])


def test_state_transitions_are_recorded(fake_app: App, clock: FakeClock) -> None:
    @fake_app.step
    def one() -> None:
        clock.advance(5)

    @fake_app.workflow(name="states")
    def states(ctx: daytwo.Context, _: Any) -> None:
        one()
        ctx.sleep(30, name="wait-a-bit")

    # An inline run is created straight into its first state; a started one is queued.
    fake_app.run("states", None, id="t1")
    moves = [(t.from_state, t.to_state) for t in fake_app.transitions("t1")]
    assert moves == [(None, "one"), ("one", "wait-a-bit"), ("wait-a-bit", "succeeded")]
    with fake_app.worker(concurrency=1) as worker:
        fake_app.start("states", None, id="t2")
        worker.drain()
        clock.advance(31)
        fake_app.result("t2", timeout=10)
    moves = [(t.from_state, t.to_state) for t in fake_app.transitions("t2")]
    assert moves == [
        (None, "queued"),
        ("queued", "one"),
        ("one", "wait-a-bit"),
        ("wait-a-bit", "succeeded"),
    ]


def test_values_that_are_not_json_are_refused_with_the_path(app: App) -> None:
    @app.workflow(name="j")
    def j(ctx: daytwo.Context, _: Any) -> None:
        return None

    with pytest.raises(daytwo.SerializationError, match=r"input of workflow 'j'.*\['when'\]"):
        app.start("j", {"when": object()})
    circular: list[Any] = []
    circular.append(circular)
    with pytest.raises(daytwo.SerializationError, match="circular reference"):
        app.start("j", {"loop": circular})
    with pytest.raises(daytwo.SerializationError, match=r"nan \(float\)"):
        app.start("j", float("nan"))
    assert app.list() == []


def test_step_results_reach_the_workflow_as_json_gives_them_back(app: App) -> None:
    @app.step
    def produce(kind: str) -> Any:
        return {"tuple": (1, 2), "int": 7, "text": "é", "none": None}[kind]

    @app.workflow(name="shapes")
    def shapes(ctx: daytwo.Context, _: Any) -> list[Any]:
        return [[type(v).__name__, v] for v in map(produce, ["tuple", "int", "text", "none"])]

    expected = [["list", [1, 2]], ["int", 7], ["str", "é"], ["NoneType", None]]
    assert app.run("shapes", None) == expected


def test_unknown_names_give_clear_errors(app: App) -> None:
    @app.workflow(name="known")
    def known(ctx: daytwo.Context, _: Any) -> None:
        return None

    with pytest.raises(daytwo.WorkflowNotFound, match="registered workflows: known"):
        app.start("unknown")
    with pytest.raises(daytwo.InstanceNotFound, match="daytwo list"):
        app.get("nope")
    with pytest.raises(daytwo.InstanceNotFound):
        app.signal("nope", "x")
    with pytest.raises(daytwo.TaskNotFound):
        app.tasks.complete("nope")
    with pytest.raises(daytwo.InvalidInput, match="unknown status"):
        app.list(status="DONE")


def test_step_timeout_fails_the_attempt_and_retries(app: App) -> None:
    import threading

    release = threading.Event()
    calls: list[int] = []

    @app.step(timeout=0.1, retry=Retry(max_attempts=2, initial_delay=0, jitter=0))
    def slow() -> str:
        calls.append(1)
        if len(calls) == 1:
            release.wait(5)  # the first attempt hangs past its timeout
        return "done"

    @app.workflow(name="timeouts")
    def timeouts(ctx: daytwo.Context, _: Any) -> str:
        return slow()

    try:
        assert app.run("timeouts", None, id="to1") == "done"
    finally:
        release.set()
    [attempt] = app.attempts("to1")
    assert attempt.error["type"] == "StepTimeout"


def test_cancel_while_a_step_runs_compensates_that_step(app: App) -> None:
    import threading

    entered, proceed = threading.Event(), threading.Event()
    undone: list[str] = []

    @app.step
    def long_call() -> str:
        entered.set()
        proceed.wait(5)
        return "made"

    @long_call.compensate
    def undo(result: str) -> None:
        undone.append(result)

    @app.step
    def never() -> None:
        raise AssertionError("must not run after the cancel")

    @app.workflow(name="cancel-running")
    def cancel_running(ctx: daytwo.Context, _: Any) -> None:
        long_call()
        never()

    handle = app.start("cancel-running", None, id="cr1")
    with app.worker(concurrency=1):
        assert entered.wait(5)
        handle.cancel("stop it")
        proceed.set()
        with pytest.raises(daytwo.WorkflowFailed, match="CANCELLED"):
            handle.result(timeout=10)
    assert undone == ["made"]
    assert app.get("cr1").error == {"type": "Cancelled", "message": "stop it"}


def test_workflow_code_swallowing_exceptions_cannot_swallow_suspension(
    fake_app: App, clock: FakeClock
) -> None:
    @fake_app.workflow(name="greedy")
    def greedy(ctx: daytwo.Context, _: Any) -> str:
        try:
            ctx.sleep(60)
        except Exception:
            return "swallowed"
        return "slept"

    fake_app.start("greedy", None, id="g1")
    with fake_app.worker(concurrency=1) as worker:
        worker.drain()
        assert fake_app.get("g1").status == "WAITING"
        clock.advance(61)
        assert fake_app.result("g1", timeout=10) == "slept"


def test_instance_of_unregistered_version_is_left_for_a_worker_that_has_it(db_url: str) -> None:
    old = App(db_url)

    @old.workflow(name="pinned", version="1.0")
    def pinned_v1(ctx: daytwo.Context, _: Any) -> str:
        return "v1"

    old.start("pinned", None, id="p1")
    new = App(db_url)

    @new.workflow(name="pinned", version="2.0")
    def pinned_v2(ctx: daytwo.Context, _: Any) -> str:
        return "v2"

    with new.worker(concurrency=1) as worker:
        worker.drain()
        assert new.get("p1").status == "RUNNABLE"  # pinned to 1.0; not run by 2.0 code
    with old.worker(concurrency=1):
        assert old.result("p1", timeout=10) == "v1"


def test_a_failed_commit_stops_the_run_without_failing_the_workflow(
    fake_app: App, clock: FakeClock
) -> None:
    """A database error under a running workflow is not a workflow failure: nothing is
    compensated, and the instance finishes once the store works again."""
    calls: list[str] = []

    @fake_app.step
    def reserve(n: int) -> int:
        calls.append("reserve")
        return n

    @reserve.compensate
    def release(n: int, _result: int) -> None:
        calls.append("release")

    @fake_app.step
    def charge(n: int) -> int:
        calls.append("charge")
        return n

    @fake_app.workflow(name="order")
    def order(ctx: daytwo.Context, n: int) -> int:
        return charge(reserve(n))

    store = fake_app.store
    real_apply = store.apply
    commits = 0

    def flaky_apply(writes: Any, claims: Any = ()) -> Any:
        nonlocal commits
        commits += 1
        if commits == 2:  # the commit before charge's side effect
            raise ConnectionError("server closed the connection unexpectedly")
        return real_apply(writes, claims)

    store.apply = flaky_apply  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        fake_app.run("order", 1, id="o1")
    assert fake_app.get("o1").status == "RUNNING"
    assert calls == ["reserve"]
    clock.advance(daytwo.app.INLINE_LEASE_SECONDS + 1)
    with fake_app.worker(concurrency=1) as worker:
        worker.drain()
    assert fake_app.result("o1", timeout=5) == 1
    assert "release" not in calls and calls.count("charge") == 1
