"""Dependency slots: a cluster-wide concurrency limit on calls to one external dependency.

Before a step with ``dependency=`` runs, its instance takes a slot (a row of
``dependency_slots``) under its lease token, and gives it back when the attempt ends. A
slot counts only while its instance still runs under that token, so a crashed worker's
slots free themselves when its leases expire or are taken over. Both operations are fenced
by the token like every other write of a run: a stale run (its lease taken over) neither
frees nor replaces the slot of the run that took over, which would admit one call more
than the limit.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from daytwo.store._schema import dependency_limits, dependency_slots, instances
from daytwo.store._store import Store
from daytwo.store._vocabulary import InstanceStatus

__all__ = ["DependencySlots", "slot_is_live"]


class DependencySlots:
    """Taking and giving back slots of limited dependencies."""

    def __init__(self, store: Store, now: Callable[[], float]) -> None:
        self.store = store
        self._now = now
        self._insert = postgresql.insert if store.dialect == "postgresql" else sqlite.insert

    def acquire(
        self, dependency: str, limit: int, instance_id: str, token: int, branch: int = 0
    ) -> bool:
        """Take one of ``limit`` slots of ``dependency`` for the lease ``token``.

        False when all are taken, and for a run that no longer holds the lease (its next
        write then finds the lease lost). ``branch``: 0 for the instance's step call, a
        fan-out branch's position for that branch's own slot.
        """
        now = self._now()
        with self.store.write() as conn:
            if self.store.dialect == "postgresql":
                # Serialize slot takers of one dependency, as SQLite's write lock does.
                conn.execute(
                    sa.select(dependency_limits.c.name)
                    .where(dependency_limits.c.name == dependency)
                    .with_for_update()
                )
            held = conn.execute(
                sa.select(dependency_slots.c.lease_token).where(
                    dependency_slots.c.dependency == dependency,
                    dependency_slots.c.instance_id == instance_id,
                    dependency_slots.c.branch == branch,
                )
            ).first()
            if held is not None and held[0] == token:
                return True
            if not _holds_lease(conn, instance_id, token):
                return False  # a stale run: its slot would replace the live run's
            in_flight = conn.execute(
                sa.select(sa.func.count())
                .select_from(dependency_slots.join(instances, slot_is_live(now)))
                .where(dependency_slots.c.dependency == dependency)
            ).scalar_one()
            if in_flight >= limit:
                return False
            values = {"lease_token": token, "acquired_at": now}
            statement = self._insert(dependency_slots).values(
                dependency=dependency, instance_id=instance_id, branch=branch, **values
            )
            conn.execute(
                statement.on_conflict_do_update(
                    index_elements=["dependency", "instance_id", "branch"], set_=values
                )
            )
            return True

    def release(self, dependency: str, instance_id: str, token: int, branch: int = 0) -> None:
        """Give back the slot taken under lease ``token`` (the call ended, whatever its
        outcome); a slot taken under another token is left alone."""
        with self.store.write() as conn:
            conn.execute(
                dependency_slots.delete().where(
                    dependency_slots.c.dependency == dependency,
                    dependency_slots.c.instance_id == instance_id,
                    dependency_slots.c.branch == branch,
                    dependency_slots.c.lease_token == token,
                )
            )

    def in_flight(self) -> dict[str, int]:
        """Per dependency: the slots that count now."""
        now = self._now()
        with self.store.read() as conn:
            return {
                name: count
                for name, count in conn.execute(
                    sa.select(dependency_slots.c.dependency, sa.func.count())
                    .select_from(dependency_slots.join(instances, slot_is_live(now)))
                    .group_by(dependency_slots.c.dependency)
                ).tuples()
            }


def _holds_lease(conn: sa.Connection, instance_id: str, token: int) -> bool:
    current = conn.execute(
        sa.select(instances.c.lease_token).where(
            instances.c.id == instance_id, instances.c.status == InstanceStatus.RUNNING
        )
    ).scalar()
    return bool(current == token)


def slot_is_live(now: float) -> sa.ColumnElement[bool]:
    # A slot counts while its instance still runs under the lease it was taken with: a
    # crashed worker's slots stop counting once its lease expires or is taken over.
    return sa.and_(
        instances.c.id == dependency_slots.c.instance_id,
        instances.c.lease_token == dependency_slots.c.lease_token,
        instances.c.status == InstanceStatus.RUNNING,
        instances.c.run_at > now,
    )
