"""Starting a child workflow and waiting for its end: two positions of the parent.

*Starting* is one position, a ``child_start`` history row named by the child's workflow
whose result is the child's id. The child's row (queued, ``parent_id`` and
``parent_close`` set), its first transition and its ``child_of`` link are written in the
transaction of that history row (``_family.py``, ``store/_children.py``): a replay finds
the row and returns the same handle, a run that crashed before it starts the child again
under the same id, so no child is ever started twice. The default id is
``{parent id}:{position}`` (a valid instance id; a parent id too long for it is shortened
and a hash of it added).

*Waiting* is one position, a ``child`` history row named by the child's workflow (detail:
the child id): ``completed`` with the child's output, or ``failed`` with its end status and
error, which raises :class:`~daytwo.ChildFailed`. Until the child ends the parent is
WAITING (``wait_kind`` child, ``wait_name`` the child id) and holds no thread; the write
that ends the child makes the parent due in the same transaction. A child that is
NEEDS_ATTENTION has not ended: the parent keeps waiting.

These are plain functions over the :class:`~daytwo.engine.Run`, so any front end (the
sync Context, an async one) can call them.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from daytwo._errors import ChildFailed, ChildIdTaken, Divergence, InvalidInput
from daytwo.engine._definitions import check_name
from daytwo.engine._durable import CLEAR_WAIT, COMPLETED
from daytwo.engine._family import Family
from daytwo.store import (
    TERMINAL_STATUSES,
    HistoryKind,
    HistoryOutcome,
    InstanceStatus,
    ParentClose,
    WaitKind,
    queued_instance,
)

if TYPE_CHECKING:
    from daytwo.engine._runner import Run

__all__ = ["child_id_at", "start_child", "wait_for_child"]

#: The longest instance id (``check_name``).
_MAX_ID = 200


def child_id_at(parent_id: str, position: int) -> str:
    """The default id of the child started at ``position`` of ``parent_id``."""
    suffix = f":{position}"
    if len(parent_id) + len(suffix) <= _MAX_ID:
        return parent_id + suffix
    digest = hashlib.sha256(parent_id.encode()).hexdigest()[:12]
    return f"{parent_id[: _MAX_ID - len(suffix) - 13]}.{digest}{suffix}"


def _family(run: Run) -> Family:
    if run.family is None:
        run.family = Family(run.instance_id, None)
    run.family.has_children = True
    return run.family


def start_child(
    run: Run,
    workflow: str,
    input: Any,
    child_id: str | None,
    version: str | None,
    queue: str | None,
    on_parent_close: ParentClose,
) -> str:
    """Start (once) the child at the next position; its id."""
    recorded = run._replay(HistoryKind.CHILD_START, workflow)
    family = _family(run)
    if recorded is not None:
        return str(json.loads(recorded["result"]))
    seq = run.position - 1
    if child_id is None:
        child_id = child_id_at(run.instance_id, seq)
    else:
        check_name("instance id", child_id)
    if child_id == run.instance_id:
        raise InvalidInput(f"a child cannot have its parent's id {child_id!r}; give another id")
    row = _queued_row(run, workflow, input, child_id, version, queue, on_parent_close)
    existing = run._store(run.runtime.store.get_instance, child_id)
    if existing is not None and existing.get("parent_id") != run.instance_id:
        raise ChildIdTaken(child_id, run.instance_id, f"an instance of {existing['workflow']!r}")
    if existing is None:
        family.starts.append((row, seq))
    detail = {"child_id": child_id, "version": row["version"], "queue": row["queue"],
              "on_parent_close": str(on_parent_close)}  # fmt: skip
    run._record(
        seq, HistoryKind.CHILD_START, workflow, COMPLETED, args=row["input"],
        result=json.dumps(child_id), detail=detail,
    )  # fmt: skip
    return child_id


def _queued_row(
    run: Run,
    workflow: str,
    input: Any,
    child_id: str,
    version: str | None,
    queue: str | None,
    on_parent_close: ParentClose,
) -> dict[str, Any]:
    """The child's ``instances`` row, queued; its input checked when its code is here."""
    serde, registry = run.runtime.serde, run.runtime.registry
    text = serde.dumps(input, f"the input of child workflow {workflow!r}")
    priority, timeout = 0, None
    if registry.workflows.get(workflow):
        definition = registry.workflow(workflow, version)
        definition.signature.check(input, text, run._plain_json)
        version, priority = definition.version, definition.priority
        timeout = definition.timeout  # a child's own deadline: its workflow's timeout=
        queue = queue or definition.queue
    elif version is None:
        raise InvalidInput(
            f"child workflow {workflow!r} is not registered in this app; register it, or "
            "give version= (and queue=) to start a child that another app's workers run"
        )
    else:
        check_name("workflow", workflow)
    if queue is not None:
        check_name("queue", queue)
    now = run._now()
    row = queued_instance(
        child_id, workflow, version, text, queue=queue or "default", priority=priority,
        now=now, deadline_at=None if timeout is None else now + timeout,
    )  # fmt: skip
    row.update(parent_id=run.instance_id, parent_close=str(on_parent_close))
    return row


