"""Selections of instances and bulk jobs: the one place of their SQL.

An :class:`InstanceQuery` is a selection with its names resolved (a dependency already
turned into the steps that call it); :func:`selection_filter` compiles it to one WHERE
clause over ``instances``, which a preview counts and pages by id, and which a bulk job
evaluates once, when it starts, into its ``bulk_items`` (one pending row per instance).
The job then works through its pending rows by instance id in batches; see
``_bulk_items.py`` for how each instance is acted on once.

System workflows (named ``daytwo.*``, such as the bulk jobs themselves) are left out of
every selection unless it names their workflow: "cancel everything waiting" must not
cancel the job doing it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypedDict

import sqlalchemy as sa

from daytwo.store._audit import AuditEntry, AuditOutcome, append_audit
from daytwo.store._bulk_items import BulkOutcome
from daytwo.store._operator_schema import audit_log, bulk_items, bulk_jobs
from daytwo.store._rows import typed_row, typed_rows
from daytwo.store._schema import instances, step_attempts, transitions
from daytwo.store._starts import initial_transition
from daytwo.store._store import Store

__all__ = [
    "SYSTEM_PREFIX",
    "BulkJobRow",
    "BulkStatus",
    "InstanceQuery",
    "bulk_counts",
    "create_bulk_job",
    "finish_bulk_job",
    "get_bulk_job",
    "item_outcomes",
    "list_bulk_jobs",
    "pending_items",
    "select_ids",
    "selection_count",
    "selection_filter",
    "selection_json",
    "settle_item",
]

#: Workflows whose names start so are daytwo's own (left out unless named).
SYSTEM_PREFIX = "daytwo."


class BulkStatus(StrEnum):
    """How a bulk job stands (``bulk_jobs.status``)."""

    RUNNING = "running"
    DONE = "done"
    #: Its workflow instance ended otherwise (cancelled, failed): the rest stays pending.
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class InstanceQuery:
    """Which instances, as the store filters them (every field optional; all must hold)."""

    workflow: str | None = None
    version: str | None = None
    statuses: tuple[str, ...] = ()
    state: str | None = None
    #: The instance is at this step (its state label) or waits at it (its wait name).
    steps: tuple[str, ...] | None = None
    created_before: float | None = None
    created_after: float | None = None
    entered_before: float | None = None
    entered_after: float | None = None
    #: A substring (any case) of the instance's error or its pending step's last error.
    error: str | None = None


def selection_filter(query: InstanceQuery) -> sa.ColumnElement[bool]:
    """The WHERE clause over ``instances`` of ``query``."""
    column = instances.c
    conditions: list[sa.ColumnElement[bool]] = []
    if query.workflow is not None:
        conditions.append(column.workflow == query.workflow)
    else:
        conditions.append(sa.not_(column.workflow.startswith(SYSTEM_PREFIX, autoescape=True)))
    if query.version is not None:
        conditions.append(column.version == query.version)
    if query.statuses:
        conditions.append(column.status.in_(list(query.statuses)))
    if query.state is not None:
        conditions.append(column.state == query.state)
    if query.steps is not None:
        names = list(query.steps)
        conditions.append(sa.or_(column.state.in_(names), column.wait_name.in_(names)))
    for value, col, before in (
        (query.created_before, column.created_at, True),
        (query.created_after, column.created_at, False),
        (query.entered_before, column.state_entered_at, True),
        (query.entered_after, column.state_entered_at, False),
    ):
        if value is not None:
            conditions.append(col < value if before else col >= value)
    if query.error is not None:
        pattern = "%" + _escaped(query.error.lower()) + "%"
        attempt = step_attempts.c
        last_error = (
            sa.select(attempt.error)
            .where(attempt.instance_id == column.id, attempt.seq == column.wait_seq)
            .order_by(attempt.attempt.desc())
            .limit(1)
            .scalar_subquery()
        )
        conditions.append(
            sa.or_(
                sa.func.lower(column.error).like(pattern, escape="\\"),
                sa.func.lower(last_error).like(pattern, escape="\\"),
            )
        )
    return sa.and_(*conditions)


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def selection_count(store: Store, query: InstanceQuery) -> int:
    """How many instances ``query`` selects now."""
    with store.read() as conn:
        counted = sa.select(sa.func.count()).select_from(instances).where(selection_filter(query))
        return int(conn.execute(counted).scalar_one())


def select_ids(
    store: Store, query: InstanceQuery, *, after: str | None = None, limit: int = 100
) -> list[str]:
    """The ids ``query`` selects, in id order, after ``after`` (keyset paging)."""
    statement = sa.select(instances.c.id).where(selection_filter(query))
    if after is not None:
        statement = statement.where(instances.c.id > after)
    with store.read() as conn:
        return list(conn.execute(statement.order_by(instances.c.id).limit(limit)).scalars())


class BulkJobRow(TypedDict):
    """A ``bulk_jobs`` row (JSON columns as text)."""

    id: str
    action: str
    params: str | None
    selection: str
    actor: str
    reason: str | None
    status: str
    selected: int
    rate: float
    batch_size: int
    audit_id: int | None
    detail: str | None
    created_at: float
    finished_at: float | None


def create_bulk_job(
    store: Store,
    job: Mapping[str, Any],
    query: InstanceQuery,
    runner: dict[str, Any],
    audit: AuditEntry,
    now: float,
) -> int:
    """Store the job, its instances (what ``query`` selects now, each pending), its audit
    row and ``runner`` (the queued row of the ``daytwo.bulk`` instance that works through
    it) in one transaction; returns how many instances it selected."""
    with store.write() as conn:
        selected = sa.select(
            sa.literal(job["id"]), instances.c.id, sa.literal(str(BulkOutcome.PENDING))
        ).where(selection_filter(query))
        conn.execute(
            bulk_items.insert().from_select(["job_id", "instance_id", "outcome"], selected)
        )
        count_items = sa.select(sa.func.count()).where(bulk_items.c.job_id == job["id"])
        count = int(conn.execute(count_items).scalar_one())
        audit_id = append_audit(
            conn,
            AuditEntry(**{**_fields(audit), "count": count}),
            now,
        )
        conn.execute(
            bulk_jobs.insert().values(
                **job, selected=count, audit_id=audit_id, status=BulkStatus.RUNNING,
                created_at=now,
            )
        )  # fmt: skip
        conn.execute(instances.insert().values(**runner))
        conn.execute(transitions.insert().values(**initial_transition(runner)))
        store.notify_workers(conn, runner["queue"])
        return count


def _fields(entry: AuditEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in AuditEntry.__slots__}


def pending_items(store: Store, job_id: str, limit: int) -> list[str]:
    """The next ``limit`` instances of the job not acted on yet, by id."""
    column = bulk_items.c
    statement = (
        sa.select(column.instance_id)
        .where(column.job_id == job_id, column.outcome == BulkOutcome.PENDING)
        .order_by(column.instance_id)
        .limit(limit)
    )
    with store.read() as conn:
        return list(conn.execute(statement).scalars())


def settle_item(
    store: Store,
    job_id: str,
    instance_id: str,
    outcome: BulkOutcome,
    detail: str | None,
    now: float,
) -> None:
    """Record ``outcome`` for an instance the action did not mark in its own transaction
    (it raised, and rolled back; or it writes no audit entry); nothing if it is not
    pending any more."""
    column = bulk_items.c
    with store.write() as conn:
        conn.execute(
            bulk_items.update()
            .where(
                column.job_id == job_id,
                column.instance_id == instance_id,
                column.outcome == BulkOutcome.PENDING,
            )
            .values(outcome=outcome, detail=None if detail is None else detail[:2000],
                    acted_at=now)
        )  # fmt: skip


def bulk_counts(store: Store, job_id: str) -> dict[str, int]:
    """Instances of the job per outcome (every outcome present, 0 when none)."""
    column = bulk_items.c
    statement = (
        sa.select(column.outcome, sa.func.count())
        .where(column.job_id == job_id)
        .group_by(column.outcome)
    )
    with store.read() as conn:
        found = {str(outcome): int(n) for outcome, n in conn.execute(statement)}
    return {str(outcome): found.get(outcome, 0) for outcome in BulkOutcome}


def item_outcomes(
    store: Store, job_id: str, *, outcome: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """The job's instances with their outcomes, by id."""
    column = bulk_items.c
    statement = sa.select(bulk_items).where(column.job_id == job_id)
    if outcome is not None:
        statement = statement.where(column.outcome == outcome)
    with store.read() as conn:
        rows = conn.execute(statement.order_by(column.instance_id).limit(limit)).mappings()
        return [dict(row) for row in rows]


