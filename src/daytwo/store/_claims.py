"""The claim statement: lease due instances of a worker's workflows.

Built once per set of (workflow, version) pairs and shared by the plain claim
(:meth:`Store.claim`) and the group-committed claim of a worker (which rides along in the
same transaction as other instances' writes, so a claim costs no commit of its own).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import Update

from daytwo.store._schema import instances

__all__ = ["ClaimRequest", "claim_params", "claim_statement"]


def claim_statement(
    workflows: Sequence[tuple[str, str]], *, dialect: str, one: bool = False
) -> Update:
    """``UPDATE ... RETURNING`` that leases up to ``:_limit`` due instances.

    Due means ``run_at <= :_now``: runnable, a waiting instance whose timer fired, or a
    running instance whose lease expired because its worker died. The lease token is
    incremented, which fences off the previous holder's writes. With ``one``, only the
    instance ``:_iid`` is considered.
    """
    if dialect == "postgresql":
        candidates = _locked_candidates(workflows, one=one)
    else:
        candidates = _candidates(workflows, one=one)
    return (
        instances.update()
        .where(instances.c.id.in_(candidates.scalar_subquery()))
        .values(
            status="RUNNING",
            lease_owner=sa.bindparam("_owner"),
            lease_token=instances.c.lease_token + 1,
            run_at=sa.bindparam("_expiry"),
            updated_at=sa.bindparam("_now"),
        )
        .returning(*instances.c)
    )


def _locked_candidates(workflows: Sequence[tuple[str, str]], *, one: bool) -> sa.Select[Any]:
    # PostgreSQL runs claims concurrently: without row locks two workers could pick the same
    # due row, and the second UPDATE would re-check only the id, not that it is still due.
    # SKIP LOCKED makes each worker take rows nobody else is claiming, without waiting.
    pairs = sa.tuple_(instances.c.workflow, instances.c.version).in_(
        [
            sa.tuple_(sa.bindparam(f"_wf{i}", value=name), sa.bindparam(f"_ver{i}", value=version))
            for i, (name, version) in enumerate(workflows)
        ]
    )
    due = (
        sa.select(instances.c.id)
        .where(pairs, instances.c.run_at <= sa.bindparam("_now"))
        .order_by(instances.c.run_at)
        .limit(sa.bindparam("_limit", type_=sa.Integer))
        .with_for_update(skip_locked=True)
    )
    if one:
        due = due.where(instances.c.id == sa.bindparam("_iid"))
    return due


def _candidates(workflows: Sequence[tuple[str, str]], *, one: bool) -> sa.Select[Any]:
    # One index range (workflow, version, run_at <= now) per pair, each cut at the limit,
    # then the earliest of those few rows: O(pairs x limit), whatever the backlog. (An OR
    # of the pairs makes SQLite sort every due row before applying the limit.)
    branches = []
    for i, (name, version) in enumerate(workflows):
        due = (
            sa.select(instances.c.id, instances.c.run_at)
            .where(
                instances.c.workflow == sa.bindparam(f"_wf{i}", value=name),
                instances.c.version == sa.bindparam(f"_ver{i}", value=version),
                instances.c.run_at <= sa.bindparam("_now"),
            )
            .order_by(instances.c.run_at)
            .limit(sa.bindparam("_limit", type_=sa.Integer))
        )
        if one:
            due = due.where(instances.c.id == sa.bindparam("_iid"))
        branches.append(sa.select(due.subquery()))
    merged = sa.union_all(*branches).subquery()
    return (
        sa.select(merged.c.id)
        .order_by(merged.c.run_at)
        .limit(sa.bindparam("_limit", type_=sa.Integer))
    )


def claim_params(
    owner: str, *, now: float, lease_seconds: float, limit: int, instance_id: str | None = None
) -> dict[str, Any]:
    """Parameters of :func:`claim_statement`."""
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
    """A claim to run inside the next group commit; the future gets the claimed rows."""

    workflows: tuple[tuple[str, str], ...]
    params: dict[str, Any]
    future: Future[list[dict[str, Any]]] = field(default_factory=Future)
