"""Claim statements: lease due instances of a worker's queues and workflows.

Built once per shape and shared by the plain claim (:meth:`Store.claim`) and the
group-committed claim of a worker (which rides along in the same transaction as other
instances' writes, so a claim costs no commit of its own). Queue limits (global concurrency,
rate) are read and enforced inside that same transaction, see :class:`ClaimRequest`.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Update

from daytwo.store._prepared import Prepared
from daytwo.store._schema import READY, RUNNING, TIMED, instances, pauses, queue_starts, queues
from daytwo.store._vocabulary import InstanceStatus

__all__ = [
    "UNLIMITED",
    "ClaimRequest",
    "LimitStatements",
    "QueueLimits",
    "claim_one_statement",
    "claim_params",
    "claim_statement",
    "limit_statements",
    "of_pairs",
    "starts_not_paused",
]


@dataclass(frozen=True, slots=True)
class QueueLimits:
    """The cluster-wide limits of one queue (None: unlimited)."""

    concurrency: int | None = None
    rate_limit: int | None = None
    rate_period: float | None = None

    @property
    def limited(self) -> bool:
        """Whether claims of this queue must count what runs or started."""
        return self.concurrency is not None or self.rate_limit is not None


#: The limits of a queue that has none.
UNLIMITED = QueueLimits()


def _lease(candidates: sa.Select[Any]) -> Update:
    # The lease token is incremented, which fences off the previous holder's writes.
    return (
        instances.update()
        .where(instances.c.id.in_(candidates.scalar_subquery()))
        .values(
            status=InstanceStatus.RUNNING,
            lease_owner=sa.bindparam("_owner"),
            lease_token=instances.c.lease_token + 1,
            run_at=sa.bindparam("_expiry"),
            updated_at=sa.bindparam("_now"),
        )
        .returning(*instances.c)
    )


def of_pairs(
    workflows: Sequence[tuple[str, str]],
    paused: frozenset[str] = frozenset(),
    binds: Sequence[tuple[Any, Any]] | None = None,
) -> sa.ColumnElement[bool]:
    """Instances of these (workflow, version) pairs; of a workflow in ``paused``, only those
    that started already (a pause holds back starts, not instances under way).

    ``binds`` stands in for the names and versions in the statement (a prepared claim);
    without it they are plain values.
    """
    values = workflows if binds is None else binds
    return sa.or_(
        *(
            sa.and_(
                instances.c.workflow == name_value,
                instances.c.version == version_value,
                *((instances.c.history_size > 0,) if name in paused else ()),
            )
            for (name, _), (name_value, version_value) in zip(workflows, values, strict=True)
        )
    )


def starts_not_paused() -> sa.ColumnElement[bool]:
    """Instances under way, or new ones of a workflow whose starts are not paused now.

    Read in the claim's own transaction, so a pause holds back every claim that begins
    after it commits, whatever the worker's settings snapshot says (the snapshot's
    ``paused`` set stays, for :meth:`Store.next_due` to leave held instances out). It
    costs one primary-key probe of the small ``pauses`` table per unstarted candidate.
    """
    return sa.or_(
        instances.c.history_size > 0,
        ~sa.exists().where(pauses.c.workflow == instances.c.workflow, pauses.c.step == ""),
    )


def claim_statement(
    queue: str,
    workflows: Sequence[tuple[str, str]],
    *,
    dialect: str,
    paused: frozenset[str] = frozenset(),
) -> Update:
    """``UPDATE ... RETURNING`` that leases up to ``:_limit`` due instances of ``queue``.

    Due means ``run_at <= :_now``: runnable (taken by priority, lower first, then FIFO),
    a waiting instance whose timer fired, or a running instance whose lease expired because
    its worker died. Only the given (workflow, version) pairs are taken, and instances of a
    workflow in ``paused`` are not started (those that already began go on).
    """
    lock = dialect == "postgresql"
    # The same bind objects everywhere: each carries its value into the compiled statement.
    names: list[sa.BindParameter[str]] = [
        sa.bindparam(f"_wf{i}", value=name) for i, (name, _) in enumerate(workflows)
    ]
    versions: list[sa.BindParameter[str]] = [
        sa.bindparam(f"_ver{i}", value=ver) for i, (_, ver) in enumerate(workflows)
    ]
    binds = list(zip(names, versions, strict=True))
    queue_name: sa.BindParameter[str] = sa.bindparam("_queue", value=queue)

    def due(*conditions: Any, order: Sequence[Any]) -> sa.Select[Any]:
        return (
            sa.select(instances.c.id, instances.c.priority, instances.c.run_at)
            .where(*conditions, instances.c.run_at <= sa.bindparam("_now"))
            .order_by(*order)
            .limit(sa.bindparam("_limit", type_=sa.Integer))
        )

    # One index range per branch, each cut at the limit, then the best of those few rows:
    # O(branches x limit) whatever the backlog. (One query over an OR of everything makes
    # SQLite sort every due row before applying the limit.)
    ready = due(
        sa.text(READY),
        instances.c.queue == queue_name,
        of_pairs(workflows, paused, binds),
        starts_not_paused(),
        order=(instances.c.priority, instances.c.run_at),
    )
    # Expired leases (their worker died) of the queue, through ix_instances_running: a
    # running instance is in no other claim index, so that starting, heartbeating and
    # finishing it maintain one index fewer. Expired leases are few; the pair filter is
    # checked on each.
    expired = due(
        sa.text(RUNNING),
        instances.c.queue == queue_name,
        of_pairs(workflows, binds=binds),
        order=(instances.c.run_at,),
    )
    # Fired timers, per workflow version through ix_instances_due.
    timers = [
        due(
            instances.c.workflow == names[i],
            instances.c.version == versions[i],
            sa.text(TIMED),
            instances.c.queue == queue_name,
            order=(instances.c.run_at,),
        )
        for i in range(len(workflows))
    ]
    branches = [ready, expired, *timers]
    if lock:
        # PostgreSQL runs claims concurrently: without row locks two workers could pick the
        # same due row, and the second UPDATE would re-check only the id, not that it is
        # still due. SKIP LOCKED makes each worker take rows nobody else is claiming.
        branches = [branch.with_for_update(skip_locked=True) for branch in branches]
    merged = sa.union_all(*(sa.select(branch.subquery()) for branch in branches)).subquery()
    return _lease(
        sa.select(merged.c.id)
        .order_by(merged.c.priority, merged.c.run_at)
        .limit(sa.bindparam("_limit", type_=sa.Integer))
    )


def claim_one_statement(*, dialect: str) -> Update:
    """Lease the instance ``:_iid`` if it is due (an inline run taking its instance back)."""
    due = sa.select(instances.c.id).where(
        instances.c.id == sa.bindparam("_iid"), instances.c.run_at <= sa.bindparam("_now")
    )
    if dialect == "postgresql":
        due = due.with_for_update(skip_locked=True)
    return _lease(due)


@dataclass(frozen=True)
class LimitStatements:
    """The statements that enforce a queue's limits inside a claim transaction, compiled."""

    lock: Prepared
    running: Prepared
    prune: Prepared
    started: Prepared
    record_start: Prepared


