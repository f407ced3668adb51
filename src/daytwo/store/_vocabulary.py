"""The words the store holds: instance statuses, wait kinds, history kinds and outcomes,
human-task statuses.

Each vocabulary is a :class:`~enum.StrEnum` whose values are exactly the text stored in
the database, so a member binds, compares and hashes like that string (``"RUNNING" ==
InstanceStatus.RUNNING``, and either finds the other in a set) and rows read back as plain
strings need no conversion to be compared. The records the app hands out
(``daytwo.Instance`` and the others) carry the members. The store is the lowest layer, so
the vocabulary lives here, where every package above it (engine, app, worker, operations
packages) can import it without breaking the layering.

A value is stored by many releases: never rename one. A new member needs no migration (the
columns are plain text), but every reader of the column must know it before a writer
stores it.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "ACTIVE_STATUSES",
    "TERMINAL_STATUSES",
    "BreakerState",
    "CallOutcome",
    "HistoryKind",
    "HistoryOutcome",
    "InstanceStatus",
    "ParentClose",
    "TaskEventKind",
    "TaskStatus",
    "WaitKind",
]


class InstanceStatus(StrEnum):
    """Where an instance is in its life (``instances.status``, ``transitions.status``)."""

    #: Due or queued: a worker may claim it (``run_at`` says from when).
    RUNNABLE = "RUNNABLE"
    #: Leased by a worker or an inline run (``run_at`` is the lease expiry).
    RUNNING = "RUNNING"
    #: Waiting for a timer, signal, human task, retry backoff, pause or dependency slot
    #: (:class:`WaitKind` says which).
    WAITING = "WAITING"
    SUCCEEDED = "SUCCEEDED"
    #: Failed with nothing to compensate.
    FAILED = "FAILED"
    #: Failed, and its completed steps were compensated.
    COMPENSATED = "COMPENSATED"
    #: A compensation exhausted its retries.
    COMPENSATION_FAILED = "COMPENSATION_FAILED"
    #: Cancelled by an operator (and compensated).
    CANCELLED = "CANCELLED"
    #: Its code no longer matches its history (or its version is gone).
    INCOMPATIBLE = "INCOMPATIBLE"
    #: A step failed for good under the ``park`` failure policy: the instance stopped at it
    #: (``wait_kind`` parked), holding its history, until an operator retries, skips,
    #: resumes, aborts or terminates it. Active: nothing claims it by itself.
    NEEDS_ATTENTION = "NEEDS_ATTENTION"
    #: Ended by an operator without compensation (``daytwo instance terminate``).
    TERMINATED = "TERMINATED"

    @property
    def terminal(self) -> bool:
        """Whether the instance has ended (it never changes status again)."""
        return self in TERMINAL_STATUSES


#: The statuses of an ended instance.
TERMINAL_STATUSES: frozenset[InstanceStatus] = frozenset(
    {
        InstanceStatus.SUCCEEDED,
        InstanceStatus.FAILED,
        InstanceStatus.COMPENSATED,
        InstanceStatus.COMPENSATION_FAILED,
        InstanceStatus.CANCELLED,
        InstanceStatus.INCOMPATIBLE,
        InstanceStatus.TERMINATED,
    }
)
#: The statuses of an instance that has not ended.
ACTIVE_STATUSES: frozenset[InstanceStatus] = frozenset(
    {
        InstanceStatus.RUNNABLE,
        InstanceStatus.RUNNING,
        InstanceStatus.WAITING,
        InstanceStatus.NEEDS_ATTENTION,
    }
)


class WaitKind(StrEnum):
    """What a pending wait is (``instances.wait_kind``; ``wait_name`` names its subject).

    Set while the instance is WAITING (or NEEDS_ATTENTION: :attr:`PARKED`), except
    :attr:`ATTEMPT`, which marks the attempt in flight of a RUNNING instance (so that a run
    taking it over after a crash knows the attempt was lost with its worker).
    """

    #: A durable timer (``ctx.sleep``).
    TIMER = "timer"
    #: A signal (``ctx.wait_for_signal``).
    SIGNAL = "signal"
    #: A human task's completion (``ctx.human_task``).
    TASK = "task"
    #: The backoff before the next attempt of a failed step or compensation.
    RETRY = "retry"
    #: The attempt of a step or compensation in flight.
    ATTEMPT = "attempt"
    #: A paused step (``daytwo pause --step``), until ``daytwo resume``.
    PAUSED = "paused"
    #: A slot of a limited dependency, retried soon.
    THROTTLED = "throttled"
    #: An operator's decision about a step that failed for good under the ``park`` failure
    #: policy (the instance is NEEDS_ATTENTION; ``attempt`` counts the attempts made).
    PARKED = "parked"
    #: An open circuit breaker of the step's dependency (state ``circuit open: NAME``),
    #: until it may half-open or is closed.
    CIRCUIT = "circuit"
    #: The end of a child workflow (``ctx.child``, ``handle.result()``); ``wait_name`` is
    #: the child's instance id (so that the child's end wakes exactly this wait), the
    #: history row is named by the child's workflow and its ``detail`` holds the id.
    CHILD = "child"
    #: An operator's decision about an instance whose deadline passed under the ``park``
    #: failure policy (NEEDS_ATTENTION; ``wait_seq`` is its ``deadline`` history row).
    DEADLINE = "deadline"


class ParentClose(StrEnum):
    """What a parent's end does to a child still active then (``instances.parent_close``).

    Applied when the parent is cancelled, aborted or terminated, and when it ends in any
    other way (it succeeded, failed, compensated, became incompatible) with the child
    still active.
    """

    #: The child gets a cancel request (it compensates and ends CANCELLED).
    CANCEL = "cancel"
    #: The child runs on by itself.
    ABANDON = "abandon"


class HistoryKind(StrEnum):
    """What a recorded durable operation was (``history.kind``)."""

    STEP = "step"
    TIMER = "timer"
    SIGNAL = "signal"
    TASK = "task"
    #: ``ctx.now()``, ``ctx.uuid()``, ``ctx.random()``: recorded values (name = kind).
    NOW = "now"
    UUID = "uuid"
    RANDOM = "random"
    #: A compensation of the step at ``detail.compensates``.
    COMPENSATION = "compensation"
    #: A cancel request, as the instance met it.
    CANCEL = "cancel"
    #: An operator ended the instance without compensation (``detail``: by whom, why).
    TERMINATE = "terminate"
    #: A child workflow started (``ctx.start_child``, ``ctx.child``); name = the child's
    #: workflow, result = its id.
    CHILD_START = "child_start"
    #: The end of a child workflow, as the parent met it (result or error of the child).
    CHILD = "child"
    #: The head of a fan-out (``ctx.gather``, ``ctx.map``): ``detail`` records the number
    #: of branches and their names, which occupy the positions right after it.
    GATHER = "gather"
    #: The instance's own deadline (``@app.workflow(timeout=...)``) passed.
    DEADLINE = "deadline"


class HistoryOutcome(StrEnum):
    """How a recorded operation ended (``history.outcome``)."""

    COMPLETED = "completed"
    #: A step or compensation that failed for good.
    FAILED = "failed"
    #: A signal wait whose timeout passed, or a human task whose ``timeout=`` passed.
    TIMED_OUT = "timed_out"
    #: A human task cancelled by an operator (``client.tasks.cancel``).
    CANCELLED = "cancelled"
    #: A cancel that arrived while the instance was already failing: the failure's
    #: compensation went on, and the instance ends with the failure's status.
    SUPERSEDED = "superseded"


class TaskStatus(StrEnum):
    """Where a human task is: waiting for someone, done, or closed with its instance."""

    OPEN = "open"
    COMPLETED = "completed"
    #: The instance ended (cancelled, failed, compensated, incompatible) while the task was
    #: open; ``closed_reason`` says how. It can no longer be completed.
    CLOSED = "closed"
    #: Its ``timeout=`` passed while it was open; the workflow got ``TaskTimedOut`` (or its
    #: ``on_timeout=`` value).
    TIMED_OUT = "timed_out"
    #: Cancelled by an operator; the workflow got ``TaskCancelled``.
    CANCELLED = "cancelled"


class TaskEventKind(StrEnum):
    """What happened to a human task (``task_events.kind``)."""

    CREATED = "created"
    #: A reminder of its plan (before or at the due time) went out.
    REMINDED = "reminded"
    #: A step of its escalation chain reassigned it.
    ESCALATED = "escalated"
    #: An operator reassigned it.
    REASSIGNED = "reassigned"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    #: Its instance ended while it was open (``closed_reason``).
    CLOSED = "closed"


class BreakerState(StrEnum):
    """The state of a dependency's circuit breaker (``breakers.state``)."""

    #: Calls go through; their outcomes fill the window that decides when to open.
    CLOSED = "closed"
    #: Calls are held back until ``until``, when the circuit may half-open.
    OPEN = "open"
    #: A few probe calls go through; their outcomes close or reopen the circuit.
    HALF_OPEN = "half_open"
    #: Held open by an operator (``daytwo breaker open``) until closed or reset.
    FORCED_OPEN = "forced_open"
    #: Held closed by an operator: calls go through whatever their outcomes.
    FORCED_CLOSED = "forced_closed"

    @property
    def lets_calls_through(self) -> bool:
        """Whether a call goes through without asking the store (closed or forced closed)."""
        return self in (BreakerState.CLOSED, BreakerState.FORCED_CLOSED)


