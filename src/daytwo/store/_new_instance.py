"""The row of a new instance: one layout for every way an instance is made."""

from __future__ import annotations

from typing import Any

from daytwo.store._vocabulary import InstanceStatus

__all__ = ["queued_instance"]


def queued_instance(
    instance_id: str,
    workflow: str,
    version: str,
    input_text: str,
    *,
    queue: str,
    priority: int,
    now: float,
    deadline_at: float | None = None,
) -> dict[str, Any]:
    """The ``instances`` row of a new instance, queued and runnable now.

    The one place that lays out a new row, for every way an instance is made (a start, a
    child started by its parent, a schedule's tick): a column added to ``instances`` is
    added here once, not in copies that drift apart.
    """
    return {
        "id": instance_id,
        "workflow": workflow,
        "version": version,
        "status": InstanceStatus.RUNNABLE,
        "state": "queued",
        "state_entered_at": now,
        "input": input_text,
        "output": None,
        "error": None,
        "cancel_reason": None,
        "queue": queue,
        "priority": priority,
        "run_at": now,
        "wake_at": None,
        "wait_kind": None,
        "wait_name": None,
        "wait_seq": None,
        "attempt": 0,
        "lease_owner": None,
        "lease_token": 0,
        "history_size": 0,
        "transition_count": 1,  # the initial transition into "queued"
        "created_at": now,
        "updated_at": now,
        "finished_at": None,
        "deadline_at": deadline_at,
    }
