"""``client.explain(id)``: what an instance waits for and why, and the actions that apply
now; ``client.workers()``: the live workers with their instances in flight."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from _harness import wait_until

import daytwo
from daytwo import App, Context, FakeClock, OperatorAction


def _commands(explanation: daytwo.Explanation) -> list[OperatorAction]:
    return [action.action for action in explanation.actions]


@pytest.fixture
def waits(fake_app: App) -> App:
    @fake_app.step(retry=daytwo.Retry(max_attempts=5, initial_delay=60, jitter=0.0))
    def flaky() -> None:
        raise ConnectionError("payments-api: 503 Service Unavailable")

    @fake_app.step(dependency="payments-api")
    def charge() -> int:
        return 1

    @fake_app.workflow(name="signal-wait")
    def signal_wait(ctx: Context) -> Any:
        return ctx.wait_for_signal("approved", timeout=3600)

    @fake_app.workflow(name="task-wait")
    def task_wait(ctx: Context) -> Any:
        return ctx.human_task("approve", assignee="alice", due=7200, payload={"amount": 5})

    @fake_app.workflow(name="timer-wait")
    def timer_wait(ctx: Context) -> None:
        ctx.sleep(600, name="cool-off")

    @fake_app.workflow(name="retrying")
    def retrying(ctx: Context) -> None:
        flaky()

    @fake_app.workflow(name="charging")
    def charging(ctx: Context) -> int:
        return charge()

    return fake_app


def test_each_wait_says_what_it_waits_for(waits: App, clock: FakeClock) -> None:
    for name in ("signal-wait", "task-wait", "timer-wait", "retrying"):
        waits.start(name, id=name)
    with waits.worker(concurrency=4) as worker:
        worker.drain()
    signal = waits.explain("signal-wait")
    assert signal.summary.startswith("signal-wait (signal-wait 1) is WAITING in state 'approved'")
    assert "waits for signal 'approved'; times out at" in signal.reasons[0]
    assert "(in 1.0h)" in signal.reasons[0]
    assert _commands(signal) == [
        OperatorAction.WAKE,
        OperatorAction.CANCEL,
        OperatorAction.ABORT,
        OperatorAction.TERMINATE,
    ]
    task = waits.explain("task-wait")
    [task_row] = waits.tasks.list()
    assert task.reasons == [
        f"waits for human task 'approve' ({task_row.id}) assigned to alice, due in 2.0h"
    ]
    assert f"daytwo task complete {task_row.id} RESULT_JSON" in [a.command for a in task.actions]
    clock.advance(3 * 3600)
    assert "overdue by 1.0h" in waits.explain("task-wait").reasons[0]
    timer = waits.explain("timer-wait")
    assert timer.reasons[0].startswith("a timer (cool-off) fires at")
    retry = waits.explain("retrying")
    assert retry.reasons[0].startswith("step 'flaky' failed attempt 1; attempt 2 at")
    assert retry.reasons[1] == "last error: ConnectionError: payments-api: 503 Service Unavailable"
    assert _commands(retry)[:3] == [OperatorAction.RETRY, OperatorAction.SKIP, OperatorAction.WAKE]


def test_a_paused_step_and_a_dependency_limit_are_named(waits: App) -> None:
    waits.flow.pause("charging", "charge", reason="PSP down", by="ann")
    waits.start("charging", id="paused")
    with waits.worker(concurrency=1) as worker:
        worker.drain()
    [line] = waits.explain("paused").reasons
    assert "held at step 'charge', paused by ann at" in line
    assert line.endswith(": PSP down; daytwo workflow resume charging --step charge")


def test_a_throttled_step_names_its_dependency_and_its_limit(fake_app: App) -> None:
    inside, release = threading.Event(), threading.Event()

    @fake_app.step(dependency="payments-api")
    def charge() -> int:
        inside.set()
        release.wait(30)
        return 1

    @fake_app.workflow(name="charging")
    def charging(ctx: Context) -> int:
        return charge()

    fake_app.flow.set_dependency_limit("payments-api", 1, force=True)
    fake_app.start("charging", id="first")
    fake_app.start("charging", id="second")
    with fake_app.worker(concurrency=2):
        inside.wait(30)

        def statuses() -> dict[str, str]:
            return {str(fake_app.get(i).status): i for i in ("first", "second")}

        wait_until(lambda: "WAITING" in statuses(), timeout=30)
        held = statuses()
        reasons = fake_app.explain(held["WAITING"]).reasons
        running = fake_app.explain(held["RUNNING"]).reasons
        [info] = fake_app.client.workers()
        release.set()
    assert reasons[0] == (
        "step 'charge' waits for a slot of dependency 'payments-api' (limit 1, 1 call(s) in "
        "flight); daytwo dependency set payments-api --concurrency N"
    )
    assert running[0].startswith(f"running on worker {info.id} on {info.host} (pid {info.pid}")
    assert ", attempt 1 of step 'charge' in flight; its lease expires at" in running[0]
    assert info.in_flight == 1 and info.live and info.workflows == ("charging@1",)


def test_an_unserved_runnable_instance_and_an_ended_one(waits: App) -> None:
    waits.start("timer-wait", id="t", queue="nobody-serves-this")
    explained = waits.explain("t")
    assert explained.reasons[0].startswith("runnable since")
    assert "queue 'nobody-serves-this'" in explained.reasons[0]
    assert explained.reasons[1].startswith("due, but no live worker")
    waits.cancel("t", "not needed", by="ann")
    with waits.worker(concurrency=1, queues=["nobody-serves-this"]) as worker:
        worker.drain()
    ended = waits.explain("t")
    assert ended.reasons == []
    assert _commands(ended) == [OperatorAction.RESTART, OperatorAction.FORK]
    with pytest.raises(daytwo.InstanceNotFound):
        waits.explain("nope")


def test_workers_lists_live_workers_and_with_all_the_stopped(fake_app: App) -> None:
    @fake_app.workflow(name="noop")
    def noop(ctx: Context) -> None:
        return None

    with fake_app.worker(concurrency=3):
        [live] = fake_app.client.workers()
        assert (live.concurrency, live.in_flight, live.stopped_at) == (3, 0, None)
        assert live.queues == ("default",) and live.to_dict()["workflows"] == ["noop@1"]
    assert fake_app.client.workers() == []
    [stopped] = fake_app.client.workers(stopped=True)
    assert stopped.id == live.id and stopped.stopped_at is not None and not stopped.live


def test_a_parked_instance_names_its_step_error_and_the_actions(fake_app: App) -> None:
    @fake_app.step(retry=daytwo.Retry(max_attempts=1), on_failure=daytwo.FailurePolicy.PARK)
    def charge() -> None:
        raise ConnectionError("card declined by the PSP: try later")

    @fake_app.workflow(name="order")
    def order(ctx: Context) -> None:
        charge()

    fake_app.start("order", id="o-1")
    with fake_app.worker(concurrency=1) as worker:
        worker.drain()
    explained = fake_app.explain("o-1")
    assert explained.summary.startswith("o-1 (order 1) is NEEDS_ATTENTION")
    assert explained.reasons == [
        "parked at step 'charge' after 1 attempt(s): its failure policy is park, and it "
        "waits for an operator",
        "last error: ConnectionError: card declined by the PSP: try later",
    ]
    assert _commands(explained) == [
        OperatorAction.RETRY,
        OperatorAction.SKIP,
        OperatorAction.RESUME,
        OperatorAction.CANCEL,
        OperatorAction.ABORT,
        OperatorAction.TERMINATE,
    ]


def test_a_circuit_wait_names_the_breaker_and_how_to_close_it(fake_app: App) -> None:
    fake_app.circuit_breaker(
        "psp", daytwo.BreakerPolicy(failure_rate=50, window=4, minimum_calls=2, open_for=60)
    )

    @fake_app.step(dependency="psp", retry=daytwo.Retry(max_attempts=5, initial_delay=1))
    def charge() -> None:
        raise ConnectionError("psp down")

    @fake_app.workflow(name="order")
    def order(ctx: Context) -> None:
        charge()

    for n in range(3):
        fake_app.start("order", id=f"o-{n}")
    with fake_app.worker(concurrency=1) as worker:
        worker.drain()
    held = [i for i in fake_app.list() if i.state == "circuit open: psp"]
    assert held, [i.state for i in fake_app.list()]
    explained = fake_app.explain(held[0].id)
    assert explained.reasons[0].startswith("step 'charge' waits: the circuit of 'psp' is open")
    assert "may half-open at" in explained.reasons[0]
    assert explained.actions[0].command == "daytwo breaker close psp"
    assert explained.actions[0].action is OperatorAction.BREAKER_CLOSE
