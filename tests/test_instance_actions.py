"""Operator actions on one instance: retry, skip, resume, abort, terminate, wake (issue 12,
item 2). Each is checked against the instance's state, audited, and returns the instance."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

import daytwo
from daytwo import App, AuditOutcome, FakeClock, InstanceStatus, OperatorAction, Retry, WaitKind

TWO_TRIES = Retry(max_attempts=2, initial_delay=5, backoff=1, max_delay=5, jitter=0)


class Payments:
    """A dependency the test turns on and off; records each call's idempotency key."""

    def __init__(self) -> None:
        self.down = True
        self.keys: list[tuple[str, int]] = []


@pytest.fixture
def payments() -> Payments:
    return Payments()


@pytest.fixture
def order_app(fake_app: App, payments: Payments) -> App:
    """``order``: reserve (compensated by release), charge (parks when it fails for good),
    then ship; the charge fails while ``payments.down``."""
    released: list[str] = []
    fake_app.released = released  # type: ignore[attr-defined]

    @fake_app.step
    def reserve() -> str:
        return "r-1"

    @reserve.compensate
    def release(reservation: str) -> None:
        released.append(reservation)

    @fake_app.step(retry=TWO_TRIES, on_failure="park")
    def charge(total: int) -> str:
        info = daytwo.current_step()
        payments.keys.append((info.idempotency_key, info.attempt))
        if payments.down:
            raise ConnectionError("payments API down")
        return f"receipt-{total}"

    @fake_app.step
    def ship(receipt: str) -> str:
        return f"shipped with {receipt}"

    @fake_app.workflow(name="order")
    def order(ctx: daytwo.Context, total: int) -> Any:
        reserve()
        receipt = charge(total)
        return ship(receipt)

    @fake_app.workflow(name="order-then-fail")
    def order_then_fail(ctx: daytwo.Context, total: int) -> Any:
        reserve()
        receipt = charge(total)
        ctx.wait_for_signal("go")  # a suspension: the next run replays the skipped step
        raise RuntimeError(f"failing after {receipt}")

    @fake_app.workflow(name="waits")
    def waits(ctx: daytwo.Context) -> Any:
        return ctx.wait_for_signal("go")

    return fake_app


@pytest.fixture
def worker(order_app: App, clock: FakeClock) -> Iterator[Any]:
    with order_app.worker(concurrency=1, poll_interval=0.05) as running:
        yield running


def _settle(worker: Any, clock: FakeClock, rounds: int = 3) -> None:
    """Run everything due, letting each retry backoff (5 s) pass."""
    for _ in range(rounds):
        worker.drain()
        clock.advance(5)
    worker.drain()


def _parked(app: App, worker: Any, clock: FakeClock, instance_id: str = "o-1") -> None:
    app.start("order", 10, id=instance_id)
    _settle(worker, clock)
    assert app.get(instance_id).status is InstanceStatus.NEEDS_ATTENTION


def _audit(app: App) -> list[tuple[str, str, str, str | None]]:
    return [(r.action, r.actor, r.outcome, r.reason) for r in app.client.audit.list()]


# -- retry ----------------------------------------------------------------------------------


def test_retry_runs_a_parked_step_again_with_the_same_key_and_a_fresh_budget(
    order_app: App, worker: Any, clock: FakeClock, payments: Payments
) -> None:
    _parked(order_app, worker, clock)
    retried = order_app.retry("o-1", reason="payments back?", by="ann")
    # (The worker may have taken it already, and even seen that attempt fail: waiting for
    # its backoff.)
    assert retried.status in (
        InstanceStatus.RUNNABLE, InstanceStatus.RUNNING, InstanceStatus.WAITING,
    )  # fmt: skip
    assert retried.state == "charge"
    _settle(worker, clock)
    # Two more attempts (a fresh budget of two), numbered on, then parked again.
    again = order_app.get("o-1")
    assert (again.status, again.attempt) == (InstanceStatus.NEEDS_ATTENTION, 4)
    assert payments.keys == [("o-1:1", n) for n in (1, 2, 3, 4)]
    payments.down = False
    order_app.retry("o-1", by="ann")
    _settle(worker, clock)
    done = order_app.get("o-1")
    assert (done.status, done.output) == (InstanceStatus.SUCCEEDED, "shipped with receipt-10")
    assert payments.keys[-1] == ("o-1:1", 5)
    charge = order_app.history("o-1")[1]
    assert (charge.name, charge.outcome, charge.attempt, charge.idempotency_key) == (
        "charge",
        "completed",
        5,
        "o-1:1",
    )
    assert _audit(order_app) == [
        (OperatorAction.RETRY, "ann", AuditOutcome.DONE, None),
        (OperatorAction.RETRY, "ann", AuditOutcome.DONE, "payments back?"),
    ]
    states = [t.to_state for t in order_app.transitions("o-1")]
    assert states.count("parked:charge") == 2


