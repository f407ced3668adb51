"""Exceptions of the public API, and the engine's control-flow signals.

User-facing errors derive from :class:`DaytwoError` and carry a message that names the
problem and the fix. Control-flow signals (suspension, divergence, lost lease, cancellation)
derive from :class:`BaseException` so that a workflow's ``except Exception`` cannot swallow
them: they must unwind the workflow function to the runner.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BranchesFailed",
    "BreakerNotFound",
    "ChildFailed",
    "ChildIdTaken",
    "DaytwoError",
    "DeadlineExceeded",
    "InstanceConflict",
    "InstanceNotFound",
    "InvalidInput",
    "NotRunnable",
    "Reject",
    "ScheduleNotFound",
    "SerializationError",
    "StepFailed",
    "StoreUnavailable",
    "TaskCancelled",
    "TaskNotFound",
    "TaskTimedOut",
    "WaitTimeout",
    "WorkflowFailed",
    "WorkflowNotFound",
    "one_line",
]


def one_line(error: BaseException) -> str:
    """The error's message on one line, as ``daytwo`` prints it after ``error:`` and the
    HTTP API puts in a problem's ``detail`` (a database error: the driver's own message,
    without SQLAlchemy's statement dump and help link)."""
    import sqlalchemy.exc  # here, not at the top: the engine's errors need no SQLAlchemy

    text = str(error)
    if isinstance(error, sqlalchemy.exc.DBAPIError):
        text = f"database error: {error.orig}"
    return " ".join(text.split()) or type(error).__name__


class DaytwoError(Exception):
    """Base class of every error daytwo raises on purpose."""


class InvalidInput(DaytwoError, ValueError):
    """An argument, definition or payload was refused; the message says how to fix it."""


class InstanceNotFound(DaytwoError, LookupError):
    """No instance has the given id."""

    def __init__(self, instance_id: str) -> None:
        super().__init__(
            f"no instance with id {instance_id!r}; list instances with `daytwo list` "
            "(or App.list()) to find the right id"
        )
        self.instance_id = instance_id


class InstanceConflict(DaytwoError):
    """A start reused an instance id with a different workflow, version or input.

    An id names one request, like an idempotency key: repeating the same start returns the
    existing instance, a different one under the same id is refused (Stripe refuses a reused
    idempotency key with other parameters; Temporal raises "already started").
    """

    def __init__(self, instance_id: str, difference: str) -> None:
        super().__init__(
            f"instance {instance_id!r} already exists with {difference}; an id names one "
            "start: repeat it unchanged to get the existing instance, or use a new id"
        )
        self.instance_id = instance_id
        self.difference = difference


class TaskNotFound(DaytwoError, LookupError):
    """No human task has the given id."""

    def __init__(self, task_id: str) -> None:
        super().__init__(
            f"no human task with id {task_id!r}; list open tasks with `daytwo tasks list`"
        )
        self.task_id = task_id


class WorkflowNotFound(DaytwoError, LookupError):
    """The workflow name (or version) is not registered with the app."""

    def __init__(
        self,
        name: str,
        known: list[str],
        version: str | None = None,
        *,
        where: str = "registered workflows",
        fix: str | None = None,
    ) -> None:
        what = f"{name!r} version {version!r}" if version else repr(name)
        hint = ", ".join(sorted(known)) if known else "none are registered"
        tail = f"; {fix}" if fix else ""
        super().__init__(f"unknown workflow {what}; {where}: {hint}{tail}")
        self.name = name
        #: The workflow names that are known where it was looked up.
        self.known = sorted(known)


class BreakerNotFound(InvalidInput):
    """No circuit breaker has the given name."""

    def __init__(self, name: str, known: list[str]) -> None:
        names = ", ".join(known) if known else "none"
        super().__init__(
            f"no circuit breaker named {name!r}; known breakers: {names} (declare one with "
            "app.circuit_breaker(NAME, policy) or `daytwo breaker set NAME`)"
        )
        self.name = name
        self.known = known