def finish_bulk_job(store: Store, job_id: str, status: BulkStatus, now: float) -> bool:
    """End a running job with ``status`` and its audit row with its counts; False if it
    had ended already (a repeated finish changes nothing)."""
    counts = bulk_counts(store, job_id)
    order = (BulkOutcome.DONE, BulkOutcome.REFUSED, BulkOutcome.FAILED, BulkOutcome.PENDING)
    detail = ", ".join(f"{counts[outcome]} {outcome}" for outcome in order if counts[outcome])
    with store.write() as conn:
        job = conn.execute(
            sa.select(bulk_jobs).where(bulk_jobs.c.id == job_id).with_for_update()
        ).mappings().first()  # fmt: skip
        if job is None or job["status"] != BulkStatus.RUNNING:
            return False
        conn.execute(
            bulk_jobs.update()
            .where(bulk_jobs.c.id == job_id)
            .values(status=status, finished_at=now, detail=detail or "nothing selected")
        )
        if job["audit_id"] is not None:
            outcome = AuditOutcome.DONE if status is BulkStatus.DONE else AuditOutcome.FAILED
            conn.execute(
                audit_log.update()
                .where(audit_log.c.id == job["audit_id"])
                .values(outcome=outcome, detail=detail or "nothing selected")
            )
        return True


def get_bulk_job(store: Store, job_id: str) -> BulkJobRow | None:
    """One job."""
    with store.read() as conn:
        row = conn.execute(sa.select(bulk_jobs).where(bulk_jobs.c.id == job_id)).mappings()
        return typed_row(row.first(), BulkJobRow)


def list_bulk_jobs(store: Store, *, limit: int = 50) -> list[BulkJobRow]:
    """Jobs, newest first."""
    statement = sa.select(bulk_jobs).order_by(bulk_jobs.c.created_at.desc()).limit(limit)
    with store.read() as conn:
        return typed_rows(conn.execute(statement).mappings(), BulkJobRow)


def selection_json(query: Mapping[str, Any]) -> str:
    """The stored text of a selection (sorted keys: the same query, the same text)."""
    return json.dumps(dict(query), sort_keys=True)
