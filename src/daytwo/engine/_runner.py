"""Running an instance: replay with memoization, durable operations, suspension, saga.

A :class:`Run` is one execution of one instance by the holder of its lease. It calls the
workflow function from the top; every durable operation takes the next sequence number
and either returns the outcome recorded at that position or performs the operation and
records it. New history rows are buffered and written at the next *durable point* (before
a step's side effect starts, at a suspension, at the end) in one transaction with the
instance's new state. Between durable points workflow code is deterministic and has no
side effects, so a crash there is the same as a crash during the step before it.

This module holds what workflow code calls (steps, timers, signals, human tasks, recorded
values) and the forward path of a run. Underneath, by layer: the saga that undoes
completed steps (``_saga.py``), the attempt records (``_attempts.py``) and the bookkeeping
of replay position, buffered rows and durable points (:class:`DurableRun`,
``_durable.py``); calling a step function with its timeout is in ``_invocation.py``.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Callable, Mapping
from typing import Any, cast

from daytwo._errors import (
    CancelRequested,
    Divergence,
    InstanceExists,
    LeaseLost,
    LeaseTakenOver,
    SerializationError,
    StepFailed,
    StoreFailed,
    Suspended,
    WaitTimeout,
    _ControlFlow,
)
from daytwo.engine._async_context import PendingStep
from daytwo.engine._async_workflow import run_async_workflow
from daytwo.engine._circuit import admit_call, record_call
from daytwo.engine._clock import Clock
from daytwo.engine._context import Context, StepInfo, _run_var
from daytwo.engine._definitions import Step
from daytwo.engine._durable import (
    CLEAR_WAIT,
    COMPLETED,
    RUNNING,
    STEP,
    WAITING,
    RunResult,
    Runtime,
    Writer,
)
from daytwo.engine._invocation import error_record, invoke
from daytwo.engine._retry import NO_RETRY, FailurePolicy
from daytwo.engine._saga import SagaRun
from daytwo.engine._step_loop import StepLoop, invoke_async
from daytwo.engine._task_plan import RAISE, TaskSchedule
from daytwo.engine._task_wait import wait_for_task
from daytwo.store import HistoryKind, HistoryOutcome, InstanceStatus, WaitKind

__all__ = ["Run", "execute"]

log = logging.getLogger("daytwo.runner")

#: About how long an instance waits before asking again for a slot of a limited dependency.
DEPENDENCY_RETRY_SECONDS = 0.5


def execute(
    runtime: Runtime,
    writer: Writer,
    row: Mapping[Any, Any],
    *,
    history: list[dict[str, Any]] | None = None,
    insert: bool = False,
    step_loop: StepLoop | None = None,
) -> RunResult:
    """Run a claimed instance until it finishes, suspends, or loses its lease; its
    async steps run on ``step_loop`` (the worker's; by default one of this process)."""
    definition = runtime.registry.find(row["workflow"], row["version"])
    if definition is None:
        raise LookupError(f"workflow {row['workflow']}@{row['version']} is not registered")
    if history is None:
        # The store's rows are plain dicts already (its own copies): the run extends the list.
        stored = runtime.store.load_history(row["id"]) if row["history_size"] else []
        history = cast(list[dict[str, Any]], stored)
    run = Run(runtime, writer, definition, row, history, insert=insert)
    if step_loop is not None:
        run.step_loop = step_loop
    return run.execute()


#: Types whose values JSON gives back unchanged (tuples or non-string keys it does not).
_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


class Run(SagaRun):
    """One execution of one instance; see the module docstring."""

    #: An async workflow's run: its step calls return awaitables (``_async_context.py``),
    #: listed here until awaited.
    awaits: list[PendingStep[Any]] | None = None

    def execute(self) -> RunResult:
        """Run forward (or compensate, for an instance that already failed)."""
        try:
            if self.values["error"] is not None:
                return self._compensate()
            if self.cancel_reason is not None:
                return self._fail(self._stop_error(self.cancel_reason))
            return self._forward()
        except Suspended:
            return RunResult("suspended", self.values["status"], self.values["run_at"])
        except StoreFailed as failed:
            # The caller (worker or inline run) gives the lease back or retries.
            raise failed.error from None
        except InstanceExists:
            return RunResult("lost", RUNNING)
        except LeaseTakenOver as lost:
            log.warning(
                "instance %s: write rejected by the fencing token: lease token %d is stale "
                "(this worker's lease expired and another worker took the instance over); "
                "this run stops and its unwritten results are discarded (%s)",
                self.instance_id,
                self.token,
                lost.rejected,
            )
            return RunResult("lost", RUNNING)

    def _forward(self) -> RunResult:
        token = _run_var.set(self)
        try:
            input_value = self.runtime.serde.loads(self.input_text)
            if self.definition.is_async:
                result = run_async_workflow(self, input_value)
            else:
                result = self.definition.call(Context(self), input_value)
        except Divergence as divergence:
            return self._cancelled_if(self._incompatible(divergence.reason))
        except CancelRequested as cancel:
            return self._fail(self._stop_error(cancel.reason))
        except (Suspended, LeaseLost):
            raise
        except Exception as exc:
            if self.position < self._recorded_len:
                recorded = self.history[self.position]
                return self._cancelled_if(
                    self._incompatible(
                        f"at position {self.position} the history records {recorded['kind']} "
                        f"{recorded['name']!r} but the workflow now raised "
                        f"{type(exc).__name__}: {exc}"
                    )
                )
            return self._fail(error_record(exc))
        finally:
            _run_var.reset(token)
        if self._suspended_but_swallowed():
            return RunResult("suspended", WAITING, self.values["run_at"])
        self._past_deadline_rows()
        if self.position < len(self.history):
            recorded = self.history[self.position]
            return self._cancelled_if(
                self._incompatible(
                    f"the workflow now returns after {self.position} operation(s) but the "
                    f"history records {len(self.history)}; position {self.position} is "
                    f"{recorded['kind']} {recorded['name']!r}"
                )
            )
        if self.values["wait_kind"] is not None:
            return self._cancelled_if(
                self._incompatible(
                    f"the workflow now returns after {self.position} operation(s) but the "
                    f"instance is waiting at position {self.values['wait_seq']} for "
                    f"{self.values['wait_kind']} {self.values['wait_name']!r}"
                )
            )
        try:
            output = self.runtime.serde.dumps(
                result, f"the result of workflow {self.definition.name!r}"
            )
        except SerializationError as exc:
            return self._fail(error_record(exc))
        return self._cancelled_if(self._end(InstanceStatus.SUCCEEDED, output=output))

    def _cancelled_if(self, ended: RunResult | None) -> RunResult:
        """``ended``, or, when a pending cancel kept the instance from ending, the saga."""
        if ended is not None:
            return ended
        assert self.cancel_reason is not None
        return self._fail(self._stop_error(self.cancel_reason))

    def _suspended_but_swallowed(self) -> bool:
        # User code caught BaseException around a wait. The wait is recorded and the lease
        # released already, so the instance is correctly WAITING; just don't complete it.
        if self.values["status"] == WAITING:
            log.error(
                "instance %s: workflow code caught daytwo's suspension signal; never catch "
                "BaseException around ctx.sleep/wait_for_signal/human_task",
                self.instance_id,
            )
            return True
        return False

    # -- operations -----------------------------------------------------------------------

    def call_step(self, step: Step[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Execute (or replay) a step call at the next position."""
        serde = self.runtime.serde
        recorded = self._replay(STEP, step.name)
        if recorded is not None:
            if recorded["outcome"] == COMPLETED:
                return serde.loads(recorded["result"])
            error = json.loads(recorded["error"])
            raise StepFailed(step.name, error["type"], error["message"], recorded["attempt"])
        seq = self.position - 1
        args_text = serde.dumps([list(args), kwargs], step.describe_arguments)
        key = f"{self.instance_id}:{seq}"
        attempt = self._next_attempt(step.name, seq, key)
        slot = self._gate(step, seq)
        # A step without a dependency pays one attribute test; an open circuit suspends here.
        circuit = None if step.dependency is None else admit_call(self, step, seq)
        self._begin_attempt(step.name, step.name, seq, attempt)
        if slot is not None:
            self._take_slot(step, seq, slot)
        info = StepInfo(
            self.instance_id, self.definition.name, step.name, seq, attempt, key,
            threading.Event() if step.timeout is not None else None,
        )  # fmt: skip
        started = self._now()
        try:
            if step.is_async:
                value = invoke_async(self.step_loop, step.fn, args, kwargs, info, step.timeout)
            else:
                value = invoke(step.fn, args, kwargs, info, step.timeout)
        except _ControlFlow:
            raise
        except Exception as exc:
            if slot is not None:
                self._give_slot(step)
            if circuit is not None:
                record_call(self, circuit, started, exc)
            self._step_failed(
                step.name, seq, attempt, key, started, args_text, exc, step.retry, self._parks(step)
            )  # fmt: skip
        if slot is not None:
            self._give_slot(step)
        if circuit is not None:
            record_call(self, circuit, started, None)
        try:
            result_text = serde.dumps(value, step.describe_result)
        except SerializationError as exc:
            # A result that cannot be stored is a bug in the step, not a transient failure:
            # its side effect has run, and every retry would run it again for nothing.
            self._step_failed(
                step.name, seq, attempt, key, started, args_text, exc, NO_RETRY, self._parks(step)
            )  # fmt: skip
        self._record(
            seq, STEP, step.name, COMPLETED,
            args=args_text, result=result_text, attempt=attempt, idempotency_key=key,
            started_at=started,
        )  # fmt: skip
        self.values.update(CLEAR_WAIT)
        if self._plain_json and type(value) in _JSON_SCALARS:
            return value  # what parsing result_text would give back
        return serde.loads(result_text)

    def _parks(self, step: Step[Any, Any]) -> bool:
        """Whether the step parks its instance when it fails for good (the step's policy,
        else the workflow's)."""
        return (step.on_failure or self.definition.on_failure) is FailurePolicy.PARK

    def _gate(self, step: Step[Any, Any], seq: int) -> int | None:
        """Hold the instance at a paused step; return the step's dependency limit, if any."""
        flow = self.runtime.flow
        settings = self._store(flow.settings)
        if (self.definition.name, step.name) in settings.paused_steps:
            # The snapshot may predate a resume, which wakes only instances already held:
            # decide on the stored pauses, and look again once the suspension is durable.
            settings = self._store(flow.settings, fresh=True)
        if (self.definition.name, step.name) in settings.paused_steps:
            # Visible in its own state until `daytwo resume` makes it runnable again.
            try:
                self._suspend(WaitKind.PAUSED, step.name, seq, None, f"paused:{step.name}")
            except Suspended:
                self._store(flow.wake_if_resumed, self.instance_id, self.definition.name, step.name)
                raise
        if step.dependency is None:
            return None
        return settings.dependency_limits.get(step.dependency)

    def _take_slot(self, step: Step[Any, Any], seq: int, limit: int) -> None:
        """Take a slot of the step's dependency, or wait (without a thread) and retry soon."""
        flow = self.runtime.flow
        assert step.dependency is not None
        if self._store(flow.acquire_slot, step.dependency, limit, self.instance_id, self.token):
            return
        retry_at = self._now() + DEPENDENCY_RETRY_SECONDS * (0.5 + random.random())
        # The attempt did not start: the instance waits with the count of those made before.
        self.values["attempt"] -= 1
        self._suspend(
            WaitKind.THROTTLED, step.name, seq, retry_at, f"waiting for {step.dependency}"
        )

    def _give_slot(self, step: Step[Any, Any]) -> None:
        assert step.dependency is not None
        self._store(self.runtime.flow.release_slot, step.dependency, self.instance_id, self.token)

    def sleep(self, seconds: float, name: str) -> None:
        """A durable timer."""
        if self._replay(HistoryKind.TIMER, name) is not None:
            return
        seq = self.position - 1
        now = self._now()
        until = self.values["wake_at"] if self._pending(seq, WaitKind.TIMER) else now + seconds
        if now >= until:
            self._record(
                seq, HistoryKind.TIMER, name, HistoryOutcome.COMPLETED,
                started_at=self._wait_started(seq, WaitKind.TIMER), detail={"until": until},
            )  # fmt: skip
            self.values.update(CLEAR_WAIT)
            return
        self._suspend(WaitKind.TIMER, name, seq, until, name)

    def wait_for_signal(self, name: str, timeout: float | None) -> Any:
        """Wait for a named signal, with an optional timeout."""
        serde = self.runtime.serde
        recorded = self._replay(HistoryKind.SIGNAL, name)
        if recorded is not None:
            if recorded["outcome"] == HistoryOutcome.TIMED_OUT:
                raise WaitTimeout(f"signal {name!r} did not arrive within the timeout")
            return serde.loads(recorded["result"])
        seq = self.position - 1
        signal = self._pending_signal(name)
        if signal is not None:
            self._record(
                seq, HistoryKind.SIGNAL, name, HistoryOutcome.COMPLETED, result=signal["payload"],
                started_at=self._wait_started(seq, WaitKind.SIGNAL),
            )  # fmt: skip
            self._consumed.append((signal["id"], seq))
            self.values.update(CLEAR_WAIT)
            return serde.loads(signal["payload"])
        now = self._now()
        if self._pending(seq, WaitKind.SIGNAL):
            until = self.values["wake_at"]
        else:
            until = None if timeout is None else now + timeout
        if until is not None and now >= until:
            self._record(
                seq, HistoryKind.SIGNAL, name, HistoryOutcome.TIMED_OUT,
                detail={"timeout_at": until}, started_at=self._wait_started(seq, WaitKind.SIGNAL),
            )  # fmt: skip
            self.values.update(CLEAR_WAIT)
            raise WaitTimeout(f"signal {name!r} did not arrive within the timeout")
        self._suspend(WaitKind.SIGNAL, name, seq, until, name)

    def human_task(
        self,
        name: str,
        assignee: str | None,
        due: float | None,
        payload: Any,
        schedule: TaskSchedule | None = None,
        on_timeout: Any = RAISE,
    ) -> Any:
        """Create (once) a human task and wait for its outcome (``_task_wait.py``)."""
        return wait_for_task(self, name, assignee, due, payload, schedule, on_timeout)

    def _pending_signal(self, name: str) -> Mapping[Any, Any] | None:
        """The oldest signal of ``name`` that no wait has taken, this run's included."""
        taken = [signal_id for signal_id, _ in self._consumed]
        return self._store(self.runtime.store.pending_signal, self.instance_id, name, taken)

    def record_value(self, kind: HistoryKind, produce: Callable[[Clock], Any]) -> Any:
        """Record a non-deterministic value (time, uuid, random) at the next position."""
        recorded = self._replay(kind, kind)
        if recorded is not None:
            return json.loads(recorded["result"])
        value = produce(self.runtime.clock)
        self._record(self.position - 1, kind, kind, COMPLETED, result=json.dumps(value))
        return value