class ScheduleNotFound(DaytwoError, LookupError):
    """No schedule has the given name."""

    def __init__(self, name: str, known: list[str]) -> None:
        names = ", ".join(known) if known else "none"
        super().__init__(
            f"no schedule named {name!r}; known schedules: {names} (declare one with "
            "@app.schedule(...) and start a worker, which stores it)"
        )
        self.name = name
        self.known = known


class NotRunnable(DaytwoError):
    """The operation does not apply to the instance in its current status."""


class SerializationError(DaytwoError, TypeError):
    """A value cannot be stored: it is not representable by the serializer."""


class StoreUnavailable(DaytwoError):
    """The database cannot be reached or opened."""


class Reject(Exception):
    """Raise from a workflow or step to reject the business case.

    A rejection is never retried; the instance fails and the compensations of its
    completed steps run (a saga).
    """


class StepFailed(DaytwoError):
    """A step failed for good (non-retryable error or retries exhausted).

    Raised into the workflow at the point of the call. The original exception is chained as
    ``__cause__`` on the first execution; on replay only its recorded type and message are
    known, so code should branch on :attr:`error_type`, never on the exception object.
    """

    def __init__(self, step: str, error_type: str, message: str, attempts: int) -> None:
        super().__init__(
            f"step {step!r} failed after {attempts} attempt(s): {error_type}: {message}"
        )
        self.step = step
        self.error_type = error_type
        self.error_message = message
        self.attempts = attempts


class ChildFailed(DaytwoError):
    """A child workflow ended otherwise than SUCCEEDED (failed, compensated, cancelled,
    terminated, incompatible, ...); raised into the parent where it waits for the child
    (``ctx.child``, ``handle.result()``). Not caught, it fails the parent like any step
    failure (its completed steps are compensated, or it parks, by its failure policy).
    As with :class:`StepFailed`, branch on :attr:`status` and :attr:`error_type`."""

    def __init__(
        self, child_id: str, workflow: str, status: str, error_type: str, message: str
    ) -> None:
        super().__init__(
            f"child workflow {workflow!r} (instance {child_id!r}) ended {status}: "
            f"{error_type}: {message}"
        )
        self.child_id = child_id
        self.workflow = workflow
        #: The child's end status (a ``daytwo.InstanceStatus`` value).
        self.status = status
        self.error_type = error_type
        self.error_message = message


class ChildIdTaken(DaytwoError):
    """``ctx.child``/``ctx.start_child`` was given an id (``id=``) that an instance which
    is not a child of this parent has already. Raised in the parent, which fails with it
    unless it catches it; nothing was started."""

    def __init__(self, child_id: str, parent_id: str, holder: str) -> None:
        super().__init__(
            f"cannot start child {child_id!r} of instance {parent_id!r}: instance "
            f"{child_id!r} exists already and is {holder}, not a child of {parent_id!r}; give "
            "the child another id, or leave id= out for one derived from the parent's id "
            "and position"
        )
        self.child_id = child_id
        self.parent_id = parent_id


class BranchesFailed(StepFailed):
    """Branches of a ``ctx.gather(..., fail_fast=False)`` failed for good.

    The step, type and message are the first failed branch's (by position), so code that
    handles a :class:`StepFailed` handles this too. :attr:`failures` holds every failed
    branch's error by branch index, :attr:`results` every branch's result (None for the
    failed ones): a workflow can go on with what succeeded.
    """

    def __init__(self, failures: dict[int, StepFailed], results: list[Any]) -> None:
        first = failures[min(failures)]
        super().__init__(first.step, first.error_type, first.error_message, first.attempts)
        self.args = (
            f"{len(failures)} of {len(results)} branches failed; the first, branch "
            f"{min(failures)}: {first}",
        )
        self.failures = failures
        self.results = results


class WaitTimeout(DaytwoError, TimeoutError):
    """A signal did not arrive before the wait's timeout."""


