"""Retention's queries: which ended instances are due, their rows, and deleting them.

An instance's rows live in several tables (history, attempts, transitions, signals, tasks,
and the tables operations packages add). :data:`PURGED_WITH_INSTANCE` lists every
``(table, column)`` whose rows belong to one instance through ``column``; a purge reads
(for archives) and deletes exactly those, the list's last entries first and the instance
row last (PostgreSQL enforces the foreign keys; a table added later may reference an
earlier one, so a new entry goes after what it references). A table declared later adds itself with
:func:`purge_with_instance` (a core table: a line in the list below; a package's: a call
in its ``_tables.py``, next to the table), so no purge leaves rows of a deleted instance.

The log, the SLO buckets and the outbox have retention of their own
(:func:`prune_audit`, :func:`compact_slo_buckets`, :func:`prune_outbox`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from daytwo.store._operator_schema import audit_log
from daytwo.store._schema import (
    ENDED,
    instances,
    metadata,
    outbox_events,
    outbox_subscribers,
    slo_buckets,
)
from daytwo.store._vocabulary import TERMINAL_STATUSES

__all__ = [
    "PURGED_WITH_INSTANCE",
    "PURGED_WITH_TASK",
    "ROLLUP_BUCKET",
    "compact_slo_buckets",
    "count_ended",
    "delete_instances",
    "ended_batch",
    "ended_workflows",
    "instance_records",
    "prune_audit",
    "prune_outbox",
    "purge_with_instance",
]

#: ``(table, column)``: the rows of ``table`` whose ``column`` holds an instance's id are
#: that instance's, read into its archive and deleted with it. Tables added by other work
#: append here (core) or call :func:`purge_with_instance` (packages).
PURGED_WITH_INSTANCE: list[tuple[str, str]] = [
    ("history", "instance_id"),
    ("step_attempts", "instance_id"),
    ("transitions", "instance_id"),
    ("signals", "instance_id"),
    ("human_tasks", "instance_id"),
    ("dependency_slots", "instance_id"),
    ("queue_starts", "instance_id"),
    ("breaker_probes", "instance_id"),
    # The links the instance has (restart of, fork of); links *to* it from newer instances
    # stay: they record where those came from, purged or not.
    ("instance_links", "instance_id"),
]

#: ``(table, column)``: rows whose ``column`` holds the id of a human task of the instance
#: (``human_tasks.id``): deleted with it, before its tasks (they reference them).
PURGED_WITH_TASK: list[tuple[str, str]] = [("task_events", "task_id")]

#: The ``bucket_start`` of the all-time row into which :func:`compact_slo_buckets` folds
#: pruned hour buckets: no SLO window reaches back to it, while the /metrics counters
#: (sums over every hour bucket) keep counting what was pruned.
ROLLUP_BUCKET = 0.0

_TERMINAL = sorted(str(status) for status in TERMINAL_STATUSES)
_IDS: sa.BindParameter[Any] = sa.bindparam("ids", expanding=True)


def purge_with_instance(table: str, column: str = "instance_id") -> None:
    """Have purges read and delete ``table``'s rows whose ``column`` is a purged instance."""
    if (table, column) not in PURGED_WITH_INSTANCE:
        PURGED_WITH_INSTANCE.append((table, column))


def _owned_tables() -> list[tuple[sa.Table, sa.Column[Any]]]:
    # Only tables this process declared: a package not imported here has not registered
    # its table, and the name resolves once it is.
    return [
        (metadata.tables[name], metadata.tables[name].c[column])
        for name, column in PURGED_WITH_INSTANCE
        if name in metadata.tables
    ]


def _ended_before(workflow: str, before: float) -> list[sa.ColumnElement[bool] | sa.TextClause]:
    # The literal condition is the partial index's, which the planner matches only so.
    return [
        instances.c.workflow == workflow,
        sa.text(ENDED),
        instances.c.finished_at < before,
        instances.c.status.in_(_TERMINAL),
    ]


def ended_workflows(conn: sa.Connection, workflow: str | None = None) -> list[str]:
    """The workflows that have ended instances (``workflow`` alone if it has some).

    A loose index scan: one seek per workflow instead of reading every ended row.
    """
    names: list[str] = []
    after: str | None = None
    while True:
        query = sa.select(instances.c.workflow).where(sa.text(ENDED))
        if workflow is not None:
            query = query.where(instances.c.workflow == workflow)
        elif after is not None:
            query = query.where(instances.c.workflow > after)
        name = conn.execute(query.order_by(instances.c.workflow).limit(1)).scalar()
        if name is None:
            return names
        names.append(name)
        if workflow is not None:
            return names
        after = name


def count_ended(conn: sa.Connection, workflow: str, before: float) -> tuple[int, float, float]:
    """How many of ``workflow``'s instances ended before ``before``; the oldest and newest
    finish times (0 when none)."""
    finished = instances.c.finished_at
    count, oldest, newest = conn.execute(
        sa.select(sa.func.count(), sa.func.min(finished), sa.func.max(finished)).where(
            *_ended_before(workflow, before)
        )
    ).one()
    return int(count), float(oldest or 0), float(newest or 0)


def ended_batch(conn: sa.Connection, workflow: str, before: float, limit: int) -> list[str]:
    """The ids of up to ``limit`` of ``workflow``'s instances that ended before ``before``,
    the oldest first."""
    return list(
        conn.execute(
            sa.select(instances.c.id)
            .where(*_ended_before(workflow, before))
            .order_by(instances.c.finished_at, instances.c.id)
            .limit(limit)
        ).scalars()
    )


