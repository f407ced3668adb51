"""Terminating an instance: it ends now, TERMINATED, without compensation.

One transaction, like every instance action (``_actions.py``): the row locked, the end
written with everything an end of the engine's own writes — a history row saying who ended
it and why, the transition, the SLO end bucket (TERMINATED counts as a bad end), open human
tasks closed, dependency slots given back, and an ``instance.ended_badly`` outbox event,
appended last (see ``_outbox.py``). The lease token is bumped: a worker still running the
instance is fenced off, its next write matches nothing (``LeaseTakenOver``), and the
instance stays TERMINATED.
"""

from __future__ import annotations

import json
from typing import Any

from daytwo._errors import NotRunnable
from daytwo.store._actions import describe, enter_state, locked
from daytwo.store._aggregates import bucket_key, bucket_rows, bucket_upsert
from daytwo.store._audit import AuditEntry, append_audit
from daytwo.store._base import StoreBase
from daytwo.store._children import cancel_children, wake_parent
from daytwo.store._outbox import EventKind, append_event, ended_badly_payload
from daytwo.store._schema import dependency_slots, history, human_tasks, instances
from daytwo.store._vocabulary import (
    TERMINAL_STATUSES,
    HistoryKind,
    HistoryOutcome,
    InstanceStatus,
    TaskStatus,
)

__all__ = ["terminate"]


def terminate(
    store: StoreBase, instance_id: str, reason: str, actor: str, now: float, audit: AuditEntry
) -> None:
    """End an active instance TERMINATED now (see the module docstring)."""
    with store.write() as conn:
        row = locked(conn, instance_id)
        if row["status"] in TERMINAL_STATUSES:
            raise NotRunnable(
                f"cannot terminate instance {instance_id!r}: it is {describe(row)}; only "
                "an active instance can be terminated"
            )
        seq = row["history_size"]
        conn.execute(
            history.insert().values(
                instance_id=instance_id,
                seq=seq,
                kind=HistoryKind.TERMINATE,
                name="terminate",
                outcome=HistoryOutcome.COMPLETED,
                attempt=1,
                started_at=now,
                finished_at=now,
                detail=json.dumps({"by": actor, "reason": reason, "was": row["status"]}),
            )
        )
        error: dict[str, Any] = {"type": "Terminated", "message": reason}
        if row["error"] is not None:  # terminated while compensating: keep what failed
            failed = json.loads(row["error"])
            error["failure"] = f"{failed.get('type')}: {failed.get('message')}"
        status = InstanceStatus.TERMINATED
        values: dict[str, Any] = {
            **enter_state(conn, row, status.lower(), status, now),
            "status": status, "error": json.dumps(error), "output": None, "run_at": None,
            "wake_at": None, "wait_kind": None, "wait_name": None, "wait_seq": None,
            "attempt": 0, "lease_owner": None, "lease_token": row["lease_token"] + 1,
            "history_size": seq + 1, "updated_at": now, "finished_at": now,
        }  # fmt: skip
        conn.execute(instances.update().where(instances.c.id == instance_id).values(values))
        conn.execute(
            human_tasks.update()
            .where(
                human_tasks.c.instance_id == instance_id, human_tasks.c.status == TaskStatus.OPEN
            )
            .values(
                status=TaskStatus.CLOSED,
                closed_reason=f"the instance was terminated: {reason}",
                completed_at=now,
            )
        )
        conn.execute(dependency_slots.delete().where(dependency_slots.c.instance_id == instance_id))
        if row["parent_id"] is not None:
            wake_parent(store, conn, row["parent_id"], instance_id, now)
        cancel_children(
            store, conn, instance_id, f"parent instance {instance_id!r} was terminated: {reason}",
            now,
        )  # fmt: skip
        identity = (row["workflow"], row["version"], row["created_at"])
        buckets = sorted(bucket_rows(identity, values, [], []), key=bucket_key)
        conn.execute(bucket_upsert(store.dialect), buckets)
        append_audit(conn, audit, now)
        payload = ended_badly_payload(instance_id, identity, values)
        append_event(conn, EventKind.INSTANCE_ENDED_BADLY, instance_id, payload, now)
