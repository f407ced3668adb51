"""Running an instance: replay with memoization, durable operations, suspension, saga.

A :class:`Run` is one execution of one instance by the holder of its lease. It calls the
workflow function from the top; every durable operation takes the next sequence number
and either returns the outcome recorded at that position or performs the operation and
records it. New history rows are buffered and written at the next *durable point* (before
a step's side effect starts, at a suspension, at the end) in one transaction with the
instance's new state. Between durable points workflow code is deterministic and has no
side effects, so a crash there is the same as a crash during the step before it.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from contextvars import copy_context
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from daytwo._errors import (
    CancelRequested,
    Divergence,
    LeaseLost,
    SerializationError,
    StepFailed,
    StoreFailed,
    Suspended,
    WaitTimeout,
    _ControlFlow,
)
from daytwo.engine._clock import Clock, SystemClock
from daytwo.engine._context import Context, StepInfo, _run_var, _step_var
from daytwo.engine._definitions import Registry, Step, WorkflowDefinition
from daytwo.engine._retry import Retry
from daytwo.engine._serde import JsonSerializer, Serializer
from daytwo.store._flow import FlowControl
from daytwo.store._store import Store
from daytwo.store._writes import RUN_COLUMNS, InstanceWrite, WriteOutcome

__all__ = ["Run", "RunResult", "Runtime", "StepTimeout", "Writer", "execute"]

log = logging.getLogger("daytwo.runner")

_T = TypeVar("_T")

#: About how long an instance waits before asking again for a slot of a limited dependency.
DEPENDENCY_RETRY_SECONDS = 0.5


class StepTimeout(TimeoutError):
    """A step attempt ran longer than its ``timeout``."""


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
    #: Paused steps and dependency limits; None runs every step unthrottled.
    flow: FlowControl | None = None


@dataclass(frozen=True, slots=True)
class RunResult:
    """How a run ended."""

    kind: Literal["finished", "suspended", "lost"]
    status: str
    #: When the instance becomes claimable again (suspended runs with a deadline).
    run_at: float | None = None
    #: The stored output and error (JSON text) of a finished instance.
    output: str | None = None
    error: str | None = None


def error_record(exc: BaseException) -> dict[str, Any]:
    """The stored form of an exception."""
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(exc))[-4000:],
    }


def execute(
    runtime: Runtime,
    writer: Writer,
    row: Mapping[Any, Any],
    *,
    history: list[dict[str, Any]] | None = None,
    insert: bool = False,
) -> RunResult:
    """Run a claimed instance until it finishes, suspends, or loses its lease."""
    definition = runtime.registry.find(row["workflow"], row["version"])
    if definition is None:
        raise LookupError(f"workflow {row['workflow']}@{row['version']} is not registered")
    if history is None:
        history = (
            [dict(r) for r in runtime.store.load_history(row["id"])] if row["history_size"] else []
        )
    run = Run(runtime, writer, definition, row, history, insert=insert)
    return run.execute()


def _rejected(write: InstanceWrite) -> str:
    """What a write that lost its lease would have recorded, for the log."""
    rows = [f"{row['kind']} {row['name']!r} at position {row['seq']}" for row in write.history]
    rows += [f"failed attempt {row['attempt']} of {row['name']!r}" for row in write.attempts]
    status = write.values["status"]
    return f"status {status}" + (f", {', '.join(rows)}" if rows else "")


#: Types whose values JSON gives back unchanged (tuples or non-string keys it does not).
_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})

_CLEAR_WAIT = {
    "wait_kind": None,
    "wait_name": None,
    "wait_seq": None,
    "wake_at": None,
    "attempt": 0,
}


class Run:
    """One execution of one instance; see the module docstring."""

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
        self.owner: str | None = row["lease_owner"]
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

    # -- top level ------------------------------------------------------------------------

    @property
    def is_replaying(self) -> bool:
        """Whether the current position is already in the recorded history."""
        return self.position < self._recorded_len

    def execute(self) -> RunResult:
        """Run forward (or compensate, for an instance that already failed)."""
        try:
            if self.values["error"] is not None:
                return self._compensate()
            if self.cancel_reason is not None:
                return self._fail({"type": "Cancelled", "message": self.cancel_reason})
            return self._forward()
        except Suspended:
            return RunResult("suspended", "WAITING", self.values["run_at"])
        except StoreFailed as failed:
            # The caller (worker or inline run) gives the lease back or retries.
            raise failed.error from None
        except LeaseLost as lost:
            if lost.args == ("exists",):
                return RunResult("lost", "RUNNING")
            log.warning(
                "instance %s: write rejected by the fencing token: lease token %d is stale "
                "(this worker's lease expired and another worker took the instance over); "
                "this run stops and its unwritten results are discarded (%s)",
                self.instance_id,
                self.token,
                lost.args[0] if lost.args else "none",
            )
            return RunResult("lost", "RUNNING")

    def _store(self, call: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """Call the store; its failure stops the run instead of failing the workflow."""
        try:
            return call(*args, **kwargs)
        except Exception as exc:
            raise StoreFailed(exc) from exc

    def _forward(self) -> RunResult:
        token = _run_var.set(self)
        try:
            input_value = self.runtime.serde.loads(self.input_text)
            result = self.definition.fn(Context(self), input_value)
        except Divergence as divergence:
            return self._incompatible(divergence.reason)
        except CancelRequested as cancel:
            return self._fail({"type": "Cancelled", "message": cancel.reason})
        except (Suspended, LeaseLost):
            raise
        except Exception as exc:
            if self.position < self._recorded_len:
                recorded = self.history[self.position]
                return self._incompatible(
                    f"at position {self.position} the history records {recorded['kind']} "
                    f"{recorded['name']!r} but the workflow now raised "
                    f"{type(exc).__name__}: {exc}"
                )
            return self._fail(error_record(exc))
        finally:
            _run_var.reset(token)
        if self._suspended_but_swallowed():
            return RunResult("suspended", "WAITING", self.values["run_at"])
        if self.position < len(self.history):
            recorded = self.history[self.position]
            return self._incompatible(
                f"the workflow now returns after {self.position} operation(s) but the history "
                f"records {len(self.history)}; position {self.position} is {recorded['kind']} "
                f"{recorded['name']!r}"
            )
        if self.values["wait_kind"] is not None:
            return self._incompatible(
                f"the workflow now returns after {self.position} operation(s) but the instance "
                f"is waiting at position {self.values['wait_seq']} for "
                f"{self.values['wait_kind']} {self.values['wait_name']!r}"
            )
        try:
            output = self.runtime.serde.dumps(
                result, f"the result of workflow {self.definition.name!r}"
            )
        except SerializationError as exc:
            return self._fail(error_record(exc))
        self._finish("SUCCEEDED", output=output)
        return self._finished()

    def _suspended_but_swallowed(self) -> bool:
        # User code caught BaseException around a wait. The wait is recorded and the lease
        # released already, so the instance is correctly WAITING; just don't complete it.
        if self.values["status"] == "WAITING":
            log.error(
                "instance %s: workflow code caught daytwo's suspension signal; never catch "
                "BaseException around ctx.sleep/wait_for_signal/human_task",
                self.instance_id,
            )
            return True
        return False

    # -- replay ---------------------------------------------------------------------------

    def _replay(self, kind: str, name: str) -> dict[str, Any] | None:
        seq = self.position
        self.position += 1
        if seq < len(self.history):
            recorded = self.history[seq]
            if recorded["kind"] != kind or recorded["name"] != name:
                raise Divergence(
                    f"at position {seq} the history records {recorded['kind']} "
                    f"{recorded['name']!r} but the workflow now calls {kind} {name!r}",
                    seq,
                )
            return recorded
        if seq == self.values["wait_seq"] and self.values["error"] is None:
            self._check_pending_wait(seq, kind, name)
        return None

    def _check_pending_wait(self, seq: int, kind: str, name: str) -> None:
        """The instance waits at ``seq``; the code must still be doing that same operation."""
        wait_kind, wait_name = self.values["wait_kind"], self.values["wait_name"]
        expected = "step" if wait_kind in ("retry", "paused", "throttled") else wait_kind
        if (expected, wait_name) != (kind, name):
            waiting = {
                "retry": f"a retry of step {wait_name!r}",
                "paused": f"paused step {wait_name!r}",
                "throttled": f"a slot for step {wait_name!r}",
                "timer": f"timer {wait_name!r}",
                "signal": f"signal {wait_name!r}",
                "task": f"human task {wait_name!r}",
            }.get(wait_kind, f"{wait_kind} {wait_name!r}")
            raise Divergence(
                f"at position {seq} the instance is waiting for {waiting} but the workflow "
                f"now calls {kind} {name!r}",
                seq,
            )

    def _record(
        self,
        seq: int,
        kind: str,
        name: str,
        outcome: str,
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

    def _wait_started(self, seq: int, kind: str) -> float:
        """When the wait at ``seq`` began: when the instance entered its waiting state."""
        if self._pending(seq, kind):
            return float(self.values["state_entered_at"])
        return self._now()

    def _pending(self, seq: int, kind: str) -> bool:
        return bool(self.values["wait_seq"] == seq and self.values["wait_kind"] == kind)

    # -- durable points -------------------------------------------------------------------

    def _set_state(self, state: str, status: str) -> None:
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
        )
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
            if write.insert is not None:
                raise LeaseLost("exists")
            raise LeaseLost(_rejected(write))
        if outcome.cancel_reason and not terminal:
            self.cancel_reason = outcome.cancel_reason
            if self.values["status"] == "WAITING":
                # The cancel arrived while we were suspending: make sure a worker picks
                # the instance up again to compensate.
                self._store(
                    self.runtime.store.request_cancel,
                    self.instance_id,
                    outcome.cancel_reason,
                    self._now(),
                )
            elif self.values["error"] is None:
                raise CancelRequested(outcome.cancel_reason)

    def _begin(self, state: str) -> None:
        """A side effect is about to start: make everything before it durable."""
        self._set_state(state, "RUNNING")
        if self._has_buffered() or self._insert_row is not None:
            self._flush()
        elif self._transitions and self.writer.batches:
            # Only the state label changed: no need to wait for the disk, the label rides
            # along with the next group commit.
            self._flush(wait=False)

    def _suspend(self, kind: str, name: str, seq: int, until: float | None, state: str) -> None:
        self.values.update(
            status="WAITING",
            run_at=until,
            wake_at=until,
            wait_kind=kind,
            wait_name=name,
            wait_seq=seq,
            lease_owner=None,
        )
        self._set_state(state, "WAITING")
        self._flush(recheck=name if kind in ("signal", "task") else None, full=True)
        raise Suspended()

    def _finish(self, status: str, *, output: str | None = None) -> None:
        now = self._now()
        self.values.update(
            status=status,
            output=output,
            run_at=None,
            lease_owner=None,
            finished_at=now,
            **_CLEAR_WAIT,
        )
        self._set_state(status.lower(), status)
        self._flush(terminal=True, full=True)

    def _finished(self) -> RunResult:
        return RunResult(
            "finished",
            self.values["status"],
            output=self.values["output"],
            error=self.values["error"],
        )

    def _incompatible(self, reason: str) -> RunResult:
        log.error("instance %s is INCOMPATIBLE: %s", self.instance_id, reason)
        self.values["error"] = json.dumps({"type": "Incompatible", "message": reason})
        self._finish("INCOMPATIBLE")
        return self._finished()

    # -- operations -----------------------------------------------------------------------

    def call_step(self, step: Step[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Execute (or replay) a step call at the next position."""
        serde = self.runtime.serde
        recorded = self._replay("step", step.name)
        if recorded is not None:
            if recorded["outcome"] == "completed":
                return serde.loads(recorded["result"])
            error = json.loads(recorded["error"])
            raise StepFailed(step.name, error["type"], error["message"], recorded["attempt"])
        seq = self.position - 1
        args_text = serde.dumps([list(args), kwargs], step.describe_arguments)
        # A step held by a pause or a dependency limit keeps the attempt count of its retry.
        attempt = self.values["attempt"] + 1 if self.values["wait_seq"] == seq else 1
        key = f"{self.instance_id}:{seq}"
        slot = self._gate(step, seq)
        self._begin(step.name)
        if slot is not None and not self._take_slot(step, seq, slot):
            slot = None
        info = StepInfo(self.instance_id, self.definition.name, step.name, seq, attempt, key)
        started = self._now()
        try:
            value = _invoke(step.fn, args, kwargs, info, step.timeout)
            result_text = serde.dumps(value, step.describe_result)
        except _ControlFlow:
            raise
        except Exception as exc:
            if slot is not None:
                self._give_slot(step)
            self._attempt_failed(step.name, seq, attempt, key, started, exc, step.retry)
            self._record(
                seq, "step", step.name, "failed",
                args=args_text, error=json.dumps(error_record(exc)), attempt=attempt,
                idempotency_key=key, started_at=started,
            )  # fmt: skip
            self.values.update(_CLEAR_WAIT)
            raise StepFailed(step.name, type(exc).__name__, str(exc), attempt) from exc
        if slot is not None:
            self._give_slot(step)
        self._record(
            seq, "step", step.name, "completed",
            args=args_text, result=result_text, attempt=attempt, idempotency_key=key,
            started_at=started,
        )  # fmt: skip
        self.values.update(_CLEAR_WAIT)
        if self._plain_json and type(value) in _JSON_SCALARS:
            return value  # what parsing result_text would give back
        return serde.loads(result_text)

    def _gate(self, step: Step[Any, Any], seq: int) -> int | None:
        """Hold the instance at a paused step; return the step's dependency limit, if any."""
        flow = self.runtime.flow
        if flow is None:
            return None
        settings = self._store(flow.settings)
        if (self.definition.name, step.name) in settings.paused_steps:
            # Visible in its own state until `daytwo resume` makes it runnable again.
            self._suspend("paused", step.name, seq, None, f"paused:{step.name}")
        if step.dependency is None:
            return None
        return settings.dependency_limits.get(step.dependency)

    def _take_slot(self, step: Step[Any, Any], seq: int, limit: int) -> bool:
        """Take a slot of the step's dependency, or wait (without a thread) and retry soon."""
        flow = self.runtime.flow
        assert flow is not None and step.dependency is not None
        if self._store(flow.acquire_slot, step.dependency, limit, self.instance_id, self.token):
            return True
        retry_at = self._now() + DEPENDENCY_RETRY_SECONDS * (0.5 + random.random())
        self._suspend("throttled", step.name, seq, retry_at, f"waiting for {step.dependency}")
        return False  # not reached: _suspend raises

    def _give_slot(self, step: Step[Any, Any]) -> None:
        flow = self.runtime.flow
        assert flow is not None and step.dependency is not None
        self._store(flow.release_slot, step.dependency, self.instance_id)

    def _attempt_failed(
        self,
        name: str,
        seq: int,
        attempt: int,
        key: str,
        started: float,
        exc: Exception,
        retry: Retry,
    ) -> None:
        """Record a failed attempt; suspend until the retry if the policy allows one."""
        now = self._now()
        retry_at = now + retry.delay(attempt) if retry.retryable(exc, attempt) else None
        self._attempts.append(
            {
                "instance_id": self.instance_id,
                "seq": seq,
                "attempt": attempt,
                "name": name,
                "error": json.dumps(error_record(exc)),
                "idempotency_key": key,
                "started_at": started,
                "finished_at": now,
                "retry_at": retry_at,
            }
        )
        log.info("instance %s: %s attempt %d failed: %r", self.instance_id, name, attempt, exc)
        if retry_at is not None:
            self.values["attempt"] = attempt
            self._suspend("retry", name, seq, retry_at, self.values["state"])

    def sleep(self, seconds: float, name: str) -> None:
        """A durable timer."""
        if self._replay("timer", name) is not None:
            return
        seq = self.position - 1
        now = self._now()
        until = self.values["wake_at"] if self._pending(seq, "timer") else now + seconds
        if now >= until:
            self._record(
                seq, "timer", name, "completed", started_at=self._wait_started(seq, "timer"),
                detail={"until": until},
            )  # fmt: skip
            self.values.update(_CLEAR_WAIT)
            return
        self._suspend("timer", name, seq, until, name)

    def wait_for_signal(self, name: str, timeout: float | None) -> Any:
        """Wait for a named signal, with an optional timeout."""
        serde = self.runtime.serde
        recorded = self._replay("signal", name)
        if recorded is not None:
            if recorded["outcome"] == "timed_out":
                raise WaitTimeout(f"signal {name!r} did not arrive within the timeout")
            return serde.loads(recorded["result"])
        seq = self.position - 1
        signal = self._store(self.runtime.store.pending_signal, self.instance_id, name)
        if signal is not None:
            self._record(
                seq, "signal", name, "completed", result=signal["payload"],
                started_at=self._wait_started(seq, "signal"),
            )  # fmt: skip
            self._consumed.append((signal["id"], seq))
            self.values.update(_CLEAR_WAIT)
            return serde.loads(signal["payload"])
        now = self._now()
        if self._pending(seq, "signal"):
            until = self.values["wake_at"]
        else:
            until = None if timeout is None else now + timeout
        if until is not None and now >= until:
            self._record(
                seq, "signal", name, "timed_out", detail={"timeout_at": until},
                started_at=self._wait_started(seq, "signal"),
            )  # fmt: skip
            self.values.update(_CLEAR_WAIT)
            raise WaitTimeout(f"signal {name!r} did not arrive within the timeout")
        self._suspend("signal", name, seq, until, name)

    def human_task(self, name: str, assignee: str | None, due: float | None, payload: Any) -> Any:
        """Create (once) a human task and wait for its completion."""
        serde = self.runtime.serde
        recorded = self._replay("task", name)
        if recorded is not None:
            return serde.loads(recorded["result"])
        seq = self.position - 1
        pending = self._pending(seq, "task")
        now = self._now()
        signal = self._store(self.runtime.store.pending_signal, self.instance_id, name)
        task = None
        if not pending:
            task = {
                "id": uuid.uuid4().hex[:16],
                "instance_id": self.instance_id,
                "seq": seq,
                "name": name,
                "assignee": assignee,
                "payload": serde.dumps(payload, f"the payload of human task {name!r}"),
                "status": "open",
                "due_at": None if due is None else now + due,
                "created_at": now,
            }
        if signal is not None:
            if task is not None:
                # Completed before the workflow got here: file it as done.
                task.update(
                    status="completed",
                    result=signal["payload"],
                    completed_at=now,
                    completed_by=signal["sent_by"],
                )
                self._new_tasks.append(task)
            self._record(
                seq, "task", name, "completed", result=signal["payload"],
                started_at=self._wait_started(seq, "task"),
            )  # fmt: skip
            self._consumed.append((signal["id"], seq))
            self.values.update(_CLEAR_WAIT)
            return serde.loads(signal["payload"])
        if task is not None:
            self._new_tasks.append(task)
        self._suspend("task", name, seq, None, name)

    def record_value(self, kind: str, produce: Callable[[Clock], Any]) -> Any:
        """Record a non-deterministic value (time, uuid, random) at the next position."""
        recorded = self._replay(kind, kind)
        if recorded is not None:
            return json.loads(recorded["result"])
        value = produce(self.runtime.clock)
        self._record(self.position - 1, kind, kind, "completed", result=json.dumps(value))
        return value

    # -- failure and compensation ---------------------------------------------------------

    def _fail(self, error: dict[str, Any]) -> RunResult:
        """The instance failed for good: enter compensation."""
        self.values.update(error=json.dumps(error), **_CLEAR_WAIT)
        self.values["status"] = "RUNNING"
        if not self._compensations_due():
            return self._end_failed(compensated=False)
        self._set_state("compensating", "RUNNING")
        self._flush(terminal=True)
        return self._compensate()

    def _compensations_due(self) -> list[dict[str, Any]]:
        done = {
            json.loads(row["detail"])["compensates"]
            for row in self.history
            if row["kind"] == "compensation"
        }
        due = []
        for row in reversed(self.history):
            if row["kind"] != "step" or row["outcome"] != "completed" or row["seq"] in done:
                continue
            step = self.runtime.registry.step(row["name"])
            if step is not None and step.compensation is not None:
                due.append(row)
        return due

    def _compensate(self) -> RunResult:
        serde = self.runtime.serde
        clock = self.runtime.clock
        for row in self._compensations_due():
            step = self.runtime.registry.step(row["name"])
            assert step is not None and step.compensation is not None
            seq = len(self.history)
            attempt = self.values["attempt"] + 1 if self._pending(seq, "retry") else 1
            key = f"{self.instance_id}:{row['seq']}:compensate"
            self._begin(f"compensating:{row['name']}")
            args, kwargs = serde.loads(row["args"])
            result = serde.loads(row["result"])
            info = StepInfo(self.instance_id, self.definition.name, row["name"], seq, attempt, key)
            started = clock.now()
            try:
                _invoke(step.compensation, (*args, result), kwargs, info, step.timeout)
            except _ControlFlow:
                raise
            except Exception as exc:
                name = f"compensate:{row['name']}"
                self._attempt_failed(name, seq, attempt, key, started, exc, step.compensation_retry)
                self._record(
                    seq, "compensation", row["name"], "failed",
                    error=json.dumps(error_record(exc)), attempt=attempt, idempotency_key=key,
                    started_at=started, detail={"compensates": row["seq"]},
                )  # fmt: skip
                error = json.loads(self.values["error"])
                error["compensation_error"] = error_record(exc)
                self.values["error"] = json.dumps(error)
                self._finish("COMPENSATION_FAILED")
                return self._finished()
            self._record(
                seq, "compensation", row["name"], "completed",
                attempt=attempt, idempotency_key=key, started_at=started,
                detail={"compensates": row["seq"]},
            )  # fmt: skip
            self.values.update(_CLEAR_WAIT)
        return self._end_failed(compensated=True)

    def _end_failed(self, *, compensated: bool) -> RunResult:
        error = json.loads(self.values["error"])
        if error.get("type") == "Cancelled":
            status = "CANCELLED"
        elif compensated or any(row["kind"] == "compensation" for row in self.history):
            status = "COMPENSATED"
        else:
            status = "FAILED"
        self._finish(status)
        return self._finished()


def _invoke(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    info: StepInfo,
    timeout: float | None,
) -> Any:
    """Call a step function with its step info set, optionally bounded by ``timeout``."""

    def call() -> Any:
        run_token = _run_var.set(None)  # a step calling another step runs it plainly
        step_token = _step_var.set(info)
        try:
            return fn(*args, **kwargs)
        finally:
            _step_var.reset(step_token)
            _run_var.reset(run_token)

    if timeout is None:
        return call()
    # Python cannot interrupt a running function; the attempt is abandoned (and recorded
    # as timed out) while its thread runs on detached, as Temporal abandons an activity.
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            done.set()

    context = copy_context()
    threading.Thread(target=context.run, args=(target,), daemon=True, name="daytwo-step").start()
    if not done.wait(timeout):
        raise StepTimeout(f"step {info.step!r} did not finish within {timeout} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