def limit_statements(dialect: Dialect) -> LimitStatements:
    """Statements over ``:_queue`` (and ``:_since`` for the rate window)."""
    name: sa.BindParameter[str] = sa.bindparam("_queue")
    return LimitStatements(
        # Serializes claims of one limited queue across workers (PostgreSQL; SQLite's write
        # lock does that already), so that two claims cannot both see a free slot.
        lock=Prepared(
            sa.select(queues.c.name).where(queues.c.name == name).with_for_update(), dialect
        ),
        # A lease that expired belongs to a dead or stalled worker: its slot is free (the
        # instance is about to be taken over, which must not wait for a slot itself).
        running=Prepared(
            sa.select(sa.func.count())
            .select_from(instances)
            .where(
                instances.c.queue == name,
                sa.text(RUNNING),
                instances.c.run_at > sa.bindparam("_now"),
            ),
            dialect,
        ),
        prune=Prepared(
            queue_starts.delete().where(
                queue_starts.c.queue == name, queue_starts.c.at <= sa.bindparam("_since")
            ),
            dialect,
        ),
        started=Prepared(
            sa.select(sa.func.count())
            .select_from(queue_starts)
            .where(queue_starts.c.queue == name, queue_starts.c.at > sa.bindparam("_since")),
            dialect,
        ),
        record_start=Prepared(
            queue_starts.insert().values(
                queue=name, at=sa.bindparam("_now"), instance_id=sa.bindparam("_iid")
            ),
            dialect,
        ),
    )


def claim_params(
    owner: str, *, now: float, lease_seconds: float, limit: int, instance_id: str | None = None
) -> dict[str, Any]:
    """Parameters of :func:`claim_statement` and :func:`claim_one_statement`."""
    params: dict[str, Any] = {
        "_owner": owner,
        "_now": now,
        "_expiry": now + lease_seconds,
        "_limit": limit,
    }
    if instance_id is not None:
        params["_iid"] = instance_id
    return params


@dataclass
class ClaimRequest:
    """A claim of one queue to run inside the next commit; the future gets the claimed rows.

    ``limits`` are the queue's cluster-wide limits as the worker last read them; the claim
    re-counts running instances and recent starts in its own transaction, so the limits
    hold across workers.
    """

    #: None: claim just the instance ``params["_iid"]`` (see :func:`claim_one_statement`).
    queue: str | None
    workflows: tuple[tuple[str, str], ...]
    params: dict[str, Any]
    paused: frozenset[str] = frozenset()
    limits: QueueLimits = field(default_factory=lambda: UNLIMITED)
    future: Future[list[dict[str, Any]]] = field(default_factory=Future)