def test_retry_ends_a_retry_backoff_now_without_a_fresh_budget(
    order_app: App, worker: Any, clock: FakeClock, payments: Payments
) -> None:
    order_app.start("order", 10, id="o-1")
    worker.drain()
    waiting = order_app.get("o-1")
    assert (waiting.status, waiting.wait_kind) == (InstanceStatus.WAITING, WaitKind.RETRY)
    order_app.retry("o-1", by="ann")
    worker.drain()  # no clock advance: the backoff is over
    parked = order_app.get("o-1")
    assert (parked.status, parked.attempt) == (InstanceStatus.NEEDS_ATTENTION, 2)
    assert payments.keys == [("o-1:1", 1), ("o-1:1", 2)]


def test_a_refused_retry_is_audited_and_changes_nothing(
    order_app: App, worker: Any, clock: FakeClock, payments: Payments
) -> None:
    payments.down = False
    order_app.start("order", 10, id="o-1")
    _settle(worker, clock)
    before = order_app.get("o-1")
    assert before.status is InstanceStatus.SUCCEEDED
    with pytest.raises(daytwo.NotRunnable, match=r"already ended SUCCEEDED.*retry applies to"):
        order_app.retry("o-1", reason="oops", by="bob")
    assert order_app.get("o-1") == before
    [refused] = order_app.client.audit.list()
    assert (refused.action, refused.outcome, refused.actor) == (
        OperatorAction.RETRY,
        AuditOutcome.REFUSED,
        "bob",
    )
    assert "SUCCEEDED" in (refused.detail or "")
    with pytest.raises(daytwo.InstanceNotFound):
        order_app.retry("nope")


# -- skip -----------------------------------------------------------------------------------


def test_skip_records_the_operators_result_and_the_instance_runs_on(
    order_app: App, worker: Any, clock: FakeClock
) -> None:
    _parked(order_app, worker, clock)
    skipped = order_app.skip("o-1", "receipt-by-phone", reason="charged by phone", by="ann")
    assert skipped.status is not InstanceStatus.NEEDS_ATTENTION
    _settle(worker, clock)
    done = order_app.get("o-1")
    assert (done.status, done.output) == (InstanceStatus.SUCCEEDED, "shipped with receipt-by-phone")
    charge = order_app.history("o-1")[1]
    assert (charge.name, charge.outcome, charge.result, charge.idempotency_key) == (
        "charge",
        "completed",
        "receipt-by-phone",
        "o-1:1",
    )
    assert charge.detail == {"skipped_by": "ann", "reason": "charged by phone"}
    assert _audit(order_app) == [
        (OperatorAction.SKIP, "ann", AuditOutcome.DONE, "charged by phone")
    ]


def test_a_skipped_result_replays_like_a_recorded_one_and_is_not_compensated(
    order_app: App, worker: Any, clock: FakeClock
) -> None:
    order_app.start("order-then-fail", 10, id="o-2")
    _settle(worker, clock)
    order_app.skip("o-2", {"receipt": "manual"}, by="ann")
    _settle(worker, clock)
    assert order_app.get("o-2").wait_kind is WaitKind.SIGNAL
    order_app.signal("o-2", "go")
    _settle(worker, clock)
    ended = order_app.get("o-2")
    assert ended.status is InstanceStatus.COMPENSATED
    assert ended.error is not None and "{'receipt': 'manual'}" in ended.error["message"]
    # reserve was compensated; the skipped charge (never executed) was not.
    compensations = [h.name for h in order_app.history("o-2") if h.kind == "compensation"]
    assert compensations == ["reserve"]
    assert order_app.released == ["r-1"]  # type: ignore[attr-defined]


def test_a_skip_result_that_does_not_serialize_is_one_line_and_changes_nothing(
    order_app: App, worker: Any, clock: FakeClock
) -> None:
    _parked(order_app, worker, clock)
    before = order_app.get("o-1")
    with pytest.raises(daytwo.InvalidInput, match="not JSON-serializable") as refused:
        order_app.skip("o-1", {"at": object()}, by="ann")
    assert "\n" not in str(refused.value)
    assert order_app.get("o-1") == before
    assert len(order_app.history("o-1")) == 1
    [row] = order_app.client.audit.list()
    assert (row.action, row.outcome) == (OperatorAction.SKIP, AuditOutcome.REFUSED)


def test_skip_is_refused_for_a_waiting_instance(
    order_app: App, worker: Any, clock: FakeClock
) -> None:
    order_app.start("waits", id="w-1")
    worker.drain()
    with pytest.raises(daytwo.NotRunnable, match=r"WAITING \(signal 'go'\)"):
        order_app.skip("w-1", 1, by="ann")
    assert order_app.get("w-1").status is InstanceStatus.WAITING
    assert order_app.client.audit.list()[0].outcome is AuditOutcome.REFUSED