class TaskTimedOut(DaytwoError, TimeoutError):
    """Raised by ``ctx.human_task`` when the task's ``timeout=`` passed before anyone
    completed it (unless the workflow gave ``on_timeout=``). The task is closed as
    ``timed_out``; the workflow may catch this and decide what follows."""

    def __init__(self, name: str, task_id: str | None) -> None:
        super().__init__(f"human task {name!r} ({task_id}) timed out before anyone completed it")
        self.name = name
        self.task_id = task_id


class TaskCancelled(DaytwoError):
    """Raised by ``ctx.human_task`` when an operator cancelled the task
    (``client.tasks.cancel``). Not caught, it fails the instance like any exception (its
    completed steps are compensated)."""

    def __init__(self, name: str, task_id: str | None, reason: str | None, by: str | None) -> None:
        super().__init__(
            f"human task {name!r} ({task_id}) was cancelled"
            + (f" by {by}" if by else "")
            + (f": {reason}" if reason else "")
        )
        self.name = name
        self.task_id = task_id
        self.reason = reason
        self.by = by


class WorkflowFailed(DaytwoError):
    """Raised by ``result()`` when the instance ended in a status other than SUCCEEDED."""

    def __init__(self, instance_id: str, status: str, error: dict[str, Any] | None) -> None:
        detail = f": {error.get('type')}: {error.get('message')}" if error else ""
        super().__init__(f"instance {instance_id!r} ended {status}{detail}")
        self.instance_id = instance_id
        #: The end status (a ``daytwo.InstanceStatus``).
        self.status = status
        self.error = error

    @staticmethod
    def of(instance_id: str, status: str, error: dict[str, Any] | None) -> WorkflowFailed:
        """The error ``result()`` raises for this end: :class:`DeadlineExceeded` for an
        instance that exceeded its deadline, else :class:`WorkflowFailed`."""
        kind = DeadlineExceeded if error and error.get("type") == "DeadlineExceeded" else None
        return (kind or WorkflowFailed)(instance_id, status, error)


class DeadlineExceeded(WorkflowFailed):
    """The instance was still active at its deadline (``timeout=`` of ``@app.workflow`` or
    of its start) and failed for it; ``error["message"]`` says the timeout, when it started
    and when the deadline was. Its completed steps were compensated (``on_failure``
    compensate, the default)."""


# --- control flow (never seen by users unless they catch BaseException) -------------------


class _ControlFlow(BaseException):
    """Unwinds a workflow function back to the runner."""


class Suspended(_ControlFlow):
    """The instance recorded a wait and released its lease."""


class LeaseLost(_ControlFlow):
    """The run does not own the instance (any more); it must stop without writing.

    Raised as one of its two cases, which the runner treats differently: catch this base
    class to stop on either.
    """


class InstanceExists(LeaseLost):
    """An inline run's first durable point found its instance id taken: the row it would
    insert exists already (the same start made elsewhere, or a conflicting one). Nothing
    was written; the caller goes on with the existing instance."""

    def __init__(self, instance_id: str) -> None:
        super().__init__(f"instance {instance_id!r} exists already")
        self.instance_id = instance_id


class LeaseTakenOver(LeaseLost):
    """The lease token is stale: the lease expired and another worker claimed the
    instance. The write was rejected by the fencing token; ``rejected`` says what it would
    have recorded (for the log)."""

    def __init__(self, rejected: str) -> None:
        super().__init__(rejected)
        self.rejected = rejected


class Divergence(_ControlFlow):
    """Replay found code that does not match the recorded history."""

    def __init__(self, reason: str, position: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.position = position


class StoreFailed(_ControlFlow):
    """The database failed under a running workflow (not the workflow itself).

    A control-flow signal so that neither the runner nor user code (``except Exception``)
    mistakes it for a failure of the workflow and compensates: the run stops, nothing
    more is recorded, and the instance is retried from its history.
    """

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class CancelRequested(_ControlFlow):
    """An operator cancelled the instance; it stops at its next durable point."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
