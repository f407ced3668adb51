"""A parent and its child workflows as ``Instance.parent`` / ``Instance.children`` show them."""

from __future__ import annotations

from dataclasses import dataclass

from daytwo.store import InstanceStatus, ParentClose, Store, relatives_of

__all__ = ["RelatedInstance", "family_of"]


@dataclass(frozen=True)
class RelatedInstance:
    """The parent or a child of an instance: its id, workflow and status (and, for a
    child, what the parent's end does to it)."""

    id: str
    workflow: str
    #: An :class:`~daytwo.InstanceStatus`, or "purged" for a parent no longer stored.
    status: str
    on_parent_close: ParentClose | None = None

    def describe(self) -> str:
        """In words: ``order-1:3 (charge, SUCCEEDED)``."""
        return f"{self.id} ({self.workflow}, {self.status})"


def family_of(
    store: Store, instance_id: str, parent_id: str | None
) -> tuple[RelatedInstance | None, tuple[RelatedInstance, ...]]:
    """The parent (None for an instance no other started) and the children, oldest first:
    one query by ``parent_id`` on its index (and one by id for the parent)."""
    parent, children = relatives_of(store, instance_id, parent_id)
    related = tuple(
        RelatedInstance(
            child.id,
            child.workflow,
            _status(child.status),
            ParentClose(child.on_parent_close) if child.on_parent_close else None,
        )
        for child in children
    )
    if parent is None:
        return None, related
    return RelatedInstance(parent.id, parent.workflow, _status(parent.status)), related


def _status(text: str) -> str:
    return InstanceStatus(text) if text in InstanceStatus._value2member_map_ else text
