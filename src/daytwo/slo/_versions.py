"""Definition versions: a changed objective gets a new version; old ones stay as they were."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from daytwo.slo._definitions import Objective
from daytwo.slo._tables import slo_definitions
from daytwo.store import Store

__all__ = ["definition_history", "record_versions"]


def record_versions(store: Store, objectives: Sequence[Objective], now: float) -> dict[str, int]:
    """The version number of each objective's current definition, stored if new."""
    if not objectives:
        return {}
    names = [o.name for o in objectives]
    latest = (
        sa.select(slo_definitions.c.name, sa.func.max(slo_definitions.c.version))
        .where(slo_definitions.c.name.in_(names))
        .group_by(slo_definitions.c.name)
    )
    with store.read() as conn:
        newest = {name: version for name, version in conn.execute(latest)}
        digests = {
            (row.name, row.version): row.digest
            for row in conn.execute(
                sa.select(
                    slo_definitions.c.name, slo_definitions.c.version, slo_definitions.c.digest
                ).where(slo_definitions.c.name.in_(names))
            )
        }
    versions: dict[str, int] = {}
    new_rows = []
    for objective in objectives:
        current = newest.get(objective.name, 0)
        digest = objective.digest()
        if current and digests[(objective.name, current)] == digest:
            versions[objective.name] = current
            continue
        versions[objective.name] = current + 1
        new_rows.append(
            {
                "name": objective.name,
                "version": current + 1,
                "digest": digest,
                "spec": json.dumps(objective.spec(), sort_keys=True),
                "created_at": now,
            }
        )
    if new_rows:
        with store.write() as conn:
            # A concurrent evaluator may have stored the same version: keep theirs.
            for row in new_rows:
                exists = conn.execute(
                    sa.select(slo_definitions.c.digest).where(
                        slo_definitions.c.name == row["name"],
                        slo_definitions.c.version == row["version"],
                    )
                ).scalar()
                if exists is None:
                    conn.execute(slo_definitions.insert(), row)
    return versions


def definition_history(store: Store, name: str) -> list[dict[str, Any]]:
    """Every stored version of the objective ``name``, oldest first."""
    query = (
        sa.select(slo_definitions)
        .where(slo_definitions.c.name == name)
        .order_by(slo_definitions.c.version)
    )
    with store.read() as conn:
        return [
            {
                "version": row.version,
                "digest": row.digest,
                "created_at": row.created_at,
                "spec": json.loads(row.spec),
            }
            for row in conn.execute(query)
        ]
