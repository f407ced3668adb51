"""The saga: an instance that failed for good (or was cancelled) undoes its completed steps.

:class:`SagaRun` runs the compensations of the completed steps in reverse order, each a
durable, retried step of its own (``compensation`` history rows, idempotency key
``{id}:{seq}:compensate``), and decides the end status: CANCELLED for a cancel,
COMPENSATED when something was compensated, FAILED when there was nothing to compensate,
COMPENSATION_FAILED when a compensation exhausted its retries.
"""

from __future__ import annotations

import inspect
import json
import threading
from typing import Any

from daytwo._errors import _ControlFlow
from daytwo.engine._attempts import AttemptRun
from daytwo.engine._context import StepInfo
from daytwo.engine._deadline import DEADLINE_ERROR, deadline_detail, park_at_deadline, stop_error
from daytwo.engine._durable import CLEAR_WAIT, COMPLETED, RUNNING, STEP, RunResult
from daytwo.engine._invocation import error_record, invoke
from daytwo.engine._retry import FailurePolicy
from daytwo.engine._step_loop import PROCESS_STEP_LOOP, StepLoop, invoke_async
from daytwo.store import DEADLINE_REASON, HistoryKind, HistoryOutcome, InstanceStatus, WaitKind

__all__ = ["SagaRun"]


class SagaRun(AttemptRun):
    """Failure and compensation; see the module docstring."""

    #: Where the async steps and compensations of this run execute (the worker's loop).
    step_loop: StepLoop = PROCESS_STEP_LOOP

    def _stop_error(self, reason: str) -> dict[str, Any]:
        """The error of a cancel with ``reason``, or of the deadline (``_deadline.py``)."""
        return stop_error(self, reason)

    def _fail(self, error: dict[str, Any]) -> RunResult:
        """The instance failed for good (or was cancelled): enter compensation."""
        deadline = error["type"] == DEADLINE_ERROR
        if deadline and self.definition.on_failure is FailurePolicy.PARK:
            return park_at_deadline(self, error)
        self.values.update(error=json.dumps(error), **CLEAR_WAIT)
        self.values["status"] = RUNNING
        if error["type"] == "Cancelled":
            self._record_cancel(HistoryOutcome.COMPLETED, error["message"])
        elif deadline:
            self._record(
                len(self.history), HistoryKind.DEADLINE, "deadline", HistoryOutcome.COMPLETED,
                detail=deadline_detail(error, "compensate"),
            )  # fmt: skip
        if not self._compensations_due():
            return self._end_failed(compensated=False)
        self._set_state("compensating", RUNNING)
        self._flush(terminal=True)
        if self.cancel_seen is not None and error["type"] not in ("Cancelled", DEADLINE_ERROR):
            # Accepted while this run was already failing: the failure's saga goes on.
            self._record_cancel(HistoryOutcome.SUPERSEDED, self.cancel_seen, failed=error)
        return self._compensate()

    def _record_cancel(
        self, outcome: HistoryOutcome, reason: str, *, failed: dict[str, Any] | None = None
    ) -> None:
        """A history row for a cancel: it took effect ("completed"), or it arrived while the
        instance was already failing ("superseded": the failure's compensation went on)."""
        detail: dict[str, Any] = {"reason": reason}
        if failed is not None:
            detail["failure"] = f"{failed.get('type')}: {failed.get('message')}"
        if reason == DEADLINE_REASON:  # the deadline passed while the instance was failing
            detail = {**deadline_detail(self._stop_error(reason), "superseded"), **detail}
            self._record(len(self.history), HistoryKind.DEADLINE, "deadline", outcome,
                         detail=detail)  # fmt: skip
            return
        self._record(len(self.history), HistoryKind.CANCEL, "cancel", outcome, detail=detail)

    def _compensations_due(self) -> list[dict[str, Any]]:
        done = {
            json.loads(row["detail"])["compensates"]
            for row in self.history
            if row["kind"] == HistoryKind.COMPENSATION
        }
        due = []
        for row in reversed(self.history):
            if row["kind"] != STEP or row["outcome"] != COMPLETED or row["seq"] in done:
                continue
            if row["detail"] is not None and "skipped_by" in json.loads(row["detail"]):
                # An operator supplied its result (``daytwo instance skip``): the step's
                # side effect never happened, so there is nothing to undo.
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
            name = f"compensate:{row['name']}"
            key = f"{self.instance_id}:{row['seq']}:compensate"
            attempt = 1
            if self._pending(seq, WaitKind.RETRY) or self._pending(seq, WaitKind.ATTEMPT):
                attempt = self._next_attempt(name, seq, key)
            self._begin_attempt(f"compensating:{row['name']}", name, seq, attempt)
            args, kwargs = serde.loads(row["args"])
            result = serde.loads(row["result"])
            info = StepInfo(
                self.instance_id, self.definition.name, row["name"], seq, attempt, key,
                threading.Event() if step.timeout is not None else None,
            )  # fmt: skip
            started = clock.now()
            try:
                undo, undo_args = step.compensation, (*args, result)
                if inspect.iscoroutinefunction(undo):
                    invoke_async(self.step_loop, undo, undo_args, kwargs, info, step.timeout)
                else:
                    invoke(undo, undo_args, kwargs, info, step.timeout)
            except _ControlFlow:
                raise
            except Exception as exc:
                self._attempt_failed(name, seq, attempt, key, started, exc, step.compensation_retry)
                self._record(
                    seq, HistoryKind.COMPENSATION, row["name"], HistoryOutcome.FAILED,
                    error=json.dumps(error_record(exc)), attempt=attempt, idempotency_key=key,
                    started_at=started, detail={"compensates": row["seq"]},
                )  # fmt: skip
                error = json.loads(self.values["error"])
                error["compensation_error"] = error_record(exc)
                self.values["error"] = json.dumps(error)
                self._finish(InstanceStatus.COMPENSATION_FAILED)
                return self._finished()
            self._record(
                seq, HistoryKind.COMPENSATION, row["name"], HistoryOutcome.COMPLETED,
                attempt=attempt, idempotency_key=key, started_at=started,
                detail={"compensates": row["seq"]},
            )  # fmt: skip
            self.values.update(CLEAR_WAIT)
        # COMPENSATED if any compensation is recorded (this run's or an earlier one's); an
        # operator's abort of a parked instance may arrive here with nothing to compensate.
        return self._end_failed(compensated=False)

    def _end_failed(self, *, compensated: bool) -> RunResult:
        error = json.loads(self.values["error"])
        if error.get("type") == "Cancelled":
            status = InstanceStatus.CANCELLED
        elif compensated or any(row["kind"] == HistoryKind.COMPENSATION for row in self.history):
            status = InstanceStatus.COMPENSATED
        else:
            status = InstanceStatus.FAILED
        self._finish(status)
        return self._finished()
