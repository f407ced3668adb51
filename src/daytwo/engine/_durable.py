"""What a run records: its replay position, its buffered rows and its durable points.

:class:`DurableRun` is the bookkeeping half of a :class:`~daytwo.engine._runner.Run`. It
walks the recorded history as the workflow code calls durable operations (raising
:class:`Divergence` when the code no longer matches), buffers the rows a run produces, and
writes them at the run's *durable points* in one transaction with the instance's new
state: before a step's side effect starts (:meth:`_begin`), at a suspension
(:meth:`_suspend`) and at the end (:meth:`_finish`). The operations themselves (steps,
timers, signals, human tasks, the saga) are in ``_runner.py``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NoReturn, Protocol, TypeVar

from daytwo._errors import (
    CancelRequested,
    Divergence,
    InstanceExists,
    LeaseTakenOver,
    StoreFailed,
    Suspended,
)
from daytwo.engine._clock import Clock, SystemClock
from daytwo.engine._definitions import Registry, WorkflowDefinition
from daytwo.engine._family import Family, family_at_failure
from daytwo.engine._fanout_history import take_open_fanout
from daytwo.engine._pending_wait import check_pending_wait
from daytwo.engine._serde import JsonSerializer, Serializer
from daytwo.store import (
    RUN_COLUMNS,
    FlowControl,
    HistoryKind,
    HistoryOutcome,
    InstanceStatus,
    InstanceWrite,
    Store,
    WaitKind,
    WriteOutcome,
)

__all__ = [
    "ATTEMPT",
    "CLEAR_WAIT",
    "COMPLETED",
    "RUNNING",
    "STEP",
    "WAITING",
    "DurableRun",
    "RunResult",
    "Runtime",
    "Writer",
]

log = logging.getLogger("daytwo.runner")

_T = TypeVar("_T")

# The words every step writes, as plain text (the members' values): the hot path hands
# them to the driver, and the SQLite driver looks up an adapter for each bound parameter
# of a str subclass (about 0.6 us). Words written once per wait or per instance are the
# enum members themselves.
RUNNING = InstanceStatus.RUNNING.value
WAITING = InstanceStatus.WAITING.value
#: The statuses a suspended run leaves its instance in.
_SUSPENDED = frozenset({WAITING, InstanceStatus.NEEDS_ATTENTION.value})
ATTEMPT = WaitKind.ATTEMPT.value
STEP = HistoryKind.STEP.value
COMPLETED = HistoryOutcome.COMPLETED.value


class Writer(Protocol):
    """Applies instance writes: directly, or batched with other instances (group commit)."""

    #: Whether writes may be queued without waiting for their commit.
    batches: bool

    def commit(self, write: InstanceWrite, *, wait: bool = True) -> WriteOutcome | None:
        """Apply the write; with ``wait`` return once it is durable."""
        ...


@dataclass
class Runtime:
    """What a run needs from its app."""

    store: Store
    clock: Clock
    serde: Serializer
    registry: Registry
    #: Paused steps and dependency limits.
    flow: FlowControl


@dataclass(frozen=True, slots=True)
class RunResult:
    """How a run ended."""

    kind: Literal["finished", "suspended", "lost"]
    #: An :class:`InstanceStatus` (its plain text on the hot path).
    status: str
    #: When the instance becomes claimable again (suspended runs with a deadline).
    run_at: float | None = None
    #: The stored output and error (JSON text) of a finished instance.
    output: str | None = None
    error: str | None = None


def _rejected(write: InstanceWrite) -> str:
    """What a write that lost its lease would have recorded, for the log."""
    rows = [f"{row['kind']} {row['name']!r} at position {row['seq']}" for row in write.history]
    rows += [f"failed attempt {row['attempt']} of {row['name']!r}" for row in write.attempts]
    status = write.values["status"]
    return f"status {status}" + (f", {', '.join(rows)}" if rows else "")


#: Waits for something sent from outside: re-checked under the lock when suspending.
_EVENT_WAITS = frozenset({WaitKind.SIGNAL, WaitKind.TASK})

#: The instance columns of a pending wait, as they are once the wait is over.
CLEAR_WAIT = {
    "wait_kind": None,
    "wait_name": None,
    "wait_seq": None,
    "wake_at": None,
    "attempt": 0,
}


class DurableRun:
    """One run's replay position and buffered writes; see the module docstring."""

    def __init__(
        self,
        runtime: Runtime,
        writer: Writer,
        definition: WorkflowDefinition,
        row: Mapping[Any, Any],
        history: list[dict[str, Any]],
        *,
        insert: bool = False,
    ) -> None:
        self.runtime = runtime
        self.writer = writer
        # The system clock is read many times per step: skip its method frame.
        self._now = time.time if type(runtime.clock) is SystemClock else runtime.clock.now
        self._plain_json = type(runtime.serde) is JsonSerializer
        self.definition = definition
        self.instance_id: str = row["id"]
        self.token: int = row["lease_token"]
        self.input_text: str = row["input"]
        self.identity: tuple[str, str, float] = (row["workflow"], row["version"], row["created_at"])
        self.cancel_reason: str | None = row["cancel_reason"]
        # The instance columns this run owns while it holds the lease; every durable point
        # writes them all.
        self.values: dict[str, Any] = {key: row[key] for key in RUN_COLUMNS}
        self._insert_row: dict[str, Any] | None = dict(row) if insert else None
        self.history = history
        self.position = 0
        self._new_history: list[dict[str, Any]] = []
        self._attempts: list[dict[str, Any]] = []
        self._transitions: list[dict[str, Any]] = []
        self._consumed: list[tuple[int, int]] = []
        self._new_tasks: list[dict[str, Any]] = []
        self._recorded_len = len(history)
        # Waiting for a human task when this run began: its task is open, and is closed if
        # the instance ends without the task's result (cancel, divergence).
        self._open_task: bool = row["wait_kind"] == WaitKind.TASK
        #: A cancel that arrived after this run began (see _flush), for the saga's records.
        self.cancel_seen: str | None = None
        # Child workflows (``_family.py``): None unless the instance has a parent or children.
        parent_id = row.get("parent_id")
        self.family: Family | None = None if parent_id is None else Family(row["id"], parent_id)
        if insert:  # the row carries transition_count 1 for this initial transition
            self._transitions.append(
                {
                    "instance_id": self.instance_id,
                    "seq": 0,
                    "from_state": None,
                    "to_state": row["state"],
                    "status": row["status"],
                    "at": row["created_at"],
                }
            )
        #: The rows of an unfinished fan-out past the first gap, by position (``_fanout.py``).
        self._fanout_tail: dict[int, dict[str, Any]] = {}
        take_open_fanout(self)

    # -- top level ------------------------------------------------------------------------

    @property
    def is_replaying(self) -> bool:
        """Whether the current position is already in the recorded history."""
        return self.position < self._recorded_len

    def _store(self, call: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """Call the store; its failure stops the run instead of failing the workflow."""
        try:
            return call(*args, **kwargs)
        except Exception as exc:
            raise StoreFailed(exc) from exc

    # -- replay ---------------------------------------------------------------------------

    def _replay(self, kind: HistoryKind | str, name: str) -> dict[str, Any] | None:
        seq = self.position
        self.position += 1
        if seq < len(self.history):
            recorded = self.history[seq]
            if recorded["kind"] != kind or recorded["name"] != name:
                if recorded["kind"] == HistoryKind.DEADLINE:
                    # A deadline met here, then resumed by an operator: step over its row.
                    return self._replay(kind, name)
                raise Divergence(
                    f"at position {seq} the history records {recorded['kind']} "
                    f"{recorded['name']!r} but the workflow now calls {kind} {name!r}",
                    seq,
                )
            return recorded
        if seq == self.values["wait_seq"] and self.values["error"] is None:
            self._check_pending_wait(seq, kind, name)
        return None

    def _past_deadline_rows(self) -> None:
        """Step over ``deadline`` rows at the end of the history (the workflow returns
        right where a resumed deadline was met)."""
        while (
            self.position < len(self.history)
            and self.history[self.position]["kind"] == HistoryKind.DEADLINE
        ):
            self.position += 1

    def _check_pending_wait(self, seq: int, kind: HistoryKind | str, name: str) -> None:
        """The instance waits at ``seq``; the code must still be doing that same operation."""
        check_pending_wait(self.values, self.history, seq, kind, name)

    def _record(
        self,
        seq: int,
        kind: HistoryKind | str,
        name: str,
        outcome: HistoryOutcome | str,
        *,
        args: str | None = None,
        result: str | None = None,
        error: str | None = None,
        attempt: int = 1,
        idempotency_key: str | None = None,
        started_at: float | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        now = self._now()
        row = {
            "instance_id": self.instance_id,
            "seq": seq,
            "kind": kind,
            "name": name,
            "outcome": outcome,
            "args": args,
            "result": result,
            "error": error,
            "attempt": attempt,
            "idempotency_key": idempotency_key,
            "started_at": now if started_at is None else started_at,
            "finished_at": now,
            "detail": json.dumps(detail) if detail else None,
        }
        self.history.append(row)
        self._new_history.append(row)
        self.values["history_size"] = len(self.history)

    def _wait_started(self, seq: int, kind: WaitKind) -> float:
        """When the wait at ``seq`` began: when the instance entered its waiting state."""
        if self._pending(seq, kind):
            return float(self.values["state_entered_at"])
        return self._now()

    def _pending(self, seq: int, kind: WaitKind | str) -> bool:
        return bool(self.values["wait_seq"] == seq and self.values["wait_kind"] == kind)

    # -- durable points -------------------------------------------------------------------

    def _set_state(self, state: str, status: InstanceStatus | str) -> None:
        if state == self.values["state"]:
            return
        now = self._now()
        if self._insert_row is not None and len(self._transitions) == 1:
            # An inline run whose row is not stored yet was never queued: it is created
            # straight into its first state, one transition (and one row) instead of two.
            self._transitions[0].update(to_state=state, status=status, at=now)
            self.values["state"] = state
            self.values["state_entered_at"] = now
            return
        seq = self.values["transition_count"]
        self.values["transition_count"] = seq + 1
        self._transitions.append(
            {
                "instance_id": self.instance_id,
                "seq": seq,
                "from_state": self.values["state"],
                "to_state": state,
                "status": status,
                "at": now,
            }
        )
        self.values["state"] = state
        self.values["state_entered_at"] = now

    def _has_buffered(self) -> bool:
        return bool(self._new_history or self._attempts or self._consumed or self._new_tasks)

    def _flush(
        self,
        *,
        wait: bool = True,
        recheck: str | None = None,
        terminal: bool = False,
        full: bool = False,
        close_tasks: str | None = None,
        yields: bool = False,
    ) -> None:
        self.values["updated_at"] = self._now()
        write = InstanceWrite(
            instance_id=self.instance_id,
            lease_token=self.token,
            # A batching writer may apply this after we changed values again: copy.
            values=dict(self.values) if self.writer.batches else self.values,
            history=self._new_history,
            attempts=self._attempts,
            transitions=self._transitions,
            consumed_signals=self._consumed,
            new_tasks=self._new_tasks,
            recheck_signal=recheck,
            progress=not full,
            identity=self.identity,
            close_tasks=close_tasks,
            yields_to_cancel=yields,
        )
        family = self.family
        if family is not None:
            write.family = family.write_for(self.values)
        if self._insert_row is not None:
            write.insert = {**self._insert_row, **self.values}
            self._insert_row = None
        self._new_history, self._attempts, self._transitions = [], [], []
        self._consumed, self._new_tasks = [], []
        self._recorded_len = len(self.history)
        outcome = self._store(self.writer.commit, write, wait=wait)
        if outcome is None:
            return
        if not outcome.applied:
            if family is not None:
                family.not_written(write.family)
            if write.insert is not None:
                raise InstanceExists(self.instance_id)
            if outcome.cancel_reason is not None:
                raise _CancelPending(outcome.cancel_reason)
            raise LeaseTakenOver(_rejected(write))
        if outcome.cancel_reason:
            self.cancel_seen = outcome.cancel_reason
        if outcome.cancel_reason and not terminal and self.values["error"] is None:
            # (Once the instance is compensating, a cancel changes nothing: reacting to it
            # again at every durable point would undo the compensations' retry backoffs.)
            self.cancel_reason = outcome.cancel_reason
            if self.values["status"] in _SUSPENDED:
                # The cancel arrived while we were suspending: make sure a worker picks
                # the instance up again to compensate.
                self._store(
                    self.runtime.store.request_cancel,
                    self.instance_id,
                    outcome.cancel_reason,
                    self._now(),
                )
            else:
                raise CancelRequested(outcome.cancel_reason)

    def _begin(self, state: str, *, marker_changed: bool = False) -> None:
        """A side effect is about to start: make everything before it durable."""
        self._set_state(state, RUNNING)
        if self._has_buffered() or self._insert_row is not None:
            self._flush()
        elif self.writer.batches and (self._transitions or marker_changed):
            # Only the state label or the attempt changed: no need to wait for the disk,
            # they ride along with the next group commit.
            self._flush(wait=False)
        elif marker_changed:
            # An inline run resuming a retry or a pause: the new attempt is recorded before
            # it starts (one commit, on these rare paths only).
            self._flush()

    def _suspend(
        self,
        kind: WaitKind,
        name: str,
        seq: int,
        until: float | None,
        state: str,
        *,
        status: str = WAITING,
    ) -> NoReturn:
        self.values.update(
            status=status,
            run_at=until,
            wake_at=until,
            wait_kind=kind,
            wait_name=name,
            wait_seq=seq,
            lease_owner=None,
        )
        self._set_state(state, status)
        self._flush(recheck=name if kind in _EVENT_WAITS else None, full=True)
        raise Suspended()

    def _end(self, status: InstanceStatus, *, output: str | None = None) -> RunResult | None:
        """End the instance ``status`` on its own terms (success, incompatibility).

        A cancel that is pending by then takes effect instead: the end is not written, the
        run is put back as it was, and None tells the caller to compensate. So an accepted
        cancel is never dropped because the instance reached its end first.
        """
        values = dict(self.values)
        history, attempts = list(self._new_history), list(self._attempts)
        transitions, consumed = list(self._transitions), list(self._consumed)
        tasks, recorded_len = list(self._new_tasks), self._recorded_len
        try:
            self._finish(status, output=output, yields=True)
        except _CancelPending as pending:
            self.values.clear()
            self.values.update(values)
            self._new_history, self._attempts = history, attempts
            self._transitions, self._consumed = transitions, consumed
            self._new_tasks, self._recorded_len = tasks, recorded_len
            self.cancel_reason = pending.reason
            return None
        return self._finished()

    def _finish(
        self, end: InstanceStatus, *, output: str | None = None, yields: bool = False
    ) -> None:
        if self.values["error"] is not None:  # (a failed end may not have replayed the code)
            self.family = family_at_failure(self.family, self.instance_id, self.history)
        now = self._now()
        status = str(end)  # plain text: bound in the row, its transition and its bucket
        self.values.update(
            status=status,
            output=output,
            run_at=None,
            lease_owner=None,
            finished_at=now,
            **CLEAR_WAIT,
        )
        self._set_state(status.lower(), status)
        close = f"the instance ended {status}" if self._open_task else None
        self._flush(terminal=True, full=True, close_tasks=close, yields=yields)

    def _finished(self) -> RunResult:
        return RunResult(
            "finished",
            self.values["status"],
            output=self.values["output"],
            error=self.values["error"],
        )

    def _incompatible(self, reason: str) -> RunResult | None:
        """End INCOMPATIBLE, or None if a pending cancel takes effect instead (see _end)."""
        log.error("instance %s is INCOMPATIBLE: %s", self.instance_id, reason)
        self.values["error"] = json.dumps({"type": "Incompatible", "message": reason})
        return self._end(InstanceStatus.INCOMPATIBLE)


class _CancelPending(Exception):
    """An end (see DurableRun._end) was not written because a cancel is pending."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
