"""Bulk actions: one per-instance action applied to every instance of a selection.

``client.bulk(action, selection)`` is a dry run by default: the count and the first ids,
nothing changed. With ``dry_run=False`` it stores a **bulk job** (``bulk_jobs``), the
instances the selection holds at that moment (``bulk_items``, each pending: the
selection is evaluated once) and the job's one audit row, together with an instance of
the system workflow ``daytwo.bulk`` (``_bulk_workflow.py``) that works through them on
the workers: batches of ``batch_size`` instances by id, each batch a step, a durable
sleep after each so that no more than ``rate`` instances per second are acted on. The
action on each instance is the operator's per-instance action (``ACTIONS``), which
checks the instance's state as always: an instance that changed meanwhile is *refused*
(counted per instance), not an error of the job. Each instance is acted on once, however
often a batch runs after crashes: see ``store/_bulk_items.py``.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from daytwo._audit import AuditEntry, AuditOutcome, AuditTarget, OperatorAction, resolve_actor
from daytwo._bulk_actions import ACTIONS, Action, action_named, checked_params
from daytwo._errors import InstanceNotFound, InvalidInput, NotRunnable, TaskNotFound
from daytwo._selection import Selection
from daytwo._starts import new_instance_id, outside_workflow, queued_row
from daytwo.store import (
    TERMINAL_STATUSES,
    AlreadyActed,
    BulkJobRow,
    BulkOutcome,
    BulkStatus,
    acting_for,
    bulk_counts,
    create_bulk_job,
    finish_bulk_job,
    get_bulk_job,
    item_outcomes,
    list_bulk_jobs,
    pending_items,
    select_ids,
    selection_count,
    selection_json,
    settle_item,
)

if TYPE_CHECKING:
    from daytwo._client import Client

__all__ = [
    "ACTIONS",
    "BULK_VERSION",
    "BULK_WORKFLOW",
    "BulkJob",
    "BulkPreview",
    "BulkProgress",
    "act_on_batch",
    "action_named",
    "bulk",
    "bulk_job",
    "bulk_jobs",
    "end_job",
    "stop_job",
]

log = logging.getLogger("daytwo.bulk")

#: The system workflow that runs bulk jobs, registered by every App.
BULK_WORKFLOW = "daytwo.bulk"
BULK_VERSION = "1"
#: Instances per second unless told otherwise: modest, for a recovering dependency.
DEFAULT_RATE = 50.0
#: The largest batch (one step; its instances are acted on back to back).
MAX_BATCH = 500
#: How many ids a preview shows.
PREVIEW_IDS = 10


@dataclass(frozen=True)
class BulkPreview:
    """What a bulk action would act on (a dry run): nothing was changed."""

    action: OperatorAction
    selection: Selection
    count: int
    first_ids: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action.value,
            "selection": self.selection.to_dict(),
            "count": self.count,
            "first_ids": self.first_ids,
            "dry_run": True,
        }


@dataclass(frozen=True)
class BulkProgress:
    """How far a bulk job got."""

    id: str
    action: str
    status: BulkStatus
    selected: int
    done: int
    refused: int
    failed: int
    pending: int
    rate: float
    batch_size: int
    actor: str
    reason: str | None
    selection: dict[str, Any]
    params: dict[str, Any] | None
    created_at: datetime
    finished_at: datetime | None
    detail: str | None

    @property
    def finished(self) -> bool:
        return self.status is not BulkStatus.RUNNING

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.__dataclass_fields__}
        out["status"] = str(self.status)
        out["created_at"] = self.created_at.isoformat()
        out["finished_at"] = None if self.finished_at is None else self.finished_at.isoformat()
        return out


class BulkJob:
    """A handle to a bulk job (its id is also its ``daytwo.bulk`` instance's id)."""

    def __init__(self, client: Client, job_id: str) -> None:
        self.client = client
        self.id = job_id

    def progress(self) -> BulkProgress:
        """The job's counts and status, read now."""
        return _progress(self.client, self.id)

    def wait(self, timeout: float | None = None, interval: float = 0.2) -> BulkProgress:
        """Block until the job finished (or ``timeout`` real seconds); its progress."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            progress = self.progress()
            if progress.finished or (deadline is not None and time.monotonic() > deadline):
                return progress
            time.sleep(interval)

    def __repr__(self) -> str:
        return f"<daytwo.BulkJob {self.id}>"


def _progress(client: Client, job_id: str) -> BulkProgress:
    row = get_bulk_job(client.store, job_id)
    if row is None:
        raise InvalidInput(f"no bulk job {job_id!r}; daytwo bulk list shows them")
    counts = bulk_counts(client.store, job_id)
    status = BulkStatus(row["status"])
    if status is BulkStatus.RUNNING:  # its workflow instance ended without finishing it
        runner = client.store.get_instance(job_id)
        if runner is not None and runner["status"] in TERMINAL_STATUSES:
            status = BulkStatus.STOPPED
    return BulkProgress(
        id=row["id"],
        action=row["action"],
        status=status,
        selected=row["selected"],
        done=counts[BulkOutcome.DONE],
        refused=counts[BulkOutcome.REFUSED],
        failed=counts[BulkOutcome.FAILED],
        pending=counts[BulkOutcome.PENDING],
        rate=row["rate"],
        batch_size=row["batch_size"],
        actor=row["actor"],
        reason=row["reason"],
        selection=json.loads(row["selection"]),
        params=None if row["params"] is None else json.loads(row["params"]),
        created_at=datetime.fromtimestamp(row["created_at"], UTC),
        finished_at=None
        if row["finished_at"] is None
        else datetime.fromtimestamp(row["finished_at"], UTC),
        detail=row["detail"],
    )


def bulk(
    client: Client,
    action: str | OperatorAction,
    selection: Selection,
    params: Mapping[str, Any] | None = None,
    *,
    dry_run: bool = True,
    rate: float | None = None,
    batch_size: int | None = None,
    reason: str | None = None,
    by: str | None = None,
) -> BulkPreview | BulkJob:
    """Apply ``action`` ("cancel", "restart", ...) to every instance of ``selection``.

    A dry run (the default) returns a :class:`BulkPreview` (count, first ids) and changes
    nothing. Otherwise a :class:`BulkJob`: the instances selected now, acted on by the
    workers (system workflow ``daytwo.bulk``) in batches at ``rate`` per second (default
    50; a batch is at most ``batch_size``, default the rate), each once; an instance whose
    state no longer allows the action is counted as refused. One audit row for the job
    (the selection, the count, the outcome when it ends)."""
    outside_workflow(f"{client.caller}.bulk()", "start the bulk job again")
    chosen = action_named(action)
    if not isinstance(selection, Selection):
        raise InvalidInput(f"a bulk action needs a daytwo.Selection, not {selection!r}")
    given = checked_params(client, chosen, params)
    pace = _rate(rate)
    size = _batch_size(batch_size, pace)
    query = selection.query(client.store, client._registry)
    if dry_run:
        count = selection_count(client.store, query)
        return BulkPreview(chosen, selection, count, select_ids(client.store, query,
                                                                 limit=PREVIEW_IDS))  # fmt: skip
    now = client.clock.now()
    job_id = f"bulk-{new_instance_id()}"
    actor = resolve_actor(by)
    chosen_selection = selection.to_dict()
    job = {
        "id": job_id,
        "action": chosen.value,
        "params": json.dumps(given) if given else None,
        "selection": selection_json(chosen_selection),
        "actor": actor,
        "reason": reason,
        "rate": pace,
        "batch_size": size,
    }
    audit = AuditEntry(
        actor, OperatorAction.BULK, AuditTarget.SELECTION, job_id, reason,
        params={"action": chosen.value, **given, "rate": pace},
        selection=chosen_selection, outcome=AuditOutcome.RUNNING,
    )  # fmt: skip
    runner = queued_row(
        BULK_WORKFLOW, BULK_VERSION, json.dumps(job_id), job_id, queue="default", priority=0,
        now=now,
    )  # fmt: skip
    create_bulk_job(client.store, job, query, runner, audit, now)
    client.events.changed()
    client.serving.warn_if_unserved(runner)
    return BulkJob(client, job_id)


#: The slowest bulk job: one instance every 1,000 seconds.
MIN_RATE = 0.001


def _rate(rate: float | None) -> float:
    if rate is None:
        return DEFAULT_RATE
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not rate > 0:
        raise InvalidInput(f"a bulk rate is instances per second, more than 0 (got {rate!r})")
    if not MIN_RATE <= rate < math.inf:
        # The pause after a batch is its size over the rate: a rate near 0 would park the
        # job for centuries, an infinite one is no rate at all.
        raise InvalidInput(
            f"a bulk rate must be at least {MIN_RATE} instances per second (one every "
            f"{1 / MIN_RATE:.0f} s) and finite (got {rate!r}); give e.g. --rate 50"
        )
    return float(rate)


def _batch_size(batch_size: int | None, rate: float) -> int:
    if batch_size is None:  # a batch per second at most: no second sees more than ``rate``
        return max(1, min(MAX_BATCH, int(rate)))
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidInput(f"a bulk batch size is a whole number, 1 or more (got {batch_size!r})")
    return min(batch_size, MAX_BATCH)


def act_on_batch(client: Client, job_id: str) -> dict[str, Any]:
    """Act on the job's next batch of pending instances (the ``daytwo.bulk`` step).

    Returns how many it acted on, whether more remain, and how long to pause for the rate.
    Run again after a crash, it finds the instances already acted on no longer pending.
    """
    job = get_bulk_job(client.store, job_id)
    if job is None or job["status"] != BulkStatus.RUNNING:
        return {"acted": 0, "more": False, "pause": 0.0}
    action = action_named(job["action"])
    act = ACTIONS[action]
    params = {} if job["params"] is None else json.loads(job["params"])
    batch = pending_items(client.store, job_id, job["batch_size"])
    for instance_id in batch:
        _act_on_one(client, job, act, params, instance_id)
    more = bool(batch) and bool(pending_items(client.store, job_id, 1))
    return {"acted": len(batch), "more": more, "pause": len(batch) / job["rate"]}


def _act_on_one(
    client: Client, job: BulkJobRow, act: Action, params: Mapping[str, Any], instance_id: str
) -> None:
    with acting_for(job["id"], instance_id) as item:
        try:
            act(client, instance_id, params, job["reason"], job["actor"])
        except AlreadyActed:
            return
        except (NotRunnable, InstanceNotFound, TaskNotFound, InvalidInput) as refusal:
            if item.marked:  # the action's audit refusal marked it refused
                return
            # A refusal the action did not audit: still one outcome per instance.
            settle_item(client.store, job["id"], instance_id, BulkOutcome.REFUSED,
                        str(refusal), client.clock.now())  # fmt: skip
            return
        except Exception as exc:
            log.warning("bulk job %s: %s on %s failed: %s", job["id"], job["action"],
                        instance_id, exc)  # fmt: skip
            settle_item(client.store, job["id"], instance_id, BulkOutcome.FAILED,
                        f"{type(exc).__name__}: {exc}", client.clock.now())  # fmt: skip
            return
    if not item.marked:  # an action that writes no audit entry of its own
        settle_item(client.store, job["id"], instance_id, BulkOutcome.DONE, None,
                    client.clock.now())  # fmt: skip


def end_job(client: Client, job_id: str) -> str:
    """Finish the job (the last step of ``daytwo.bulk``); its status."""
    finish_bulk_job(client.store, job_id, BulkStatus.DONE, client.clock.now())
    return str(_progress(client, job_id).status)


def stop_job(client: Client, job_id: str) -> None:
    """End the job ``stopped`` (its instance was cancelled): the rest stays pending."""
    finish_bulk_job(client.store, job_id, BulkStatus.STOPPED, client.clock.now())


def bulk_job(client: Client, job_id: str) -> BulkProgress:
    """A bulk job's progress (selected, done, refused, failed, pending, status)."""
    return _progress(client, job_id)


def bulk_jobs(client: Client, limit: int = 50) -> list[BulkProgress]:
    """Bulk jobs, newest first."""
    return [_progress(client, row["id"]) for row in list_bulk_jobs(client.store, limit=limit)]


def bulk_items(
    client: Client, job_id: str, outcome: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """The job's instances and what became of each."""
    return item_outcomes(client.store, job_id, outcome=outcome, limit=limit)
