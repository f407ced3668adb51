"""Human tasks whose due means something (issue 12, item 5): reminders before and at the
due time, an escalation chain that reassigns, a timeout the workflow receives, a cancel
that reaches it. Time is a FakeClock; the task-deadline service runs by ``take_due()``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

import daytwo
from daytwo import App, FakeClock, TaskStatus
from daytwo.engine import TaskSchedule
from daytwo.store import EventKind, HistoryKind, HistoryOutcome, events_after
from daytwo.store._schema import signals
from daytwo.worker import TaskDeadlines

HOUR = 3600.0


def _approval(app: App) -> None:
    @app.workflow(name="approval")
    def approval(ctx: daytwo.Context, order: dict[str, Any]) -> Any:
        return ctx.human_task(
            "manager-approval",
            assignee="role:sales",
            due=timedelta(hours=4),
            payload=order,
            remind=[daytwo.before(timedelta(hours=1)), daytwo.at_due()],
            escalate=[
                daytwo.after(timedelta(hours=5), "role:sales-manager"),
                daytwo.after(timedelta(hours=8), "role:head-of-sales"),
            ],
        )


def _created(app: App, instance_id: str) -> daytwo.HumanTask:
    """Run the instance to its task with a worker, then stop the worker (and its service)."""
    with app.worker(concurrency=1) as worker:
        worker.drain()
    [task] = [t for t in app.tasks.list() if t.instance_id == instance_id]
    return task


def _kinds(app: App, task_id: str) -> list[str]:
    return [str(event.kind) for event in app.tasks.events(task_id)]


def _outbox(app: App, *kinds: EventKind) -> list[daytwo.store.OutboxEvent]:
    with app.store.read() as conn:
        return events_after(conn, 0, kinds or None, 1000)


def test_reminders_and_escalations_happen_at_their_times_each_once(
    fake_app: App, clock: FakeClock
) -> None:
    _approval(fake_app)
    fake_app.start("approval", {"total": 1500}, id="o1")
    task = _created(fake_app, "o1")
    created = task.created_at.timestamp()
    assert [step.label for step in task.steps] == [
        "1h before due",
        "at due",
        "5h after creation: role:sales-manager",
        "8h after creation: role:head-of-sales",
    ]
    assert task.next_action_at is not None
    assert task.next_action_at.timestamp() == created + 3 * HOUR
    deadlines = TaskDeadlines(fake_app.store, clock)
    assert deadlines.take_due() == 0
    clock.advance(3 * HOUR - 1)
    assert deadlines.take_due() == 0  # one second early: nothing
    clock.advance(1)
    assert deadlines.take_due() == 1  # 1h before due
    assert deadlines.take_due() == 0  # the same time again: nothing twice
    assert _kinds(fake_app, task.id) == ["created", "reminded"]
    clock.advance(HOUR)
    assert deadlines.take_due() == 1  # at due
    clock.advance(HOUR)
    assert deadlines.take_due() == 1  # 5h: escalated to the manager
    assert [t.id for t in fake_app.tasks.list(assignee="role:sales-manager")] == [task.id]
    assert fake_app.tasks.list(assignee="role:sales") == []
    clock.advance(3 * HOUR)
    assert deadlines.take_due() == 1  # 8h: to the head of sales
    assert deadlines.take_due() == 0
    now = fake_app.tasks.get(task.id)
    assert now.assignee == "role:head-of-sales" and now.status == TaskStatus.OPEN
    assert now.next_action_at is None and all(step.done for step in now.steps)
    events = fake_app.tasks.events(task.id)
    assert [str(e.kind) for e in events] == [
        "created", "reminded", "reminded", "escalated", "escalated",
    ]  # fmt: skip
    assert [e.at.timestamp() - created for e in events] == [
        0, 3 * HOUR, 4 * HOUR, 5 * HOUR, 8 * HOUR,
    ]  # fmt: skip
    assert [(e.from_assignee, e.to_assignee) for e in events[3:]] == [
        ("role:sales", "role:sales-manager"),
        ("role:sales-manager", "role:head-of-sales"),
    ]
    assert {e.actor for e in events[1:]} == {"daytwo"}
    outbox = _outbox(fake_app, EventKind.TASK_REMINDER, EventKind.TASK_ESCALATED)
    assert [(str(e.kind), e.key) for e in outbox] == [
        ("task.reminder", task.id), ("task.reminder", task.id),
        ("task.escalated", task.id), ("task.escalated", task.id),
    ]  # fmt: skip
    assert outbox[0].payload["assignee"] == "role:sales"
    assert outbox[0].payload["step"] == "1h before due"
    assert outbox[3].payload["from"] == "role:sales-manager"
    assert outbox[3].payload["assignee"] == "role:head-of-sales"
    # The escalated task is still the workflow's: completing it resumes the instance.
    fake_app.tasks.complete(task.id, {"approved": True}, by="hannah")
    with fake_app.worker(concurrency=1):
        assert fake_app.result("o1", timeout=20) == {"approved": True}


def test_steps_that_fell_due_while_nothing_ran_are_taken_in_order_once(
    fake_app: App, clock: FakeClock
) -> None:
    _approval(fake_app)
    fake_app.start("approval", {"total": 1500}, id="o2")
    task = _created(fake_app, "o2")
    clock.advance(6 * HOUR)  # two reminders and the first escalation are due
    first, second = TaskDeadlines(fake_app.store, clock), TaskDeadlines(fake_app.store, clock)
    assert first.take_due() == 3
    assert second.take_due() == 0  # another process: the lease is held
    assert _kinds(fake_app, task.id) == ["created", "reminded", "reminded", "escalated"]
    # The first process dies without giving its lease up: the second takes over once it
    # expired and takes the next step, once; nothing before it again.
    clock.advance(2 * HOUR)
    assert second.take_due() == 1
    assert first.take_due() == 0
    assert _kinds(fake_app, task.id)[-1] == "escalated"
    assert len(_outbox(fake_app, EventKind.TASK_ESCALATED)) == 2


def test_a_step_is_taken_once_whoever_tries_it(fake_app: App, clock: FakeClock) -> None:
    _approval(fake_app)
    fake_app.start("approval", {"total": 1500}, id="o3")
    task = _created(fake_app, "o3")
    clock.advance(3 * HOUR)
    now = clock.now()
    # Two processes read the same due row; the compare-and-set on the step lets one win.
    assert fake_app.store.apply_task_step(task.id, 0, now) is True
    assert fake_app.store.apply_task_step(task.id, 0, now) is False
    assert fake_app.store.apply_task_step(task.id, 1, now) is True  # due at 4h, asked early
    assert _kinds(fake_app, task.id) == ["created", "reminded", "reminded"]


def test_a_closed_task_takes_no_more_steps(fake_app: App, clock: FakeClock) -> None:
    _approval(fake_app)
    fake_app.start("approval", {"total": 1500}, id="o4")
    task = _created(fake_app, "o4")
    fake_app.tasks.complete(task.id, {"approved": False}, by="sam")
    clock.advance(10 * HOUR)
    assert TaskDeadlines(fake_app.store, clock).take_due() == 0
    assert _kinds(fake_app, task.id) == ["created", "completed"]
    closed = fake_app.tasks.get(task.id)
    assert closed.next_action_at is None and not any(step.done for step in closed.steps)


def test_the_worker_runs_the_task_deadline_service(fake_app: App, clock: FakeClock) -> None:
    _approval(fake_app)
    fake_app.start("approval", {"total": 1500}, id="o5")
    with fake_app.worker(concurrency=1) as worker:
        worker.drain()
        [service] = [s for s in worker.services if isinstance(s, TaskDeadlines)]
        [task] = fake_app.tasks.list()
        clock.advance(5 * HOUR)
        service.take_due()  # waits for a round of its own thread, if one is running
        assert fake_app.tasks.get(task.id).assignee == "role:sales-manager"
        assert _kinds(fake_app, task.id).count("escalated") == 1


# -- the timeout ------------------------------------------------------------------------


def test_a_timeout_reaches_the_workflow_which_handles_it(fake_app: App, clock: FakeClock) -> None:
    @fake_app.workflow(name="quote")
    def quote(ctx: daytwo.Context) -> Any:
        try:
            answer = ctx.human_task("price", assignee="bob", due=HOUR, timeout=2 * HOUR)
        except daytwo.TaskTimedOut as timed_out:
            answer = f"no answer ({timed_out.name})"
        ctx.sleep(60, name="cool-down")
        return answer

    fake_app.start("quote", id="q1")
    with fake_app.worker(concurrency=1) as worker:
        worker.drain()
        [task] = fake_app.tasks.list()
        assert task.timeout_at is not None
        assert task.timeout_at.timestamp() == task.created_at.timestamp() + 2 * HOUR
        clock.advance(2 * HOUR - 1)
        worker.drain()
        assert fake_app.get("q1").wait_kind == "task"
        clock.advance(1)
        worker.drain()
        assert fake_app.get("q1").wait_kind == "timer"  # it handled the timeout
        clock.advance(61)  # the replay meets the timed-out task again: the same answer
        assert fake_app.result("q1", timeout=20) == "no answer (price)"
    done = fake_app.tasks.get(task.id)
    assert done.status == TaskStatus.TIMED_OUT
    with pytest.raises(daytwo.NotRunnable, match="already timed_out"):
        fake_app.tasks.complete(task.id, 100)
    [row] = [h for h in fake_app.history("q1") if h.kind == HistoryKind.TASK]
    assert row.outcome == HistoryOutcome.TIMED_OUT and row.detail is not None
    assert row.detail["task_id"] == task.id
    assert _kinds(fake_app, task.id) == ["created", "timed_out"]
    [event] = _outbox(fake_app, EventKind.TASK_TIMED_OUT)
    assert event.key == task.id and event.payload["assignee"] == "bob"


def test_on_timeout_gives_the_workflow_a_value(fake_app: App, clock: FakeClock) -> None:
    @fake_app.workflow(name="vote")
    def vote(ctx: daytwo.Context) -> Any:
        return ctx.human_task("vote", timeout=timedelta(days=2), on_timeout={"vote": "abstain"})

    fake_app.start("vote", id="v1")
    with fake_app.worker(concurrency=1) as worker:
        worker.drain()
        clock.advance(2 * 86400)
        assert fake_app.result("v1", timeout=20) == {"vote": "abstain"}


def test_a_timeout_not_handled_fails_the_instance(fake_app: App, clock: FakeClock) -> None:
    @fake_app.workflow(name="strict")
    def strict(ctx: daytwo.Context) -> Any:
        return ctx.human_task("sign", timeout=60)

    fake_app.start("strict", id="s1")
    with fake_app.worker(concurrency=1) as worker:
        worker.drain()
        clock.advance(60)
        with pytest.raises(daytwo.WorkflowFailed, match="TaskTimedOut"):
            fake_app.result("s1", timeout=20)


def test_a_completion_before_the_timeout_run_wins_over_the_timeout(
    fake_app: App, clock: FakeClock
) -> None:
    @fake_app.workflow(name="quote")
    def quote(ctx: daytwo.Context) -> Any:
        return ctx.human_task("price", timeout=HOUR, on_timeout="timed out")

    fake_app.start("quote", id="q2")
    [task] = [_created(fake_app, "q2")]
    clock.advance(2 * HOUR)  # past the timeout, but no worker has run the instance yet
    fake_app.tasks.complete(task.id, 42, by="bob")  # the task row decides: completed
    with fake_app.worker(concurrency=1):
        assert fake_app.result("q2", timeout=20) == 42
    assert fake_app.tasks.get(task.id).status == TaskStatus.COMPLETED
    assert _outbox(fake_app, EventKind.TASK_TIMED_OUT) == []


def test_a_timed_out_task_stays_timed_out_after_a_crash_before_the_history_row(
    fake_app: App, clock: FakeClock
) -> None:
    @fake_app.workflow(name="quote")
    def quote(ctx: daytwo.Context) -> Any:
        return ctx.human_task("price", timeout=HOUR, on_timeout="timed out")

    fake_app.start("quote", id="q3")
    task = _created(fake_app, "q3")
    clock.advance(HOUR)
    # A run closed the task and died before its history row was written.
    assert fake_app.store.time_out_task(task.id, clock.now()) is True
    assert fake_app.store.time_out_task(task.id, clock.now()) is False  # once
    with pytest.raises(daytwo.NotRunnable, match="timed_out"):
        fake_app.tasks.complete(task.id, 42)
    with fake_app.worker(concurrency=1):
        assert fake_app.result("q3", timeout=20) == "timed out"
    assert _kinds(fake_app, task.id) == ["created", "timed_out"]


# -- cancel -----------------------------------------------------------------------------


def _unconsumed(app: App, instance_id: str) -> int:
    with app.store.read() as conn:
        query = (
            sa.select(sa.func.count())
            .select_from(signals)
            .where(signals.c.instance_id == instance_id, signals.c.consumed_seq.is_(None))
        )
        return int(conn.execute(query).scalar_one())


def test_a_cancel_reaches_the_workflow_which_may_handle_it(fake_app: App) -> None:
    @fake_app.workflow(name="review")
    def review(ctx: daytwo.Context) -> Any:
        try:
            return ctx.human_task("review", assignee="carol")
        except daytwo.TaskCancelled as cancelled:
            # Ask again, of someone else: the cancel's wake-up must not complete this one.
            first = f"cancelled by {cancelled.by}: {cancelled.reason}"
            return [first, ctx.human_task("review", assignee="dave")]

    fake_app.start("review", id="r1")
    with fake_app.worker(concurrency=1) as worker:
        worker.drain()
        [task] = fake_app.tasks.list()
        fake_app.tasks.cancel(task.id, reason="carol is on leave", by="erin")
        worker.drain()
        [again] = fake_app.tasks.list()
        assert again.assignee == "dave" and again.id != task.id
        fake_app.tasks.complete(again.id, "ok", by="dave")
        assert fake_app.result("r1", timeout=20) == ["cancelled by erin: carol is on leave", "ok"]
    cancelled = fake_app.tasks.get(task.id)
    assert cancelled.status == TaskStatus.CANCELLED
    assert (cancelled.completed_by, cancelled.closed_reason) == ("erin", "carol is on leave")
    rows = [h for h in fake_app.history("r1") if h.kind == HistoryKind.TASK]
    assert [h.outcome for h in rows] == [HistoryOutcome.CANCELLED, HistoryOutcome.COMPLETED]
    assert _unconsumed(fake_app, "r1") == 0
    assert _kinds(fake_app, task.id) == ["created", "cancelled"]


def test_a_cancel_not_handled_fails_the_instance_and_compensates(fake_app: App) -> None:
    undone: list[str] = []

    @fake_app.step()
    def reserve(item: str) -> str:
        return f"reserved {item}"

    @reserve.compensate
    def release(item: str, reservation: str) -> None:
        undone.append(reservation)

    @fake_app.workflow(name="order")
    def order(ctx: daytwo.Context) -> Any:
        reserve("book")
        return ctx.human_task("approve")

    fake_app.start("order", id="c1")
    with fake_app.worker(concurrency=1) as worker:
        worker.drain()
        [task] = fake_app.tasks.list()
        fake_app.tasks.cancel(task.id, reason="duplicate order", by="erin")
        with pytest.raises(daytwo.WorkflowFailed, match=r"COMPENSATED.*TaskCancelled"):
            fake_app.result("c1", timeout=20)
    assert undone == ["reserved book"]
    with pytest.raises(daytwo.NotRunnable, match="already cancelled"):
        fake_app.tasks.cancel(task.id)


# -- bad input: one line at the call ----------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"due": 3600, "remind": [daytwo.at_due()], "timeout": 1800}, "comes before the due"),
        ({"remind": [daytwo.at_due()]}, "remind= needs due="),
        ({"due": 3600, "remind": [daytwo.before(7200)]}, "falls before the task exists"),
        ({"due": 3600, "remind": ["soon"]}, "remind= takes daytwo.before"),
        ({"due": 3600, "remind": [-5]}, "must be zero or more, not -5s"),
        ({"timeout": -1}, "timeout must be more than zero"),
        ({"escalate": [("1h", "boss")]}, "escalate= takes daytwo.after"),
        (
            {"escalate": [daytwo.after(7200, "a"), daytwo.after(3600, "b")]},
            "must go forward in time",
        ),
        ({"escalate": [daytwo.after(7200, "a")], "timeout": 3600}, "would never happen"),
    ],
)
def test_a_bad_plan_is_refused_naming_the_argument(kwargs: dict[str, Any], message: str) -> None:
    remind = kwargs.pop("remind", ())
    escalate = kwargs.pop("escalate", ())
    with pytest.raises(daytwo.InvalidInput, match=message) as refused:
        TaskSchedule.of(
            "approve",
            due=kwargs.get("due"),
            remind=remind,
            escalate=escalate,
            timeout=kwargs.get("timeout"),
        )
    assert "\n" not in str(refused.value) and "ctx.human_task('approve')" in str(refused.value)


def test_bad_steps_are_refused_where_they_are_written() -> None:
    with pytest.raises(daytwo.InvalidInput, match="needs the assignee to escalate to"):
        daytwo.after(timedelta(hours=4), " ")
    with pytest.raises(daytwo.InvalidInput, match=r"delay must be more than zero, not -1h"):
        daytwo.after(timedelta(hours=-1), "role:boss")
    with pytest.raises(daytwo.InvalidInput, match="before\\(\\) duration must be zero or more"):
        daytwo.before(timedelta(minutes=-5))


def test_a_bad_plan_in_a_workflow_fails_it_with_the_message(fake_app: App) -> None:
    @fake_app.workflow(name="buggy")
    def buggy(ctx: daytwo.Context) -> Any:
        return ctx.human_task("approve", due=HOUR, timeout=60)

    fake_app.start("buggy", id="b1")
    refused = pytest.raises(daytwo.WorkflowFailed, match=r"InvalidInput.*comes before the due")
    with fake_app.worker(concurrency=1), refused:
        fake_app.result("b1", timeout=20)
    assert fake_app.tasks.list(status=None) == []  # nothing was created


# -- a real crash between two steps -------------------------------------------------------

#: A process that takes the due steps and is SIGKILLed right after the first one committed.
_DIES_AFTER_ONE_STEP = """
import os, signal, sys
import daytwo
from daytwo.worker import TaskDeadlines

