"""Operator actions on human tasks (issue 12, item 2): complete, reassign and cancel, each
with a reason, audited (done and refused) in the action's transaction, with a task event;
refusals for a task that is not open or unknown."""

from __future__ import annotations

import re
from typing import Any

import pytest

import daytwo
from daytwo import App, AuditOutcome, OperatorAction, TaskEventKind, TaskStatus


def _approval(app: App) -> None:
    @app.workflow(name="approval")
    def approval(ctx: daytwo.Context) -> Any:
        try:
            return ctx.human_task("approve", assignee="alice", payload={"amount": 10})
        except daytwo.TaskCancelled as cancelled:
            return {"cancelled": cancelled.reason, "by": cancelled.by}


def _task(app: App, instance_id: str) -> daytwo.HumanTask:
    app.start("approval", id=instance_id)
    with app.worker(concurrency=1) as worker:
        worker.drain()
    [task] = [t for t in app.tasks.list() if t.instance_id == instance_id]
    return task


def _audit(app: App, task_id: str) -> list[tuple[str, str, str, str | None]]:
    rows = app.client.audit.list(target=task_id)
    return [(r.action, r.actor, str(r.outcome), r.reason) for r in reversed(rows)]


def test_complete_and_reassign_are_audited_with_their_reason_and_events(fake_app: App) -> None:
    _approval(fake_app)
    task = _task(fake_app, "a1")
    fake_app.tasks.reassign(task.id, "bob", reason="alice is away", by="carol")
    fake_app.tasks.complete(task.id, {"approved": True}, reason="checked the margin", by="bob")
    with fake_app.worker(concurrency=1):
        assert fake_app.result("a1", timeout=20) == {"approved": True}
    assert _audit(fake_app, task.id) == [
        (OperatorAction.TASK_REASSIGN, "carol", "done", "alice is away"),
        (OperatorAction.TASK_COMPLETE, "bob", "done", "checked the margin"),
    ]
    [reassigned] = fake_app.client.audit.list(action=OperatorAction.TASK_REASSIGN)
    assert reassigned.params == {"assignee": "bob"}
    events = fake_app.tasks.events(task.id)
    assert [e.kind for e in events] == [
        TaskEventKind.CREATED, TaskEventKind.REASSIGNED, TaskEventKind.COMPLETED,
    ]  # fmt: skip
    assert (events[1].from_assignee, events[1].to_assignee) == ("alice", "bob")
    assert (events[1].actor, events[1].detail) == ("carol", "alice is away")
    assert (events[2].actor, events[2].detail) == ("bob", "checked the margin")


def test_cancel_reaches_the_workflow_and_is_audited(fake_app: App) -> None:
    _approval(fake_app)
    task = _task(fake_app, "c1")
    fake_app.tasks.cancel(task.id, reason="order withdrawn", by="dana")
    with fake_app.worker(concurrency=1):
        assert fake_app.result("c1", timeout=20) == {"cancelled": "order withdrawn", "by": "dana"}
    cancelled = fake_app.tasks.get(task.id)
    assert (cancelled.status, cancelled.completed_by) == (TaskStatus.CANCELLED, "dana")
    assert _audit(fake_app, task.id) == [
        (OperatorAction.TASK_CANCEL, "dana", "done", "order withdrawn")
    ]


@pytest.mark.parametrize("ending", ["complete", "cancel"])
def test_every_action_on_a_task_that_is_not_open_is_refused_and_audited(
    fake_app: App, ending: str
) -> None:
    _approval(fake_app)
    task = _task(fake_app, "n1")
    if ending == "complete":
        fake_app.tasks.complete(task.id, True, by="ann")
        status = "already completed (by ann)"
    else:
        fake_app.tasks.cancel(task.id, reason="dup", by="ann")
        status = "already cancelled (by ann): dup"
    with pytest.raises(
        daytwo.NotRunnable, match=re.escape(f"is {status}; only open tasks can be comp")
    ):
        fake_app.tasks.complete(task.id, False, by="ben")
    with pytest.raises(daytwo.NotRunnable, match="only open tasks can be reassigned"):
        fake_app.tasks.reassign(task.id, "carl", by="ben")
    with pytest.raises(daytwo.NotRunnable, match="only open tasks can be cancelled"):
        fake_app.tasks.cancel(task.id, reason="again", by="ben")
    refused = [r for r in fake_app.client.audit.list(target=task.id) if r.actor == "ben"]
    assert {r.outcome for r in refused} == {AuditOutcome.REFUSED}
    assert len(refused) == 3 and all("only open tasks" in (r.detail or "") for r in refused)
    assert len(fake_app.tasks.events(task.id)) == 2  # created, and the one that happened


def test_a_task_of_an_ended_instance_is_refused_saying_so(fake_app: App) -> None:
    _approval(fake_app)
    task = _task(fake_app, "e1")
    fake_app.cancel("e1", "customer left")
    with fake_app.worker(concurrency=1) as worker:
        worker.drain()
    with pytest.raises(daytwo.NotRunnable, match="already closed: the instance ended CANCELLED"):
        fake_app.tasks.cancel(task.id)
    assert [e.kind for e in fake_app.tasks.events(task.id)] == [
        TaskEventKind.CREATED, TaskEventKind.CLOSED,
    ]  # fmt: skip


def test_unknown_tasks_and_bad_input_are_refused_and_audited(fake_app: App) -> None:
    _approval(fake_app)
    task = _task(fake_app, "u1")
    with pytest.raises(daytwo.TaskNotFound):
        fake_app.tasks.cancel("nope", by="eve")
    with pytest.raises(daytwo.TaskNotFound):
        fake_app.tasks.complete("nope", 1, by="eve")
    with pytest.raises(daytwo.TaskNotFound):
        fake_app.tasks.reassign("nope", "bob", by="eve")
    with pytest.raises(daytwo.TaskNotFound):
        fake_app.tasks.events("nope")
    with pytest.raises(daytwo.InvalidInput, match="must not be empty"):
        fake_app.tasks.reassign(task.id, " ", by="eve")
    refused = fake_app.client.audit.list(actor="eve")
    assert len(refused) == 4 and {r.outcome for r in refused} == {AuditOutcome.REFUSED}
    assert fake_app.tasks.get(task.id).assignee == "alice"  # nothing changed


def test_a_completion_and_a_cancel_racing_resolve_to_one(app: App) -> None:
    import threading

    _approval(app)
    for round_ in range(3):
        task = _task(app, f"r{round_}")
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def act(
            kind: str,
            task_id: str = task.id,
            outcomes: list[str] = outcomes,
            barrier: threading.Barrier = barrier,
        ) -> None:
            barrier.wait()
            try:
                if kind == "complete":
                    app.tasks.complete(task_id, "yes", by="ann")
                else:
                    app.tasks.cancel(task_id, reason="no", by="ben")
                outcomes.append(kind)
            except daytwo.NotRunnable:
                pass

        threads = [threading.Thread(target=act, args=(k,)) for k in ("complete", "cancel")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(outcomes) == 1, outcomes
        with app.worker(concurrency=1):
            result = app.result(f"r{round_}", timeout=20)
        assert result == ("yes" if outcomes == ["complete"] else {"cancelled": "no", "by": "ben"})