# -- resume ---------------------------------------------------------------------------------


def test_resume_continues_a_parked_instance_under_the_code_deployed_now(
    order_app: App, worker: Any, clock: FakeClock, payments: Payments
) -> None:
    _parked(order_app, worker, clock)
    payments.down = False  # the fix
    order_app.resume("o-1", reason="payments fixed", by="ann")
    _settle(worker, clock)
    assert order_app.get("o-1").status is InstanceStatus.SUCCEEDED
    assert payments.keys[-1] == ("o-1:1", 3)
    assert _audit(order_app) == [
        (OperatorAction.RESUME, "ann", AuditOutcome.DONE, "payments fixed")
    ]


def test_resume_is_refused_for_an_instance_in_a_backoff(
    order_app: App, worker: Any, clock: FakeClock
) -> None:
    order_app.start("order", 10, id="o-1")
    worker.drain()
    before = order_app.get("o-1")
    assert before.wait_kind is WaitKind.RETRY
    with pytest.raises(daytwo.NotRunnable, match=r"WAITING \(retry 'charge'\).*retry runs"):
        order_app.resume("o-1", by="ann")
    assert order_app.get("o-1") == before
    assert order_app.client.audit.list()[0].outcome is AuditOutcome.REFUSED


# -- abort ----------------------------------------------------------------------------------


def test_abort_compensates_a_parked_instance_at_once(
    order_app: App, worker: Any, clock: FakeClock
) -> None:
    _parked(order_app, worker, clock)
    order_app.abort("o-1", reason="customer gave up", by="ann")
    _settle(worker, clock)
    ended = order_app.get("o-1")
    assert ended.status is InstanceStatus.COMPENSATED
    assert ended.error is not None
    assert (ended.error["type"], ended.error["message"]) == (
        "Aborted",
        "aborted by ann: customer gave up",
    )
    assert ended.error["failure"] == "ConnectionError: payments API down"
    assert order_app.released == ["r-1"]  # type: ignore[attr-defined]
    charge = order_app.history("o-1")[1]
    assert (charge.name, charge.outcome, charge.attempt) == ("charge", "failed", 2)
    assert charge.detail == {"aborted_by": "ann", "reason": "customer gave up"}
    assert charge.error is not None and charge.error["message"] == "payments API down"
    assert _audit(order_app) == [
        (OperatorAction.ABORT, "ann", AuditOutcome.DONE, "customer gave up")
    ]


def test_abort_of_a_waiting_instance_is_a_cancel_recorded_as_an_abort(
    order_app: App, worker: Any, clock: FakeClock
) -> None:
    order_app.start("waits", id="w-1")
    worker.drain()
    order_app.abort("w-1", reason="duplicate", by="ann")
    worker.drain()
    ended = order_app.get("w-1")
    assert ended.status is InstanceStatus.CANCELLED
    assert ended.cancel_reason == "aborted by ann: duplicate"
    assert order_app.history("w-1")[-1].kind == "cancel"
    assert _audit(order_app) == [(OperatorAction.ABORT, "ann", AuditOutcome.DONE, "duplicate")]


def test_abort_is_refused_once_the_instance_ended(
    order_app: App, worker: Any, clock: FakeClock
) -> None:
    _parked(order_app, worker, clock)
    order_app.abort("o-1", by="ann")
    _settle(worker, clock)
    before = order_app.get("o-1")
    with pytest.raises(daytwo.NotRunnable, match="already ended COMPENSATED"):
        order_app.abort("o-1", by="bob")
    assert order_app.get("o-1") == before
    assert order_app.client.audit.list()[0].outcome is AuditOutcome.REFUSED


# -- terminate ------------------------------------------------------------------------------


def test_terminate_ends_a_parked_instance_without_compensation(
    order_app: App, worker: Any, clock: FakeClock
) -> None:
    _parked(order_app, worker, clock)
    ended = order_app.terminate("o-1", reason="written off", by="ann")
    assert ended.status is InstanceStatus.TERMINATED and ended.status.terminal
    assert ended.error == {"type": "Terminated", "message": "written off"}
    assert ended.state == "terminated" and ended.finished_at is not None
    _settle(worker, clock)
    assert order_app.released == []  # type: ignore[attr-defined]
    last = order_app.history("o-1")[-1]
    assert (last.kind, last.outcome) == ("terminate", "completed")
    assert last.detail == {"by": "ann", "reason": "written off", "was": "NEEDS_ATTENTION"}
    assert _audit(order_app) == [
        (OperatorAction.TERMINATE, "ann", AuditOutcome.DONE, "written off")
    ]
    with pytest.raises(daytwo.WorkflowFailed, match="TERMINATED"):
        order_app.result("o-1", timeout=5)


