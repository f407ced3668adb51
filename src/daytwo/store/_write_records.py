"""What one instance makes durable at one point (:class:`InstanceWrite`) and what came of
applying it (:class:`WriteOutcome`); ``_writes.py`` applies them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["PROGRESS_COLUMNS", "RUN_COLUMNS", "FamilyWrite", "InstanceWrite", "WriteOutcome"]

#: Columns a lease holder owns and writes at every durable point (always all of them, so
#: the UPDATE has a single shape).
RUN_COLUMNS = (
    "status",
    "state",
    "state_entered_at",
    "output",
    "error",
    "run_at",
    "wake_at",
    "wait_kind",
    "wait_name",
    "wait_seq",
    "attempt",
    "lease_owner",
    "history_size",
    "transition_count",
    "updated_at",
    "finished_at",
)
#: The subset that may change while the instance keeps running; none of them is indexed,
#: so a progress write touches one table page instead of several index pages.
PROGRESS_COLUMNS = ("state", "state_entered_at", "wait_kind", "wait_name", "wait_seq", "wake_at",
                    "attempt", "history_size", "transition_count", "updated_at",
                    "error")  # fmt: skip


@dataclass(slots=True)
class FamilyWrite:
    """What a write of a parent or a child does to the other (``_children.py``)."""

    #: Children to create: each ``(instances row, position of its child_start row)``.
    starts: list[tuple[dict[str, Any], int]] = field(default_factory=list)
    #: The write ends a child: wake this parent if it waits for the child.
    parent_to_wake: str | None = None
    #: The write ends a parent: cancel its CANCEL children with this reason.
    cancel_children: str | None = None
    #: The write suspends a parent at this child's end: re-check it under the lock.
    recheck_child: str | None = None


@dataclass(slots=True)
class InstanceWrite:
    """Everything one instance makes durable at one point, applied atomically.

    ``values`` holds the instance columns in :data:`RUN_COLUMNS`; the write is fenced by
    ``lease_token``: if another worker has claimed the instance since, nothing is written.
    ``insert`` is set instead when the instance row does not exist yet (an inline run
    creates its row at its first durable point). ``progress`` says that only
    :data:`PROGRESS_COLUMNS` changed since the last write.
    """

    instance_id: str
    lease_token: int
    values: dict[str, Any]
    insert: dict[str, Any] | None = None
    progress: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    transitions: list[dict[str, Any]] = field(default_factory=list)
    consumed_signals: list[tuple[int, int]] = field(default_factory=list)
    new_tasks: list[dict[str, Any]] = field(default_factory=list)
    #: Set when suspending on an event: re-check for it under the lock (lost-wakeup guard).
    recheck_signal: str | None = None
    #: (workflow, version, created_at): lets the write keep the SLO aggregates.
    identity: tuple[str, str, float] | None = None
    #: Set on the write that ends an instance that may have an open human task: the reason
    #: with which its open tasks are closed, in the same transaction.
    close_tasks: str | None = None
    #: The write ends the instance on its own terms (success, incompatibility): when a
    #: cancel is pending it is not applied, and the outcome carries the cancel's reason.
    yields_to_cancel: bool = False
    #: Child workflows: set only on writes of parents and children (one attribute test
    #: for every other write).
    family: FamilyWrite | None = None

    @property
    def has_side_rows(self) -> bool:
        """Whether it consumes signals, creates or closes tasks, re-checks for a wake-up or
        touches a parent or children."""
        return bool(
            self.consumed_signals
            or self.new_tasks
            or self.recheck_signal is not None
            or self.close_tasks is not None
            or self.family is not None
        )


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    """The result of applying one :class:`InstanceWrite`."""

    applied: bool
    cancel_reason: str | None = None
    woken: bool = False


#: The outcome of most writes (shared: the class is frozen).
_APPLIED = WriteOutcome(applied=True)
