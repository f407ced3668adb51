"""Operator actions on one instance: retry, skip, resume, abort, wake (terminate is in
``_terminate.py``).

Each action is one write transaction: the instance row is locked first
(:func:`locked_instance`, the order every outside write and the instance's own suspension
take), its state is checked (a wrong state raises :class:`NotRunnable` naming the state and
what would work, and the transaction rolls back with nothing changed), the change is made
and the audit row appended. The instance is then due, and workers are woken; what it does
next is the engine's business (a retried step runs again at its position, a skipped one
replays the operator's result, an aborted one compensates).

A parked instance (NEEDS_ATTENTION, ``wait_kind`` parked) holds no history row at the
parked step's position, ``wait_seq``; its failed attempts are ``step_attempts`` rows, the
last one with ``retry_at`` NULL (the policy gave up). That NULL is also what gives a retried
step a fresh retry budget (``engine/_attempts.py``): nothing else needs to be recorded.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping

from daytwo._errors import InstanceNotFound, NotRunnable
from daytwo.store._audit import AuditEntry, append_audit
from daytwo.store._base import StoreBase
from daytwo.store._children import cancel_children
from daytwo.store._inbox import locked_instance
from daytwo.store._schema import history, instances, step_attempts, transitions
from daytwo.store._vocabulary import (
    TERMINAL_STATUSES,
    HistoryKind,
    HistoryOutcome,
    InstanceStatus,
    WaitKind,
)

__all__ = ["WAKEABLE_WAITS", "InstanceActions", "describe", "enter_state", "locked"]

#: Waits that end at a time of their own, which ``wake`` brings forward to now.
WAKEABLE_WAITS = frozenset(
    {WaitKind.TIMER, WaitKind.RETRY, WaitKind.THROTTLED, WaitKind.SIGNAL, WaitKind.TASK}
)


def locked(conn: sa.Connection, instance_id: str) -> RowMapping:
    """The instance row, locked for the transaction; :class:`InstanceNotFound` if none."""
    row = conn.execute(locked_instance(instance_id)).mappings().first()
    if row is None:
        raise InstanceNotFound(instance_id)
    return row


def describe(row: RowMapping) -> str:
    """Where the instance is, in words, for a refusal: its status and what it waits for."""
    status, kind, name = row["status"], row["wait_kind"], row["wait_name"]
    if status in TERMINAL_STATUSES:
        return f"already ended {status}"
    if status == InstanceStatus.NEEDS_ATTENTION and kind == WaitKind.DEADLINE:
        return "NEEDS_ATTENTION (its deadline passed and its workflow parks on failure)"
    if status == InstanceStatus.NEEDS_ATTENTION:
        return f"NEEDS_ATTENTION (step {name!r} parked after {row['attempt']} attempt(s))"
    if row["error"] is not None:
        return f"{status}, compensating after a failure"
    if status == InstanceStatus.WAITING and kind is not None:
        until = " with a timeout" if kind == WaitKind.SIGNAL and row["wake_at"] else ""
        return f"WAITING ({kind} {name!r}{until})"
    return f"{status} in state {row['state']!r}"


def enter_state(
    conn: sa.Connection, row: RowMapping, state: str, status: str, now: float
) -> dict[str, Any]:
    """Record the instance's move to ``state`` (a transition row, when the label changes);
    the instance columns to write with it."""
    if state == row["state"]:
        return {}
    seq = row["transition_count"]
    conn.execute(
        transitions.insert().values(
            instance_id=row["id"],
            seq=seq,
            from_state=row["state"],
            to_state=state,
            status=status,
            at=now,
        )
    )
    return {"state": state, "state_entered_at": now, "transition_count": seq + 1}


def _parked(row: RowMapping) -> bool:
    return bool(
        row["status"] == InstanceStatus.NEEDS_ATTENTION and row["wait_kind"] == WaitKind.PARKED
    )


def _past_deadline(row: RowMapping) -> bool:
    """Parked because its deadline passed (``engine/_deadline.py``)."""
    return bool(
        row["status"] == InstanceStatus.NEEDS_ATTENTION and row["wait_kind"] == WaitKind.DEADLINE
    )


#: What resuming (or retrying) an instance parked at its deadline writes: it runs on from
#: there without a deadline (its replay steps over the ``deadline`` row).
_WITHOUT_DEADLINE = {"status": InstanceStatus.RUNNABLE, "wake_at": None, "wait_kind": None,
                     "wait_name": None, "wait_seq": None, "attempt": 0, "cancel_reason": None,
                     "deadline_at": None}  # fmt: skip


def _backing_off(row: RowMapping) -> bool:
    return bool(row["status"] == InstanceStatus.WAITING and row["wait_kind"] == WaitKind.RETRY)


def _step_refusal(row: RowMapping, action: str, applies: str) -> NotRunnable:
    hints = {
        InstanceStatus.RUNNING: "it is running; wait for it to fail or park, or terminate it",
        InstanceStatus.RUNNABLE: "it is due and a worker will run it",
    }
    if row["status"] in TERMINAL_STATUSES:
        hint = "it cannot run again; start a new instance (daytwo instance restart)"
    elif row["status"] == InstanceStatus.WAITING and row["wait_kind"] != WaitKind.RETRY:
        hint = "to skip the rest of a wait, use wake; to end it, abort or terminate"
    else:
        hint = hints.get(row["status"], "abort or terminate it instead")
    return NotRunnable(
        f"cannot {action} instance {row['id']!r}: it is {describe(row)}; {action} applies "
        f"to {applies}; {hint}"
    )


class InstanceActions:
    """The store side of the instance actions; see the module docstring."""

    def __init__(self, store: StoreBase) -> None:
        self.store = store

    def _act(
        self,
        instance_id: str,
        now: float,
        audit: AuditEntry,
        change: Callable[[sa.Connection, RowMapping], dict[str, Any]],
    ) -> None:
        """Lock the row, let ``change`` check it and say the new columns, write them, audit."""
        with self.store.write() as conn:
            row = locked(conn, instance_id)
            values = change(conn, row)
            values["updated_at"] = now
            conn.execute(instances.update().where(instances.c.id == instance_id).values(values))
            append_audit(conn, audit, now)
            self.store.notify_workers(conn, row["queue"])

    def retry(
        self, instance_id: str, now: float, audit: AuditEntry, *, parked_only: bool = False
    ) -> None:
        """Run the parked (or backing-off) step again now, as its next attempt.

        A parked instance becomes RUNNABLE as if its backoff had just ended (``wait_kind``
        retry, same position and attempt count, so the same idempotency key); with
        ``parked_only`` (resume) an instance in a backoff is refused.
        """

        def change(conn: sa.Connection, row: RowMapping) -> dict[str, Any]:
            if _past_deadline(row):
                values = enter_state(conn, row, "resumed", InstanceStatus.RUNNABLE, now)
                return {**values, **_WITHOUT_DEADLINE, "run_at": now}
            if _parked(row):
                values = enter_state(conn, row, row["wait_name"], InstanceStatus.RUNNABLE, now)
                return {**values, "status": InstanceStatus.RUNNABLE, "run_at": now,
                        "wake_at": None, "wait_kind": WaitKind.RETRY}  # fmt: skip
            if _backing_off(row) and not parked_only:
                return {"run_at": now, "wake_at": now}
            if parked_only:
                raise _step_refusal(
                    row, "resume", "a parked instance (NEEDS_ATTENTION); retry runs a step "
                    "waiting in a retry backoff now",
                )  # fmt: skip
            raise _step_refusal(
                row, "retry", "a parked instance (NEEDS_ATTENTION) or one waiting in a retry "
                "backoff",
            )  # fmt: skip

        self._act(instance_id, now, audit, change)

    def skip(
        self, instance_id: str, result: str, now: float, audit: AuditEntry, detail: dict[str, Any]
    ) -> None:
        """Record the parked (or backing-off) step as completed with ``result`` (serialized
        text), marked with ``detail`` as operator-supplied; the instance runs on after it."""

        def change(conn: sa.Connection, row: RowMapping) -> dict[str, Any]:
            step_wait = _backing_off(row) and row["error"] is None  # not a compensation's
            if not (_parked(row) or step_wait):
                raise _step_refusal(
                    row, "skip", "a parked instance (NEEDS_ATTENTION) or a step waiting in "
                    "a retry backoff",
                )  # fmt: skip
            seq = row["wait_seq"]
            self._record_step(conn, row, HistoryOutcome.COMPLETED, now, result=result,
                              detail=detail)  # fmt: skip
            values = enter_state(conn, row, row["wait_name"], InstanceStatus.RUNNABLE, now)
            return {**values, "status": InstanceStatus.RUNNABLE, "run_at": now,
                    "wake_at": None, "wait_kind": None, "wait_name": None, "wait_seq": None,
                    "attempt": 0, "history_size": seq + 1}  # fmt: skip

        self._act(instance_id, now, audit, change)

    def abort(
        self, instance_id: str, reason: str, now: float, audit: AuditEntry, detail: dict[str, Any]
    ) -> None:
        """End with compensation: a parked instance's step is recorded as failed (aborted,
        ``detail`` says by whom and why) and it compensates now; a running or waiting one
        gets a cancel request (it compensates at its next durable point)."""

        def change(conn: sa.Connection, row: RowMapping) -> dict[str, Any]:
            if row["status"] in TERMINAL_STATUSES or row["error"] is not None:
                raise NotRunnable(
                    f"cannot abort instance {row['id']!r}: it is {describe(row)}; nothing is "
                    "left to compensate" + ("" if row["status"] in TERMINAL_STATUSES else
                    " but what it compensates already; terminate it to stop now")
                )  # fmt: skip
            # (``reason`` reads "aborted by alice: why".)
            cancel_children(
                self.store, conn, row["id"], f"parent instance {row['id']!r} was {reason}", now
            )
            if _past_deadline(row):
                met = self._deadline_message(conn, row)
                error = {"type": "Aborted", "message": reason, "failure": met}
                moved = enter_state(conn, row, "compensating", InstanceStatus.RUNNABLE, now)
                return {**moved, **_WITHOUT_DEADLINE, "run_at": now,
                        "error": json.dumps(error)}  # fmt: skip
            if not _parked(row):
                values: dict[str, Any] = {"cancel_reason": reason}
                if row["status"] != InstanceStatus.RUNNING:
                    values.update(status=InstanceStatus.RUNNABLE, run_at=now)
                return values
            failure = self._last_error(conn, row)
            self._record_step(conn, row, HistoryOutcome.FAILED, now, error=failure,
                              detail=detail)  # fmt: skip
            error = {
                "type": "Aborted",
                "message": reason,
                "failure": f"{failure.get('type')}: {failure.get('message')}",
            }
            values = enter_state(conn, row, "compensating", InstanceStatus.RUNNABLE, now)
            return {**values, "status": InstanceStatus.RUNNABLE, "run_at": now,
                    "error": json.dumps(error), "wake_at": None, "wait_kind": None,
                    "wait_name": None, "wait_seq": None, "attempt": 0,
                    "history_size": row["wait_seq"] + 1}  # fmt: skip

        self._act(instance_id, now, audit, change)

    def wake(self, instance_id: str, now: float, audit: AuditEntry) -> None:
        """End the time part of a wait now: a timer fires, a backoff retries, a throttled
        step asks for its slot again, a signal wait with a timeout times out."""

        def change(conn: sa.Connection, row: RowMapping) -> dict[str, Any]:
            timed = row["wake_at"] is not None and row["wait_kind"] in WAKEABLE_WAITS
            if row["status"] == InstanceStatus.WAITING and timed:
                return {"run_at": now, "wake_at": now}
            kind, name = row["wait_kind"], row["wait_name"]
            if row["status"] != InstanceStatus.WAITING:
                hint = {
                    InstanceStatus.NEEDS_ATTENTION: "retry, skip or abort its parked step",
                    InstanceStatus.RUNNABLE: "it is due already and a worker will run it",
                    InstanceStatus.RUNNING: "it is running",
                }.get(row["status"], "it has ended")
            elif kind == WaitKind.PAUSED:
                hint = f"its step is paused: daytwo workflow resume {row['workflow']} --step {name}"
            elif kind in (WaitKind.SIGNAL, WaitKind.TASK):
                hint = "it waits only for an event: complete the task or send the signal instead"
            else:
                hint = "its wait has no time to skip"
            raise NotRunnable(
                f"cannot wake instance {row['id']!r}: it is {describe(row)}; wake applies to "
                f"a wait with a time (timer, retry backoff, throttled step, signal timeout); "
                f"{hint}"
            )

        self._act(instance_id, now, audit, change)

    # -- the parked step's rows -----------------------------------------------------------

    def _deadline_message(self, conn: sa.Connection, row: RowMapping) -> str:
        """The error of an instance parked at its deadline, from its ``deadline`` row."""
        text = conn.execute(
            sa.select(history.c.detail).where(
                history.c.instance_id == row["id"], history.c.seq == row["wait_seq"]
            )
        ).scalar()
        message = json.loads(text).get("message") if text else None
        return f"DeadlineExceeded: {message or 'the instance exceeded its deadline'}"

    def _last_error(self, conn: sa.Connection, row: RowMapping) -> dict[str, Any]:
        """The error of the last failed attempt at the instance's waiting position."""
        text = conn.execute(
            sa.select(step_attempts.c.error)
            .where(step_attempts.c.instance_id == row["id"], step_attempts.c.seq == row["wait_seq"])
            .order_by(step_attempts.c.attempt.desc())
            .limit(1)
        ).scalar()
        return dict(json.loads(text)) if text else {"type": "Error", "message": "unknown"}

    def _record_step(
        self,
        conn: sa.Connection,
        row: RowMapping,
        outcome: HistoryOutcome,
        now: float,
        *,
        result: str | None = None,
        error: dict[str, Any] | None = None,
        detail: dict[str, Any],
    ) -> None:
        """The history row of the step the instance waits at, decided by an operator."""
        seq = row["wait_seq"]
        if seq != row["history_size"]:  # a step wait is always at the end of the history
            raise NotRunnable(
                f"instance {row['id']!r} waits at position {seq} but its history has "
                f"{row['history_size']} row(s); retry it instead"
            )
        conn.execute(
            history.insert().values(
                instance_id=row["id"],
                seq=seq,
                kind=HistoryKind.STEP,
                name=row["wait_name"],
                outcome=outcome,
                args=None,
                result=result,
                error=None if error is None else json.dumps(error),
                attempt=max(row["attempt"], 1),
                idempotency_key=f"{row['id']}:{seq}",
                started_at=now,
                finished_at=now,
                detail=json.dumps(detail),
            )
        )