def instance_records(conn: sa.Connection, ids: Sequence[str]) -> list[dict[str, Any]]:
    """Each instance's row and its rows of every :data:`PURGED_WITH_INSTANCE` table, as
    stored (JSON columns as their text): one archive line per instance, in ``ids`` order."""
    if not ids:
        return []
    rows = conn.execute(
        sa.select(instances).where(instances.c.id.in_(_IDS)), {"ids": list(ids)}
    ).mappings()
    records: dict[str, dict[str, Any]] = {row["id"]: {"instance": dict(row)} for row in rows}
    for table, column in _owned_tables():
        for record in records.values():
            record[table.name] = []
        order = [table.c[c.name] for c in table.primary_key.columns] or [column]
        for row in conn.execute(
            sa.select(table).where(column.in_(_IDS)).order_by(*order), {"ids": list(ids)}
        ).mappings():
            records[row[column.name]][table.name].append(dict(row))
    return [records[i] for i in ids if i in records]


def delete_instances(conn: sa.Connection, ids: Sequence[str], before: float) -> int:
    """Delete those of ``ids`` that are still ended before ``before``, with all their rows;
    returns how many. Inside the caller's write transaction.

    The instances are checked again here, in the deleting transaction, under row locks on
    PostgreSQL: one that an operator brought back to life since the batch was read is left
    alone (its archive line, if any, is a harmless duplicate).
    """
    if not ids:
        return 0
    confirm = (
        sa.select(instances.c.id)
        .where(
            instances.c.id.in_(_IDS),
            sa.text(ENDED),
            instances.c.finished_at < before,
            instances.c.status.in_(_TERMINAL),
        )
        .with_for_update()
    )
    confirmed = list(conn.execute(confirm, {"ids": list(ids)}).scalars())
    if not confirmed:
        return 0
    # Last registered first: a table added later may reference one before it (task events
    # a task), never the other way round; every one references the instance row.
    tasks = metadata.tables["human_tasks"]
    of_tasks = sa.select(tasks.c.id).where(tasks.c.instance_id.in_(_IDS)).scalar_subquery()
    for name, column_name in PURGED_WITH_TASK:
        if name in metadata.tables:
            table = metadata.tables[name]
            conn.execute(
                table.delete().where(table.c[column_name].in_(of_tasks)), {"ids": confirmed}
            )
    for table, column in reversed(_owned_tables()):
        conn.execute(table.delete().where(column.in_(_IDS)), {"ids": confirmed})
    conn.execute(instances.delete().where(instances.c.id.in_(_IDS)), {"ids": confirmed})
    return len(confirmed)


def prune_audit(conn: sa.Connection, before: float, limit: int) -> int:
    """Delete up to ``limit`` audit rows recorded before ``before`` (a bulk action still
    running keeps its row); returns how many."""
    oldest = (
        sa.select(audit_log.c.id)
        .where(audit_log.c.at < before, audit_log.c.outcome != "running")
        .order_by(audit_log.c.at)
        .limit(limit)
    )
    ids = list(conn.execute(oldest).scalars())
    if ids:
        conn.execute(audit_log.delete().where(audit_log.c.id.in_(_IDS)), {"ids": ids})
    return len(ids)


def prune_outbox(conn: sa.Connection, before: float, limit: int) -> int:
    """Delete up to ``limit`` outbox events created before ``before`` that every subscriber
    has handled (at or below the lowest stored position); returns how many.

    With no subscriber registered, every event before ``before`` goes: a subscriber added
    later starts from the events kept.
    """
    lowest = conn.execute(sa.select(sa.func.min(outbox_subscribers.c.position))).scalar()
    query = sa.select(outbox_events.c.seq).where(outbox_events.c.created_at < before)
    if lowest is not None:
        query = query.where(outbox_events.c.seq <= lowest)
    seqs = list(conn.execute(query.order_by(outbox_events.c.seq).limit(limit)).scalars())
    if seqs:
        conn.execute(outbox_events.delete().where(outbox_events.c.seq.in_(_IDS)), {"ids": seqs})
    return len(seqs)


def compact_slo_buckets(conn: sa.Connection, before: float) -> int:
    """Fold the hour buckets that start before ``before`` into one all-time row per
    (workflow, version, series) at :data:`ROLLUP_BUCKET`, and drop minute buckets that old;
    returns how many rows went.

    Folding, not deleting: the /metrics counters are sums over every hour bucket, and a
    counter that went down would look like a reset to Prometheus.
    """
    c = slo_buckets.c
    old = sa.and_(c.bucket_start < before, c.bucket_start > ROLLUP_BUCKET)
    keys = (c.workflow, c.version, c.series)
    folded = conn.execute(
        sa.select(
            *keys, sa.func.sum(c.events), sa.func.sum(c.cycle_seconds), sa.func.max(c.last_at)
        )
        .where(c.resolution == 3600, sa.or_(old, c.bucket_start == ROLLUP_BUCKET))
        .group_by(*keys)
    ).all()
    gone = conn.execute(
        slo_buckets.delete().where(c.resolution == 60, c.bucket_start < before)
    ).rowcount
    removed = conn.execute(slo_buckets.delete().where(c.resolution == 3600, old)).rowcount
    if removed:
        conn.execute(
            slo_buckets.delete().where(c.resolution == 3600, c.bucket_start == ROLLUP_BUCKET)
        )
        conn.execute(
            slo_buckets.insert(),
            [
                {
                    "workflow": workflow,
                    "resolution": 3600,
                    "bucket_start": ROLLUP_BUCKET,
                    "version": version,
                    "series": series,
                    "events": int(events),
                    "cycle_seconds": float(cycle),
                    "last_at": float(last),
                }
                for workflow, version, series, events, cycle, last in folded
            ],
        )
    return int(gone) + int(removed)