clock = daytwo.FakeClock(float(sys.argv[2]))
app = daytwo.App(sys.argv[1], clock=clock, create=False)
store = app.store
take = store.apply_task_step

def take_then_die(task_id, index, now):
    taken = take(task_id, index, now)
    if taken:
        os.kill(os.getpid(), signal.SIGKILL)
    return taken

store.apply_task_step = take_then_die
TaskDeadlines(store, clock).take_due()
"""


def test_a_process_killed_between_two_steps_leaves_the_next_one_to_take_once(
    fake_app: App, clock: FakeClock
) -> None:
    import signal
    import subprocess
    import sys

    _approval(fake_app)
    fake_app.start("approval", {"total": 1500}, id="k1")
    task = _created(fake_app, "k1")
    clock.advance(6 * HOUR)  # three steps are due
    killed = subprocess.run(
        [sys.executable, "-c", _DIES_AFTER_ONE_STEP, fake_app.database_url, str(clock.now())],
        capture_output=True,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    assert _kinds(fake_app, task.id) == ["created", "reminded"]  # the first step, committed
    clock.advance(31)  # the dead process's lease expires
    assert TaskDeadlines(fake_app.store, clock).take_due() == 2
    assert _kinds(fake_app, task.id) == ["created", "reminded", "reminded", "escalated"]
    assert len(_outbox(fake_app, EventKind.TASK_REMINDER)) == 2
