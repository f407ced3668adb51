"""What a run's writes do to its parent and children (:class:`Family`).

A run has a :class:`Family` only when its instance has a parent or has started children:
every other run pays one attribute test per durable point (``DurableRun.family is None``).
At each durable point the family says, in a :class:`~daytwo.store.FamilyWrite`, what the
write must do in its transaction (``store/_children.py``): insert the children started
since the last one, wake the parent when the write ends this child, cancel the children
with the CANCEL policy when it ends this parent, and re-check the awaited child's end when
it suspends at a ``child`` wait (the lost-wakeup guard).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from daytwo.store import TERMINAL_STATUSES, FamilyWrite, HistoryKind, InstanceStatus, WaitKind

__all__ = ["Family", "child_workflow", "family_at_failure"]

_ENDED = frozenset(str(status) for status in TERMINAL_STATUSES)
_WAITING = InstanceStatus.WAITING.value
_CHILD = WaitKind.CHILD.value


class Family:
    """One run's parent (if any) and whether it has children; see the module docstring."""

    __slots__ = ("awaiting", "has_children", "instance_id", "parent_id", "starts")

    def __init__(self, instance_id: str, parent_id: str | None) -> None:
        self.instance_id = instance_id
        self.parent_id = parent_id
        self.has_children = False
        #: Children started since the last durable point: ``(row, position)``.
        self.starts: list[tuple[dict[str, Any], int]] = []
        #: The child whose end the run is suspending for.
        self.awaiting: str | None = None

    def unwritten(self, child_id: str) -> bool:
        """Whether ``child_id`` was started by this run and is not stored yet."""
        return any(row["id"] == child_id for row, _ in self.starts)

    def write_for(self, values: dict[str, Any]) -> FamilyWrite | None:
        """What the write of ``values`` does to the family (the pending starts move into it)."""
        status = values["status"]
        ended = status in _ENDED
        recheck = self.awaiting if status == _WAITING and values["wait_kind"] == _CHILD else None
        if not (self.starts or ended or recheck):
            return None
        write = FamilyWrite(starts=self.starts, recheck_child=recheck)
        self.starts = []
        if ended:
            write.parent_to_wake = self.parent_id
            if self.has_children:
                write.cancel_children = f"parent instance {self.instance_id!r} ended {status}"
        return write

    def not_written(self, write: FamilyWrite | None) -> None:
        """The write was not applied but the run goes on: its starts are pending again."""
        if write is not None and write.starts:
            self.starts = write.starts + self.starts


def family_at_failure(
    family: Family | None, instance_id: str, history: Sequence[dict[str, Any]]
) -> Family | None:
    """The family of a run about to end failed, which may not have replayed its code (a
    compensation after a restart, say): it has children if its history started any."""
    if family is not None and family.has_children:
        return family
    if any(row["kind"] == HistoryKind.CHILD_START for row in history):
        family = family or Family(instance_id, None)
        family.has_children = True
    return family


def child_workflow(history: Sequence[dict[str, Any]], child_id: str) -> str:
    """The workflow of the child ``child_id``, as its ``child_start`` row names it."""
    started = json.dumps(child_id)
    for row in history:
        if row["kind"] == HistoryKind.CHILD_START and row["result"] == started:
            return str(row["name"])
    return "?"