def test_terminate_closes_open_tasks(fake_app: App) -> None:
    @fake_app.workflow(name="approval")
    def approval(ctx: daytwo.Context) -> Any:
        return ctx.human_task("approve", assignee="alice")

    fake_app.start("approval", id="a-1")
    with fake_app.worker(concurrency=1, poll_interval=0.05) as worker:
        worker.drain()
        [task] = fake_app.tasks.list()
        fake_app.terminate("a-1", by="ann")
    closed = fake_app.tasks.get(task.id)
    assert closed.status == "closed"
    assert fake_app.get("a-1").error == {"type": "Terminated", "message": "terminated by operator"}
    with pytest.raises(daytwo.NotRunnable, match="already ended TERMINATED"):
        fake_app.terminate("a-1", by="ann")


def test_terminate_fences_off_the_worker_running_the_instance(fake_app: App) -> None:
    started, release = threading.Event(), threading.Event()
    shipped: list[str] = []

    @fake_app.step
    def slow() -> str:
        started.set()
        assert release.wait(30)
        return "done"

    @fake_app.step
    def ship() -> None:
        shipped.append("ship")

    @fake_app.workflow(name="slow")
    def slow_flow(ctx: daytwo.Context) -> None:
        slow()
        ship()

    fake_app.start("slow", id="s-1")
    with fake_app.worker(concurrency=1, poll_interval=0.05) as worker:
        assert started.wait(30)
        assert fake_app.get("s-1").status is InstanceStatus.RUNNING
        fake_app.terminate("s-1", reason="stop it", by="ann")
        release.set()
        worker.drain()
    ended = fake_app.get("s-1")
    assert ended.status is InstanceStatus.TERMINATED
    assert shipped == []  # the worker's write after slow() was rejected: it stopped
    assert [h.kind for h in fake_app.history("s-1")] == ["terminate"]


# -- wake -----------------------------------------------------------------------------------


def test_wake_fires_a_timer_now(fake_app: App, clock: FakeClock) -> None:
    @fake_app.workflow(name="sleeps")
    def sleeps(ctx: daytwo.Context) -> str:
        ctx.sleep(86400, name="cooling-off")
        return "woke"

    fake_app.start("sleeps", id="t-1")
    with fake_app.worker(concurrency=1, poll_interval=0.05) as worker:
        worker.drain()
        assert fake_app.get("t-1").wait_kind is WaitKind.TIMER
        fake_app.wake("t-1", reason="customer asked", by="ann")
        worker.drain()
    assert fake_app.get("t-1").output == "woke"
    timer = fake_app.history("t-1")[0]
    assert (timer.kind, timer.outcome) == ("timer", "completed")
    assert [(r.action, r.outcome) for r in fake_app.client.audit.list()] == [
        (OperatorAction.WAKE, AuditOutcome.DONE)
    ]


def test_wake_times_out_a_signal_wait_with_a_timeout(fake_app: App) -> None:
    @fake_app.workflow(name="waits-a-while")
    def waits_a_while(ctx: daytwo.Context) -> str:
        try:
            return str(ctx.wait_for_signal("go", timeout=3600))
        except daytwo.WaitTimeout:
            return "timed out"

    fake_app.start("waits-a-while", id="w-1")
    with fake_app.worker(concurrency=1, poll_interval=0.05) as worker:
        worker.drain()
        fake_app.wake("w-1", by="ann")
        worker.drain()
    assert fake_app.get("w-1").output == "timed out"


def test_wake_retries_a_backoff_now(
    order_app: App, worker: Any, clock: FakeClock, payments: Payments
) -> None:
    order_app.start("order", 10, id="o-1")
    worker.drain()
    payments.down = False
    order_app.wake("o-1", by="ann")
    worker.drain()
    assert order_app.get("o-1").status is InstanceStatus.SUCCEEDED


def test_wake_is_refused_for_a_wait_only_for_an_event(
    order_app: App, worker: Any, clock: FakeClock
) -> None:
    order_app.start("waits", id="w-1")
    worker.drain()
    before = order_app.get("w-1")
    with pytest.raises(daytwo.NotRunnable, match="complete the task or send the signal instead"):
        order_app.wake("w-1", by="ann")
    assert order_app.get("w-1") == before
    [refused] = order_app.client.audit.list()
    assert (refused.action, refused.outcome) == (OperatorAction.WAKE, AuditOutcome.REFUSED)
    _parked(order_app, worker, clock, "o-1")
    with pytest.raises(daytwo.NotRunnable, match="retry, skip or abort its parked step"):
        order_app.wake("o-1", by="ann")
