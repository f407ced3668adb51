"""``ctx.human_task``: create a task once, wait for its outcome, replay it identically.

A task ends in one of three ways the workflow sees, and the task row decides which (every
way out of ``open`` is an UPDATE ``WHERE status = 'open'``, see ``store/_tasks.py``):

* completed — its result arrives as the signal of the task's name, as it always did;
* cancelled by an operator — the cancel delivers a signal of that name only to wake the
  instance; the run finds the task row ``cancelled``, takes that signal with it and raises
  :class:`~daytwo.TaskCancelled`;
* timed out — the wait carries ``wake_at`` = the task's ``timeout_at`` like a signal wait
  with a timeout; the run woken then closes the task as ``timed_out`` (unless a completion
  or a cancel won the race) and raises :class:`~daytwo.TaskTimedOut`, or returns the
  workflow's ``on_timeout=`` value.

Each outcome is a ``task`` history row (``completed``, ``cancelled``, ``timed_out``) at
the wait's position, so a replay returns or raises exactly the same. A crash after the task
row changed and before the history row was written finds the task row on the next run and
records the same outcome.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from daytwo._errors import TaskCancelled, TaskTimedOut
from daytwo.engine._durable import CLEAR_WAIT
from daytwo.engine._task_plan import RAISE, TaskSchedule
from daytwo.store import HistoryKind, HistoryOutcome, HumanTaskRow, TaskStatus, WaitKind

if TYPE_CHECKING:
    from daytwo.engine._runner import Run

__all__ = ["wait_for_task"]


_ENDINGS = {
    TaskStatus.TIMED_OUT: HistoryOutcome.TIMED_OUT,
    TaskStatus.CANCELLED: HistoryOutcome.CANCELLED,
}


def wait_for_task(
    run: Run,
    name: str,
    assignee: str | None,
    due: float | None,
    payload: Any,
    schedule: TaskSchedule | None = None,
    on_timeout: Any = RAISE,
) -> Any:
    """Create (once) a human task and wait for its outcome (see the module docstring)."""
    serde = run.runtime.serde
    recorded = run._replay(HistoryKind.TASK, name)
    if recorded is not None:
        return _replayed(recorded, name, serde.loads, on_timeout)
    seq = run.position - 1
    pending = run._pending(seq, WaitKind.TASK)
    now = run._now()
    if pending:
        store = run.runtime.store
        task_row = run._store(store.task_at, run.instance_id, seq)
        wake_at = run.values["wake_at"]
        if (
            task_row is not None
            and task_row["status"] == TaskStatus.OPEN
            and wake_at is not None
            and now >= wake_at
        ):
            run._store(store.time_out_task, task_row["id"], now)
            task_row = run._store(store.task_at, run.instance_id, seq)  # whoever won
        if task_row is not None and task_row["status"] in _ENDINGS:
            return _ended(run, seq, name, task_row, on_timeout)
    signal = run._pending_signal(name)
    task = None
    if not pending:
        plan = (schedule or TaskSchedule(due=due)).plan(now)
        next_step, next_at = plan.first()
        task = {
            "id": uuid.uuid4().hex[:16],
            "instance_id": run.instance_id,
            "seq": seq,
            "name": name,
            "assignee": assignee,
            "payload": serde.dumps(payload, f"the payload of human task {name!r}"),
            "status": TaskStatus.OPEN,
            "due_at": None if due is None else now + due,
            "created_at": now,
            "plan": None if plan.empty else plan.dumps(),
            "next_step": next_step,
            "next_action_at": next_at,
        }
    if signal is not None:
        if task is not None:
            # Completed before the workflow got here: file it as done.
            task.update(
                status=TaskStatus.COMPLETED,
                result=signal["payload"],
                completed_at=now,
                completed_by=signal["sent_by"],
                next_action_at=None,
            )
            run._new_tasks.append(task)
        run._record(
            seq, HistoryKind.TASK, name, HistoryOutcome.COMPLETED, result=signal["payload"],
            started_at=run._wait_started(seq, WaitKind.TASK),
        )  # fmt: skip
        run._consumed.append((signal["id"], seq))
        run.values.update(CLEAR_WAIT)
        return serde.loads(signal["payload"])
    until = run.values["wake_at"]
    if task is not None:
        run._new_tasks.append(task)
        until = None if schedule is None or schedule.timeout is None else now + schedule.timeout
    run._suspend(WaitKind.TASK, name, seq, until, name)


def _ended(run: Run, seq: int, name: str, task: HumanTaskRow, on_timeout: Any) -> Any:
    """Record that the task was cancelled or timed out, then raise (or return on_timeout)."""
    outcome = _ENDINGS[TaskStatus(task["status"])]
    if outcome is HistoryOutcome.CANCELLED:
        carrier = run._pending_signal(name)  # the cancel's wake-up: taken with it
        if carrier is not None:
            run._consumed.append((carrier["id"], seq))
    detail = {"task_id": task["id"], "reason": task["closed_reason"], "by": task["completed_by"]}
    run._record(
        seq, HistoryKind.TASK, name, outcome, detail=detail,
        started_at=run._wait_started(seq, WaitKind.TASK),
    )  # fmt: skip
    run.values.update(CLEAR_WAIT)
    return _raise_or_return(outcome, name, detail, on_timeout)


def _replayed(recorded: dict[str, Any], name: str, loads: Any, on_timeout: Any) -> Any:
    outcome = recorded["outcome"]
    if outcome == HistoryOutcome.COMPLETED:
        return loads(recorded["result"])
    detail = json.loads(recorded["detail"]) if recorded["detail"] else {}
    return _raise_or_return(HistoryOutcome(outcome), name, detail, on_timeout)


def _raise_or_return(
    outcome: HistoryOutcome, name: str, detail: dict[str, Any], on_timeout: Any
) -> Any:
    if outcome is HistoryOutcome.CANCELLED:
        raise TaskCancelled(name, detail.get("task_id"), detail.get("reason"), detail.get("by"))
    if on_timeout is RAISE:
        raise TaskTimedOut(name, detail.get("task_id"))
    return on_timeout
