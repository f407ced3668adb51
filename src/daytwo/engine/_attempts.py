"""Step attempts: the one in flight, the failed ones, the ones lost with their worker.

:class:`AttemptRun` is the layer between the bookkeeping of :class:`DurableRun` and the
operations of :class:`~daytwo.engine._runner.Run`. It writes the attempt in flight with
the durable point before a side effect starts, recognises an attempt that was in flight
when its worker was lost, and records failed attempts with the retry policy's decision.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any, NoReturn

from daytwo._errors import Reject, StepFailed
from daytwo.engine._durable import ATTEMPT, CLEAR_WAIT, STEP, DurableRun
from daytwo.engine._invocation import error_record
from daytwo.engine._retry import Retry
from daytwo.store import HistoryOutcome, InstanceStatus, WaitKind

__all__ = ["WORKER_LOST", "AttemptRun"]

log = logging.getLogger("daytwo.runner")

#: The error type of an attempt whose worker was lost while it ran (see _next_attempt).
WORKER_LOST = "WorkerLost"


class AttemptRun(DurableRun):
    """A run's attempt records; see the module docstring."""

    #: The dependency whose half-open circuit the attempt in flight probes (see
    #: ``_circuit.py``): its failure is recorded but does not count against the retries.
    probing: str | None = None

    def _begin_attempt(self, state: str, name: str, seq: int, attempt: int) -> None:
        """Attempt ``attempt`` of the step (or compensation) at ``seq`` is about to start.

        The attempt in flight is written with the durable point (``wait_kind`` "attempt"), so
        that a run taking the instance over after a crash knows it was lost (see
        :meth:`_next_attempt`).
        """
        values = self.values
        marker = (ATTEMPT, name, seq, attempt)
        changed = (
            values["wait_kind"],
            values["wait_name"],
            values["wait_seq"],
            values["attempt"],
        ) != marker
        values.update(wait_kind=ATTEMPT, wait_name=name, wait_seq=seq, attempt=attempt)
        self._begin(state, marker_changed=changed)

    def _step_failed(
        self,
        name: str,
        seq: int,
        attempt: int,
        key: str,
        started: float,
        args_text: str,
        exc: Exception,
        retry: Retry,
        park: bool = False,
    ) -> NoReturn:
        """Record a failed attempt: suspend until its retry, or fail the step for good.

        With ``park`` (the ``park`` failure policy) a step that fails for good is not
        recorded as failed: the instance stops NEEDS_ATTENTION at it (see :meth:`_park`);
        a :class:`Reject` fails it all the same (a business decision compensates).
        """
        self._attempt_failed(name, seq, attempt, key, started, exc, retry)
        if park and not isinstance(exc, Reject):
            self._park(name, seq, attempt)
        self._record(
            seq, STEP, name, HistoryOutcome.FAILED,
            args=args_text, error=json.dumps(error_record(exc)), attempt=attempt,
            idempotency_key=key, started_at=started,
        )  # fmt: skip
        self.values.update(CLEAR_WAIT)
        raise StepFailed(name, type(exc).__name__, str(exc), attempt) from exc

    def _next_attempt(self, name: str, seq: int, key: str) -> int:
        """The number of the attempt about to run at ``seq``.

        ``attempt`` in the instance row counts the attempts made so far at the position it
        waits at: failed ones (a retry backoff), or one in flight (``wait_kind`` "attempt",
        written before the side effect starts). Finding an attempt still in flight means
        its worker was lost before the outcome was recorded: that attempt is recorded as
        lost, so re-runs after crashes show in the history and the retry SLIs, and the step
        runs again (same idempotency key) as the next attempt.
        """
        if self.values["wait_seq"] != seq:
            return 1
        if self.values["wait_kind"] == ATTEMPT:
            self._attempt_lost(name, seq, self.values["attempt"], key)
        return int(self.values["attempt"]) + 1

    def _park(self, name: str, seq: int, attempt: int) -> NoReturn:
        """Stop NEEDS_ATTENTION at the step at ``seq``, which failed for good.

        Nothing claims the instance (``run_at`` NULL) until an operator acts on it; its
        history has no row at ``seq`` and its failed attempts stay, the last one holding
        the error. The write that parks also appends an ``instance.parked`` outbox event
        (``store/_writes.py``).
        """
        self.values["attempt"] = attempt
        log.warning(
            "instance %s: step %s failed for good after %d attempt(s); parked for an operator",
            self.instance_id, name, attempt,
        )  # fmt: skip
        self._suspend(
            WaitKind.PARKED, name, seq, None, f"parked:{name}",
            status=InstanceStatus.NEEDS_ATTENTION,
        )  # fmt: skip

    def _uncounted_attempts(self, seq: int, attempt: int) -> int:
        """How many of the attempts before ``attempt`` at ``seq`` the retry policy ignores.

        Those lost with a worker, failed probes of a half-open circuit, and every attempt up
        to the last one after which the
        policy gave up (its ``retry_at`` is NULL): the instance went on after it only
        because an operator retried or resumed a parked step, which starts a fresh budget.
        """
        if attempt == 1:
            return 0
        rows: list[Mapping[Any, Any]] = [row for row in self._attempts if row["seq"] == seq]
        buffered = {row["attempt"] for row in rows}
        stored = self._store(self.runtime.store.load_attempts, self.instance_id)
        rows += [row for row in stored if row["seq"] == seq and row["attempt"] not in buffered]
        rows = [row for row in rows if row["attempt"] < attempt]
        given_up: int = max((row["attempt"] for row in rows if row["retry_at"] is None), default=0)
        uncounted: int = sum(
            row["attempt"] > given_up and _uncounted(json.loads(row["error"])) for row in rows
        )
        return given_up + uncounted

    def _attempt_lost(self, name: str, seq: int, attempt: int, key: str) -> None:
        now = self._now()
        message = (
            f"attempt {attempt} was lost with its worker (the worker died, stopped or lost "
            "its lease before the outcome was recorded); the step runs again with the same "
            "idempotency key, and the lost attempt does not count against its retries"
        )
        error = {"type": WORKER_LOST, "message": message}
        self._add_attempt(name, seq, attempt, key, error, self.values["state_entered_at"], now)
        log.warning("instance %s: %s %s", self.instance_id, name, message)

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
        """Record a failed attempt; suspend until the retry if the policy allows one.

        The policy counts failures: attempts lost with their worker do not use up retries
        (a crash must not turn into a business failure) nor lengthen the backoff, and an
        operator's retry of a parked step starts the count again (:meth:`_uncounted_attempts`).
        """
        now = self._now()
        error = error_record(exc)
        failures = attempt - self._uncounted_attempts(seq, attempt)
        if self.probing is not None:
            error["circuit_probe"] = self.probing
            failures -= 1
            self.probing = None
        delay = retry.delay(max(failures, 1))
        retry_at = now + delay if retry.retryable(exc, failures) else None
        self._add_attempt(name, seq, attempt, key, error, started, retry_at)
        log.info("instance %s: %s attempt %d failed: %r", self.instance_id, name, attempt, exc)
        if retry_at is not None:
            self.values["attempt"] = attempt
            self._suspend(WaitKind.RETRY, name, seq, retry_at, self.values["state"])

    def _add_attempt(
        self,
        name: str,
        seq: int,
        attempt: int,
        key: str,
        error: dict[str, Any],
        started: float,
        retry_at: float | None,
    ) -> None:
        """Buffer a ``step_attempts`` row (written at the next durable point)."""
        self._attempts.append(
            {
                "instance_id": self.instance_id,
                "seq": seq,
                "attempt": attempt,
                "name": name,
                "error": json.dumps(error),
                "idempotency_key": key,
                "started_at": started,
                "finished_at": self._now(),
                "retry_at": retry_at,
            }
        )


def _uncounted(error: Mapping[str, Any]) -> bool:
    """Whether a failed attempt does not count against the retries: it was lost with its
    worker, or it was a half-open circuit's probe."""
    return error.get("type") == WORKER_LOST or "circuit_probe" in error
