"""What workflow and step code sees: the workflow :class:`Context` and ``current_step()``."""

from __future__ import annotations

import threading
import uuid as _uuid
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from daytwo._errors import InvalidInput
from daytwo.engine._children import ChildOperations
from daytwo.engine._parallel import ParallelOperations
from daytwo.engine._task_plan import RAISE, Escalation, Reminder, TaskSchedule
from daytwo.store import HistoryKind

if TYPE_CHECKING:
    from daytwo.engine._runner import Run

__all__ = ["Context", "StepInfo", "current_run", "current_step"]

_run_var: ContextVar[Run | None] = ContextVar("daytwo_run", default=None)
_step_var: ContextVar[StepInfo | None] = ContextVar("daytwo_step", default=None)


def current_run() -> Run | None:
    """The run executing the calling workflow code, or None outside a workflow."""
    return _run_var.get()


@dataclass(frozen=True, slots=True)
class StepInfo:
    """Facts about the step being executed, for the step's own code."""

    instance_id: str
    workflow: str
    step: str
    seq: int
    attempt: int
    #: Identical on every attempt and after crash recovery; pass it to external APIs so
    #: they deduplicate a repeated call.
    idempotency_key: str
    #: Set when the attempt ran past its step's ``timeout`` (steps without one: None).
    cancel: threading.Event | None = field(default=None, repr=False, compare=False)

    @property
    def cancelled(self) -> bool:
        """Whether this attempt was asked to stop because it ran past the step's timeout.

        Python cannot interrupt a running function, so a step with a ``timeout`` that does
        long work should check this between units of work and stop (return or raise). The
        engine waits for the attempt to end before it retries or compensates, so a
        timed-out attempt never overlaps its retry, and its side effect cannot complete
        after its compensation ran.
        """
        return self.cancel is not None and self.cancel.is_set()

    def raise_if_cancelled(self) -> None:
        """Raise :class:`daytwo.StepTimeout` if the attempt ran past its timeout."""
        if self.cancelled:
            from daytwo.engine._invocation import StepTimeout

            raise StepTimeout(f"step {self.step!r} was cancelled: it ran past its timeout")


def current_step() -> StepInfo:
    """Information about the running step (its idempotency key, attempt number, ...).

    Raises :class:`InvalidInput` outside a step executed by a workflow: a step called as a
    plain function has no durable identity and therefore no idempotency key.
    """
    info = _step_var.get()
    if info is None:
        raise InvalidInput(
            "current_step() was called outside a step run by a workflow; call it from the "
            "body of an @app.step function that a workflow invoked"
        )
    return info


def _seconds(value: timedelta | float | int, what: str) -> float:
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise InvalidInput(f"{what} must be a timedelta or a number of seconds, not {value!r}")


class Context(ChildOperations, ParallelOperations):
    """The durable operations a workflow may use besides calling steps.

    Each operation is recorded in the instance's history at its position, so replay returns
    what the first execution saw. Workflow code must read time and randomness through this
    object, never directly.
    """

    def __init__(self, run: Run) -> None:
        self._run = run

    @property
    def instance_id(self) -> str:
        """The id of this instance."""
        return self._run.instance_id

    @property
    def workflow(self) -> str:
        """The workflow's name."""
        return self._run.definition.name

    @property
    def version(self) -> str:
        """The workflow version this instance is pinned to."""
        return self._run.definition.version

    @property
    def is_replaying(self) -> bool:
        """True while the code re-executes positions already in the history."""
        return self._run.is_replaying

    def sleep(self, duration: timedelta | float, *, name: str = "sleep") -> None:
        """Wait durably for ``duration``; the instance holds no thread while it waits.

        ``name`` is the instance's state label during the wait.
        """
        self._run.sleep(_seconds(duration, "sleep duration"), name)

    def wait_for_signal(self, name: str, *, timeout: timedelta | float | None = None) -> Any:
        """Wait durably for the signal ``name`` and return its payload.

        A signal sent before the wait is reached is kept and returned at once. Raises
        :class:`daytwo.WaitTimeout` if ``timeout`` passes first.
        """
        seconds = None if timeout is None else _seconds(timeout, "signal timeout")
        return self._run.wait_for_signal(name, seconds)

    def human_task(
        self,
        name: str,
        *,
        assignee: str | None = None,
        due: timedelta | float | None = None,
        payload: Any = None,
        remind: Sequence[Reminder | timedelta | float] = (),
        escalate: Sequence[Escalation] = (),
        timeout: timedelta | float | None = None,
        on_timeout: Any = RAISE,
    ) -> Any:
        """Create a task in the human-task inbox and wait durably for its outcome.

        Returns the completion payload (given to ``app.tasks.complete`` or sent as the
        signal ``name``). ``due`` is when the task becomes overdue (from its creation);
        ``remind`` lists reminders counted back from it (``daytwo.before(timedelta(hours=
        1))``, ``daytwo.at_due()``, or plain durations before due); ``escalate`` is a chain
        of ``daytwo.after(delay, assignee)`` steps, each reassigning the task that long
        after its creation; ``timeout`` (from creation, at or after ``due``) closes the
        task as timed out if it is still open then: this raises
        :class:`daytwo.TaskTimedOut`, or returns ``on_timeout`` when given. A task that an
        operator cancels raises :class:`daytwo.TaskCancelled`. Bad values raise
        :class:`daytwo.InvalidInput` here, naming the argument.
        """
        if on_timeout is not RAISE and timeout is None:
            raise InvalidInput(
                f"ctx.human_task({name!r}): on_timeout= needs timeout=, or it never applies"
            )
        if remind or escalate or timeout is not None:
            schedule = TaskSchedule.of(
                name, due=due, remind=remind, escalate=escalate, timeout=timeout
            )
            return self._run.human_task(name, assignee, schedule.due, payload, schedule, on_timeout)
        due_seconds = None if due is None else _seconds(due, "human task due")
        if due_seconds is not None and due_seconds < 0:
            raise InvalidInput(
                f"ctx.human_task({name!r}): due must be zero or more, not {due_seconds:g} s"
            )
        return self._run.human_task(name, assignee, due_seconds, payload)

    def now(self) -> datetime:
        """The current time (UTC), recorded so that replay sees the same value."""
        from datetime import UTC

        return datetime.fromtimestamp(
            self._run.record_value(HistoryKind.NOW, lambda c: c.now()), UTC
        )

    def uuid(self) -> _uuid.UUID:
        """A random UUID, recorded so that replay sees the same value."""
        return _uuid.UUID(self._run.record_value(HistoryKind.UUID, lambda _c: _uuid.uuid4().hex))

    def random(self) -> float:
        """A random float in [0, 1), recorded so that replay sees the same value."""
        import random

        return float(self._run.record_value(HistoryKind.RANDOM, lambda _c: random.random()))
