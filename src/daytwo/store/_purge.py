"""Purging ended instances in batches: the loop the retention service and ``daytwo purge``
share.

Each batch is one short write transaction (on SQLite one turn of the write lock), so the
workers' claims and commits interleave with a purge of millions of rows instead of queuing
behind it. With an archive, a batch's records are read and written to a durable file
first (``_archives.py``), then the same ids are deleted, each checked again in the
deleting transaction (``delete_instances``).

The audit row (``OperatorAction.PURGE``) is appended by the first batch that deletes
anything, in that batch's transaction, as ``running`` with its count; each later batch
adds its count in its own transaction, and the end marks it ``done``. A purge that was
killed half-way leaves a ``running`` row whose count is exactly what was deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import sqlalchemy as sa

from daytwo.store._archives import ArchiveWriter
from daytwo.store._audit import AuditEntry, AuditOutcome, append_audit
from daytwo.store._base import StoreBase
from daytwo.store._operator_schema import audit_log
from daytwo.store._retention import delete_instances, ended_batch, instance_records

__all__ = ["DEFAULT_BATCH", "PurgeRun", "purge_ended"]

#: Instances per batch (one transaction): small enough that a worker waits milliseconds.
DEFAULT_BATCH = 500


@dataclass
class PurgeRun:
    """What a purge did so far (updated batch by batch)."""

    deleted: int = 0
    batches: int = 0
    archives: list[Path] = field(default_factory=list)
    #: Whether it stopped before the end (``keep_going`` said no).
    interrupted: bool = False
    audit_id: int | None = None


def purge_ended(
    store: StoreBase,
    cutoffs: Mapping[str, float],
    now: Callable[[], float],
    *,
    batch: int = DEFAULT_BATCH,
    archive: ArchiveWriter | None = None,
    audit: AuditEntry | None = None,
    on_batch: Callable[[PurgeRun], None] | None = None,
    keep_going: Callable[[], bool] | None = None,
    audit_empty: bool = True,
) -> PurgeRun:
    """Delete the ended instances of each workflow of ``cutoffs`` that ended before its
    cut-off (``{workflow: before}``), batch by batch.

    ``keep_going`` is asked before each batch; ``on_batch`` is told after each.
    ``audit_empty``: record ``audit`` (count 0) even when nothing was deleted.
    """
    run = PurgeRun()
    for workflow, before in cutoffs.items():
        while True:
            if keep_going is not None and not keep_going():
                run.interrupted = True
                break
            if not _one_batch(store, workflow, before, now(), batch, archive, audit, run):
                break
            if on_batch is not None:
                on_batch(run)
        if run.interrupted:
            break
    if audit is not None and (run.audit_id is not None or audit_empty):
        with store.write() as conn:
            if run.audit_id is None:
                run.audit_id = append_audit(conn, replace(audit, count=0), now())
            else:  # a clean stop (keep_going) is an end too; only a crash leaves it running
                conn.execute(
                    audit_log.update()
                    .where(audit_log.c.id == run.audit_id)
                    .values(outcome=str(AuditOutcome.DONE))
                )
    return run


def _one_batch(
    store: StoreBase,
    workflow: str,
    before: float,
    now: float,
    batch: int,
    archive: ArchiveWriter | None,
    audit: AuditEntry | None,
    run: PurgeRun,
) -> bool:
    """One batch; False when nothing is left to purge."""
    if archive is not None:
        with store.read() as conn:
            ids = ended_batch(conn, workflow, before, batch)
            records = instance_records(conn, ids)
        if not ids:
            return False
        run.archives.append(archive.write(workflow, records, now))
        with store.write() as conn:
            deleted = delete_instances(conn, ids, before)
            _count(conn, audit, deleted, now, run)
    else:
        with store.write() as conn:
            ids = ended_batch(conn, workflow, before, batch)
            if not ids:
                return False
            deleted = delete_instances(conn, ids, before)
            _count(conn, audit, deleted, now, run)
    run.deleted += deleted
    run.batches += 1
    # Fewer than asked: an instance came back to life between the read and the delete;
    # it is no longer selected, so the loop still ends.
    return True


def _count(
    conn: sa.Connection, audit: AuditEntry | None, deleted: int, now: float, run: PurgeRun
) -> None:
    if audit is None or not deleted:
        return
    if run.audit_id is None:
        running = replace(audit, count=deleted, outcome=AuditOutcome.RUNNING)
        run.audit_id = append_audit(conn, running, now)
    else:
        conn.execute(
            audit_log.update()
            .where(audit_log.c.id == run.audit_id)
            .values(count=audit_log.c.count + deleted)
        )
