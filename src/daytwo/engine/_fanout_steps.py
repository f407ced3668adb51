"""Running a fan-out's step branches: rounds on a thread pool, each attempt through the gate.

:class:`StepFanOut` runs the branches of one ``ctx.gather`` that have no recorded row yet.
The run's own thread admits each branch the way a plain step call is admitted (a paused
step, its circuit breaker), makes everything recorded so far durable, takes each admitted
branch's own slot of a limited dependency (``branch`` in the slot's key: its position),
and hands the attempts to a pool of at most ``concurrency`` threads
(and never more than :data:`MAX_BRANCH_THREADS`). Branch threads only call the step
function (with its timeout) and return how it went; the run's thread records the
outcomes (a result row, a failed attempt), batched when several finish together, and the
next durable point writes them before more branches start. So a SIGKILL loses only the
attempts in flight, which run again with the same idempotency key.

A branch that cannot run now (its step is paused, its dependency has no free slot, its
circuit is open, it waits for a retry backoff) waits; once nothing is in flight the
instance suspends at the fan-out's head with the earliest of those waits, and the next
run replays the recorded branches and runs the others. A branch failing for good either
stops the fan-out (``fail_fast``: no branch starts after it, those in flight finish and
are recorded, the others get a ``cancelled`` row) or lets the others finish; a branch
under the ``park`` failure policy parks the instance at the head once no other branch can
go on (``daytwo instance retry`` runs it again with a fresh budget).
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter, deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from daytwo._errors import CancelRequested, Reject, SerializationError, Suspended
from daytwo.engine._attempts import _uncounted
from daytwo.engine._circuit import CircuitCall, record_call, try_admit
from daytwo.engine._context import StepInfo
from daytwo.engine._durable import ATTEMPT, COMPLETED
from daytwo.engine._fanout_history import FAILED, NOT_RUN, buffer_row, close_open_fanout
from daytwo.engine._invocation import error_record, invoke
from daytwo.engine._retry import NO_RETRY, Retry
from daytwo.engine._step_call import StepCall
from daytwo.engine._step_loop import StepLoop, invoke_async
from daytwo.store import WaitKind, circuit_state

if TYPE_CHECKING:
    from collections.abc import Callable

    from daytwo.engine._runner import Run

__all__ = ["MAX_BRANCH_THREADS", "StepFanOut"]

#: The most branches of one fan-out that run at once, whatever its ``concurrency``: a
#: worker's threads per instance stay bounded.
MAX_BRANCH_THREADS = 16
#: About how long a branch waits before asking again for a slot of a limited dependency.
DEPENDENCY_RETRY_SECONDS = 0.5


@dataclass(slots=True)
class _Attempt:
    """An admitted attempt of one branch."""

    index: int
    seq: int
    call: StepCall[Any]
    attempt: int
    key: str
    args_text: str
    info: StepInfo
    circuit: CircuitCall | None
    #: The limited dependency whose slot it takes, and that dependency's limit.
    slot: str | None
    limit: int | None


@dataclass(slots=True)
class _Outcome:
    value: Any
    error: BaseException | None
    started: float
    finished: float


@dataclass(frozen=True, slots=True)
class _Wait:
    """Why a branch cannot run now, and until when (None: until an operator acts)."""

    kind: WaitKind
    until: float | None
    step: str
    state: str
    dependency: str | None = None


def _run_attempt(attempt: _Attempt, now: Callable[[], float], step_loop: StepLoop) -> _Outcome:
    """On a pool thread: call the step function (an async one on the run's step loop, as
    a plain step call does); never touch the run."""
    started = now()
    step = attempt.call.step
    args, kwargs, info = attempt.call.args, attempt.call.kwargs, attempt.info
    try:
        if step.is_async:
            value = invoke_async(step_loop, step.fn, args, kwargs, info, step.timeout)
        else:
            value = invoke(step.fn, args, kwargs, info, step.timeout)
    except BaseException as exc:  # handed to the run's thread, which decides
        return _Outcome(None, exc, started, now())
    return _Outcome(value, None, started, now())


class StepFanOut:
    """The unrecorded branches of one fan-out; see the module docstring."""

    def __init__(
        self,
        run: Run,
        head: int,
        calls: list[StepCall[Any]],
        rows: dict[int, Any],
        fail_fast: bool,
        concurrency: int | None,
    ) -> None:
        self.run = run
        self.head = head
        self.name: str = run.history[head]["name"]
        self.calls = calls
        self.rows = rows
        self.fail_fast = fail_fast
        pending = len(calls) - len(rows)
        self.width = max(1, min(concurrency or MAX_BRANCH_THREADS, MAX_BRANCH_THREADS, pending))
        #: Failed attempts by branch index (stored ones and this run's).
        self.attempts: dict[int, list[dict[str, Any]]] = {}
        self.ready: deque[int] = deque()
        self.waits: list[_Wait] = []
        self.parked: dict[int, int] = {}
        #: Slots of limited dependencies this fan-out's attempts in flight hold, and the
        #: branches waiting for one of them to come back.
        self.holding: Counter[str] = Counter()
        self.blocked: dict[str, list[int]] = {}
        # A branch recorded as failed by an earlier run (which was lost before the fan-out
        # ended): with fail_fast nothing more starts.
        self.failed = any(row["outcome"] == FAILED for row in rows.values())
        self.stopping = self.failed and fail_fast

    # -- the rounds -----------------------------------------------------------------------

    def execute(self) -> None:
        """Run the branches until each has a row, or suspend (see the module docstring)."""
        self._load_attempts()
        self._sort_pending()
        in_flight: dict[Future[_Outcome], _Attempt] = {}
        pool = ThreadPoolExecutor(self.width, thread_name_prefix="daytwo-branch")
        try:
            while True:
                batch = self._admit_batch(self.width - len(in_flight))
                self._durable_point(started=bool(batch))
                for attempt in batch:
                    if self._take_slot(attempt):
                        in_flight[
                            pool.submit(_run_attempt, attempt, self.run._now, self.run.step_loop)
                        ] = attempt
                if not in_flight:
                    break
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=lambda done_future: in_flight[done_future].index):
                    self._settle(in_flight.pop(future), future.result())
        except BaseException as exc:
            self._stop(exc, in_flight)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        self._conclude()

    def _load_attempts(self) -> None:
        """The failed attempts of earlier runs (only an instance that waited here has any)."""
        run = self.run
        if run.values["wait_seq"] != self.head:
            return
        first, end = self.head + 1, self.head + 1 + len(self.calls)
        for row in run._store(run.runtime.store.load_attempts, run.instance_id):
            if first <= row["seq"] < end:
                self.attempts.setdefault(row["seq"] - first, []).append(dict(row))

    def _sort_pending(self) -> None:
        """Ready now, or waiting for its backoff (a branch whose last attempt has no retry
        time was parked, and runs again because an operator retried it)."""
        now = self.run._now()
        for index, call in enumerate(self.calls):
            if index in self.rows:
                continue
            tried = self.attempts.get(index)
            retry_at = tried[-1]["retry_at"] if tried else None
            if retry_at is not None and retry_at > now:
                self.waits.append(_Wait(WaitKind.RETRY, retry_at, call.name, self.name))
            else:
                self.ready.append(index)

    def _durable_point(self, *, started: bool) -> None:
        """Before attempts start: everything recorded so far is durable, with the marker
        of a fan-out in flight; otherwise the outcomes recorded are written promptly."""
        run = self.run
        if started:
            marker = (ATTEMPT, self.name, self.head, 1)
            values = run.values
            changed = (
                values["wait_kind"], values["wait_name"], values["wait_seq"], values["attempt"]
            ) != marker  # fmt: skip
            values.update(wait_kind=ATTEMPT, wait_name=self.name, wait_seq=self.head, attempt=1)
            run._begin(self.name, marker_changed=changed)
        elif run._has_buffered():
            run._flush()

    # -- admitting a branch ---------------------------------------------------------------

    def _admit_batch(self, room: int) -> list[_Attempt]:
        batch: list[_Attempt] = []
        while self.ready and len(batch) < room and not self.stopping:
            attempt = self._admit(self.ready.popleft())
            if attempt is not None:
                batch.append(attempt)
        return batch

    def _admit(self, index: int) -> _Attempt | None:
        """The gate of a plain step call, for one branch: None if it waits."""
        run = self.run
        call = self.calls[index]
        step = call.step
        flow = run.runtime.flow
        settings = run._store(flow.settings)
        if (run.definition.name, step.name) in settings.paused_steps:
            settings = run._store(flow.settings, fresh=True)  # (see Run._gate)
            if (run.definition.name, step.name) in settings.paused_steps:
                self.waits.append(_Wait(WaitKind.PAUSED, None, step.name, f"paused:{step.name}"))
                return None
        dependency = step.dependency
        limit = None if dependency is None else settings.dependency_limits.get(dependency)
        circuit = None
        if dependency is not None:
            admitted = try_admit(run, step)
            if isinstance(admitted, float):
                state = circuit_state(dependency)
                self.waits.append(_Wait(WaitKind.CIRCUIT, admitted, step.name, state, dependency))
                return None
            circuit = admitted
        seq = self.head + 1 + index
        attempt = len(self.attempts.get(index, ())) + 1
        key = f"{run.instance_id}:{seq}"
        args_text = run.runtime.serde.dumps([list(call.args), call.kwargs], step.describe_arguments)
        info = StepInfo(
            run.instance_id, run.definition.name, step.name, seq, attempt, key,
            None if step.timeout is None else threading.Event(),
        )  # fmt: skip
        slot = dependency if limit is not None else None
        return _Attempt(index, seq, call, attempt, key, args_text, info, circuit, slot, limit)

    def _take_slot(self, attempt: _Attempt) -> bool:
        """After the durable point (as for a plain step call): the branch's own slot of its
        limited dependency (its position in the slot's key), or it waits: for a slot this
        fan-out holds to come back, else THROTTLED."""
        dependency, limit = attempt.slot, attempt.limit
        if dependency is None or limit is None:
            return True
        run = self.run
        flow = run.runtime.flow
        token, instance_id = run.token, run.instance_id
        if run._store(flow.acquire_slot, dependency, limit, instance_id, token, attempt.seq):
            self.holding[dependency] += 1
            return True
        if self.holding[dependency]:
            self.blocked.setdefault(dependency, []).append(attempt.index)
        else:
            retry_at = run._now() + DEPENDENCY_RETRY_SECONDS * (0.5 + random.random())
            step, state = attempt.call.name, f"waiting for {dependency}"
            self.waits.append(_Wait(WaitKind.THROTTLED, retry_at, step, state))
        return False

    # -- recording an outcome -------------------------------------------------------------

    def _settle(self, attempt: _Attempt, outcome: _Outcome) -> None:
        """Record how an attempt went (on the run's thread)."""
        run = self.run
        step = attempt.call.step
        if attempt.slot is not None:
            flow = run.runtime.flow
            run._store(flow.release_slot, attempt.slot, run.instance_id, run.token, attempt.seq)
            self.holding[attempt.slot] -= 1
            self.ready.extendleft(reversed(self.blocked.pop(attempt.slot, [])))
        error = outcome.error
        if error is not None and not isinstance(error, Exception):
            raise error  # (KeyboardInterrupt and the like end the run)
        if attempt.circuit is not None:
            record_call(run, attempt.circuit, outcome.started, error, outcome.finished)
        retry = step.retry
        if error is None:
            try:
                result = run.runtime.serde.dumps(outcome.value, step.describe_result)
            except SerializationError as exc:
                error, retry = exc, NO_RETRY  # a bug in the step: see Run.call_step
            else:
                self._keep(attempt.index, buffer_row(
                    run, attempt.seq, step.name, COMPLETED, args=attempt.args_text,
                    result=result, attempt=attempt.attempt, idempotency_key=attempt.key,
                    started_at=outcome.started,
                ))  # fmt: skip
                return
        self._failed(attempt, error, outcome.started, retry)

    def _failed(self, attempt: _Attempt, exc: Exception, started: float, retry: Retry) -> None:
        """A failed attempt: the branch waits for its retry, parks, or fails for good."""
        run = self.run
        index, step = attempt.index, attempt.call.step
        tried = self.attempts.setdefault(index, [])
        failures = attempt.attempt - _uncounted_before(tried, attempt.attempt)
        error = error_record(exc)
        if attempt.circuit is not None and attempt.circuit.probe:
            error["circuit_probe"] = attempt.circuit.dependency
            failures -= 1
        now = run._now()
        retry_at = now + retry.delay(max(failures, 1)) if retry.retryable(exc, failures) else None
        run._add_attempt(step.name, attempt.seq, attempt.attempt, attempt.key, error, started,
                         retry_at)  # fmt: skip
        tried.append(run._attempts[-1])
        if retry_at is not None:
            if retry_at <= now:
                self.ready.append(index)  # no backoff: again in this round
            else:
                self.waits.append(_Wait(WaitKind.RETRY, retry_at, step.name, self.name))
            return
        if run._parks(step) and not isinstance(exc, Reject):
            self.parked[index] = attempt.attempt
            return
        self._keep(index, buffer_row(
            run, attempt.seq, step.name, FAILED, args=attempt.args_text,
            error=json.dumps(error_record(exc)), attempt=attempt.attempt,
            idempotency_key=attempt.key, started_at=started,
        ))  # fmt: skip
        self.failed = True
        self.stopping = self.fail_fast

    def _keep(self, index: int, row: dict[str, Any]) -> None:
        self.rows[index] = row
        self.run._fanout_tail[row["seq"]] = row

    # -- the end of a run's rounds --------------------------------------------------------

    def _conclude(self) -> None:
        """Nothing is in flight and nothing more can start: end the fan-out or suspend."""
        run = self.run
        waiting = bool(self.waits or self.parked)
        if self.failed and (self.fail_fast or not waiting):
            failed = min(index for index, row in self.rows.items() if row["outcome"] == FAILED)
            reason = f"branch {failed} failed for good and the fan-out stopped (fail_fast)"
            for index, call in enumerate(self.calls):
                if index not in self.rows:
                    seq = self.head + 1 + index
                    self._keep(index, buffer_row(run, seq, call.name, NOT_RUN,
                                                 detail={"not_run": reason}))  # fmt: skip
            return
        timed = [wait for wait in self.waits if wait.until is not None]
        if timed:
            first = min(timed, key=lambda wait: wait.until or 0.0)
            index = next(
                (i for i, call in enumerate(self.calls)
                 if call.name == first.step and i not in self.rows), 0,
            )  # fmt: skip
            run.values["attempt"] = len(self.attempts.get(index, ()))
            try:
                run._suspend(first.kind, first.step, self.head, first.until, first.state)
            except Suspended:
                if first.kind == WaitKind.CIRCUIT and first.dependency is not None:
                    breakers = run.runtime.flow.breakers
                    run._store(breakers.wake_if_closed, run.instance_id, first.dependency)
                raise
        if self.parked:
            index = min(self.parked)
            run._park(self.calls[index].name, self.head, self.parked[index])
        if self.waits:  # paused steps only
            step = self.waits[0].step
            try:
                run._suspend(WaitKind.PAUSED, step, self.head, None, f"paused:{step}")
            except Suspended:
                flow = run.runtime.flow
                run._store(flow.wake_if_resumed, run.instance_id, run.definition.name, step)
                raise

    def _stop(self, exc: BaseException, in_flight: dict[Future[_Outcome], _Attempt]) -> None:
        """The run stops inside the fan-out: wait for the attempts in flight; on a cancel
        record them and close the fan-out, so the saga compensates what completed."""
        wait(in_flight)
        if not isinstance(exc, CancelRequested):
            return  # the lease is lost or the store failed: nothing more can be written
        self.stopping = True
        for future, attempt in sorted(in_flight.items(), key=lambda item: item[1].index):
            self._settle(attempt, future.result())
        close_open_fanout(self.run, "the instance was cancelled")


def _uncounted_before(tried: list[dict[str, Any]], attempt: int) -> int:
    """How many attempts before ``attempt`` the retry policy ignores (see
    ``AttemptRun._uncounted_attempts``: lost ones, probes, those before an operator's retry)."""
    rows = [row for row in tried if row["attempt"] < attempt]
    given_up: int = max((row["attempt"] for row in rows if row["retry_at"] is None), default=0)
    lost: int = sum(
        row["attempt"] > given_up and _uncounted(json.loads(row["error"])) for row in rows
    )
    return given_up + lost
