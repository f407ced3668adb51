"""What a run does when its instance's deadline has passed (``timeout=``).

The deadline service marks the instance like a cancel, with the reason
:data:`~daytwo.store.DEADLINE_REASON` (``store/_deadlines.py``); the run meets it where a
cancel takes effect (at its start, or at the durable point where a running instance sees
it) and calls :func:`stop_error` for the instance's error. Then, by the workflow's failure
policy (``on_failure``):

* compensate: a ``deadline`` history row at the position where the deadline was met, then
  the saga, as for any failure: COMPENSATED, FAILED (nothing to undo) or
  COMPENSATION_FAILED, the error type ``DeadlineExceeded``;
* park (:func:`park_at_deadline`): the same ``deadline`` row, then NEEDS_ATTENTION
  (``wait_kind`` deadline, its human task closed). An operator resumes it (it goes on from
  that position without a deadline: the replay steps over the ``deadline`` row, and the
  operation it was waiting in starts over), aborts it (it compensates) or terminates it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from daytwo._errors import DeadlineExceeded
from daytwo.engine._durable import CLEAR_WAIT, RunResult
from daytwo.store import DEADLINE_REASON, HistoryKind, HistoryOutcome, InstanceStatus, WaitKind

if TYPE_CHECKING:
    from daytwo.engine._saga import SagaRun

__all__ = ["DEADLINE_ERROR", "deadline_detail", "park_at_deadline", "stop_error"]

#: The error type of an instance that exceeded its deadline.
DEADLINE_ERROR = DeadlineExceeded.__name__


def _at(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds")


def stop_error(run: SagaRun, reason: str) -> dict[str, Any]:
    """The error of an instance stopped by ``reason``: an operator's cancel, or its
    deadline (the message says how long, who set it, when it started and when it was)."""
    if reason != DEADLINE_REASON:
        return {"type": "Cancelled", "message": reason}
    from daytwo._timeouts import in_words

    row = run._store(run.runtime.store.get_instance, run.instance_id)
    created = run.identity[2]
    deadline = created if row is None or row["deadline_at"] is None else row["deadline_at"]
    timeout = deadline - created
    setter = (
        "@app.workflow(timeout=...)"
        if run.definition.timeout is not None and abs(run.definition.timeout - timeout) < 1e-6
        else "the start's timeout="
    )
    return {
        "type": DEADLINE_ERROR,
        "message": (
            f"instance exceeded its deadline of {in_words(timeout)} (set by {setter}); it "
            f"started at {_at(created)}, the deadline was {_at(deadline)}"
        ),
        "deadline_at": deadline,
        "started_at": created,
    }


def deadline_detail(error: dict[str, Any], policy: str) -> dict[str, Any]:
    """The ``detail`` of a ``deadline`` history row."""
    return {
        "deadline_at": error.get("deadline_at"),
        "started_at": error.get("started_at"),
        "message": error.get("message"),
        "then": policy,
    }


def park_at_deadline(run: SagaRun, error: dict[str, Any]) -> RunResult:
    """Record the deadline and stop NEEDS_ATTENTION for an operator (see the module)."""
    seq = len(run.history)
    run._record(
        seq, HistoryKind.DEADLINE, "deadline", HistoryOutcome.COMPLETED,
        detail=deadline_detail(error, "park"),
    )  # fmt: skip
    run.values.update(CLEAR_WAIT)
    run.values.update(
        status=InstanceStatus.NEEDS_ATTENTION.value,
        run_at=None,
        wait_kind=WaitKind.DEADLINE,
        wait_name="deadline",
        wait_seq=seq,
        lease_owner=None,
    )
    run._set_state("deadline exceeded", InstanceStatus.NEEDS_ATTENTION)
    close = "the instance exceeded its deadline" if run._open_task else None
    # Terminal for the cancel check: the deadline's own mark must not wake it again.
    run._flush(terminal=True, full=True, close_tasks=close)
    run._open_task = False
    return RunResult("suspended", run.values["status"])
