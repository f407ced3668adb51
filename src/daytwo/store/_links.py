"""Instances made from other instances: restarts and forks, with their links.

A restart or a fork is a new instance that points at the one it was made from
(``instance_links``). The new row, the history rows a fork copies, its first transition,
the link and the audit entry are written in one transaction, so a link never names an
instance that is not there and an action is never half done (a bulk job's batch that runs
again after a crash finds the new instance and its link, or neither).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypedDict, cast

import sqlalchemy as sa

from daytwo.store._audit import AuditEntry, append_audit
from daytwo.store._operator_schema import instance_links
from daytwo.store._rows import InstanceRow, typed_row, typed_rows
from daytwo.store._schema import history, instances, transitions
from daytwo.store._starts import initial_transition
from daytwo.store._store import Store

__all__ = ["InstanceLink", "LinkKind", "LinkRow", "count_links", "derive_instance", "links_of"]


class LinkKind(StrEnum):
    """How an instance came from another (``instance_links.kind``)."""

    RESTARTED_FROM = "restarted_from"
    FORKED_FROM = "forked_from"
    #: Started by the linked instance as its child workflow (``ctx.child``), at
    #: ``position``; written with the child's row (``_children.py``).
    CHILD_OF = "child_of"


class LinkRow(TypedDict):
    """An ``instance_links`` row."""

    instance_id: str
    linked_id: str
    kind: str
    position: int | None
    created_at: float


@dataclass(frozen=True, slots=True)
class InstanceLink:
    """The link a new instance gets: made from ``linked_id`` by ``kind``."""

    linked_id: str
    kind: LinkKind
    position: int | None = None


def derive_instance(
    store: Store,
    row: dict[str, Any],
    link: InstanceLink,
    *,
    copied: Sequence[Mapping[str, Any]] = (),
    audit: AuditEntry | None = None,
    now: float,
) -> tuple[bool, InstanceRow]:
    """Store ``row`` (a new, queued instance) made from ``link.linked_id``, with the
    history rows ``copied`` (already carrying the new id), its first transition, the link
    and ``audit``, in one transaction. ``(False, existing)`` when the id is taken:
    nothing is written (the caller decides whether it is the same request)."""
    with store.write() as conn:
        existing = conn.execute(
            sa.select(instances).where(instances.c.id == row["id"])
        ).mappings().first()  # fmt: skip
        if existing is not None:
            found = typed_row(existing, InstanceRow)
            assert found is not None
            return False, found
        conn.execute(instances.insert().values(**row))
        if copied:
            conn.execute(history.insert(), [dict(r) for r in copied])
        conn.execute(transitions.insert().values(**initial_transition(row)))
        conn.execute(
            instance_links.insert().values(
                instance_id=row["id"],
                linked_id=link.linked_id,
                kind=str(link.kind),
                position=link.position,
                created_at=now,
            )
        )
        if audit is not None:
            append_audit(conn, audit, now)
        store.notify_workers(conn, row["queue"])
    return True, cast(InstanceRow, dict(row))


def links_of(store: Store, instance_id: str) -> tuple[list[LinkRow], list[LinkRow]]:
    """The links of one instance: those it has (what it was made from) and those pointing
    at it (what was made from it), each oldest first."""
    link = instance_links.c
    with store.read() as conn:
        made_from = conn.execute(
            sa.select(instance_links)
            .where(link.instance_id == instance_id)
            .order_by(link.created_at, link.linked_id)
        ).mappings()
        made_from_rows = typed_rows(made_from, LinkRow)
        made_into = conn.execute(
            sa.select(instance_links)
            .where(link.linked_id == instance_id)
            .order_by(link.created_at, link.instance_id)
        ).mappings()
        return made_from_rows, typed_rows(made_into, LinkRow)


def count_links(store: Store, linked_id: str, kind: LinkKind) -> int:
    """How many instances were made from ``linked_id`` by ``kind`` (numbers default ids)."""
    link = instance_links.c
    with store.read() as conn:
        query = sa.select(sa.func.count()).where(link.linked_id == linked_id, link.kind == kind)
        return int(conn.execute(query).scalar_one())