def wait_for_child(run: Run, child_id: str, workflow: str) -> Any:
    """Wait (durably, without a thread) for the child's end at the next position."""
    recorded = run._replay(HistoryKind.CHILD, workflow)
    if recorded is not None:
        if recorded["outcome"] == COMPLETED:
            return run.runtime.serde.loads(recorded["result"])
        raise _failed(child_id, workflow, json.loads(recorded["error"]))
    seq = run.position - 1
    if run._pending(seq, WaitKind.CHILD) and run.values["wait_name"] != child_id:
        raise Divergence(
            f"at position {seq} the instance is waiting for the end of child workflow "
            f"{workflow!r} (id {run.values['wait_name']!r}) but the workflow now waits for "
            f"child {child_id!r}",
            seq,
        )
    family = _family(run)
    row = None
    if not family.unwritten(child_id):
        row = run._store(run.runtime.store.get_instance, child_id)
        if row is None or row["status"] in TERMINAL_STATUSES:
            return _ended(run, seq, child_id, workflow, row)
    family.awaiting = child_id
    run._suspend(WaitKind.CHILD, child_id, seq, None, f"child:{workflow}")


def _ended(run: Run, seq: int, child_id: str, workflow: str, row: Any) -> Any:
    """Record the child's end at ``seq``: return its output, or raise ChildFailed."""
    started = run._wait_started(seq, WaitKind.CHILD)
    detail = {"child_id": child_id}
    run.values.update(CLEAR_WAIT)
    if row is not None and row["status"] == InstanceStatus.SUCCEEDED:
        run._record(
            seq, HistoryKind.CHILD, workflow, COMPLETED, result=row["output"],
            started_at=started, detail=detail,
        )  # fmt: skip
        return run.runtime.serde.loads(row["output"])
    if row is None:  # purged before the parent looked (retention shorter than the wait)
        error = {"type": "ChildMissing", "message": "the child's row is gone (purged?)",
                 "status": "MISSING"}  # fmt: skip
    else:
        stored = json.loads(row["error"]) if row["error"] else {}
        error = {
            "type": stored.get("type", "Error"),
            "message": stored.get("message", f"ended {row['status']}"),
            "status": row["status"],
        }
    run._record(
        seq, HistoryKind.CHILD, workflow, HistoryOutcome.FAILED, error=json.dumps(error),
        started_at=started, detail=detail,
    )  # fmt: skip
    raise _failed(child_id, workflow, error)


def _failed(child_id: str, workflow: str, error: dict[str, Any]) -> ChildFailed:
    return ChildFailed(
        child_id, workflow, error.get("status", "FAILED"), error.get("type", "Error"),
        error.get("message", ""),
    )  # fmt: skip