class CallOutcome(StrEnum):
    """How a call to a dependency with a breaker went (``breaker_calls.outcome``)."""

    SUCCESS = "success"
    FAILURE = "failure"
    #: A success slower than the policy's ``slow_call_duration``.
    SLOW = "slow"
    #: A failure slower than ``slow_call_duration``: counts as failed and as slow.
    SLOW_FAILURE = "slow_failure"

    @property
    def failed(self) -> bool:
        """Whether the call counts as a failure."""
        return self in (CallOutcome.FAILURE, CallOutcome.SLOW_FAILURE)

    @property
    def slow(self) -> bool:
        """Whether the call counts as slow."""
        return self in (CallOutcome.SLOW, CallOutcome.SLOW_FAILURE)


class CatchUp(StrEnum):
    """What a schedule does with the ticks it missed (no worker ran when they were due)."""

    #: None of them: the schedule goes on with its next future tick.
    SKIP = "skip"
    #: The latest missed tick, once.
    ONE = "one"
    #: Every missed tick, oldest first, at most ``max_catch_up`` of them (the latest).
    ALL = "all"


class Overlap(StrEnum):
    """Whether a tick starts while the schedule's previous instance is still active."""

    #: No: the tick is recorded as skipped.
    SKIP = "skip"
    #: Yes: instances of the schedule may run side by side.
    ALLOW = "allow"


class TickOutcome(StrEnum):
    """What became of a schedule's tick (``schedule_ticks.outcome``)."""

    #: An instance was started for it.
    STARTED = "started"
    #: Not started: the previous instance was still active (``overlap=SKIP``).
    SKIPPED = "skipped"
    #: Not started: it passed while no worker ticked and the catch-up policy dropped it
    #: (one row stands for ``count`` consecutive ticks).
    MISSED = "missed"
    #: Started by an operator (``daytwo schedules trigger``), outside the cadence.
    TRIGGERED = "triggered"
