"""Named leases for cluster-wide singletons: one holder at a time per name.

A service that must run in one process per database (the SLO evaluator, the delivery of
each outbox subscriber) takes the lease of its name at each round and does its work only
while it holds it. A holder that dies stops renewing; another process takes the lease
over once it has expired. Times come from the caller's clock.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from daytwo.store._base import StoreBase
from daytwo.store._schema import service_leases

__all__ = ["acquire_lease", "release_lease"]


def acquire_lease(store: StoreBase, name: str, owner: str, now: float, seconds: float) -> bool:
    """Take or renew the lease ``name`` for ``owner``; False if someone else holds it."""
    # Most calls are a non-holder's round finding the lease held: a read says so without
    # the write lock (on SQLite one writer at a time: every worker's services asking each
    # second would queue behind the hot path). The writes below still decide races.
    with store.read() as conn:
        holder = conn.execute(
            sa.select(service_leases.c.owner, service_leases.c.expires_at).where(
                service_leases.c.name == name
            )
        ).first()
    if holder is not None and holder.owner != owner and holder.expires_at >= now:
        return False
    with store.write() as conn:
        renewed = conn.execute(
            service_leases.update()
            .where(
                service_leases.c.name == name,
                sa.or_(service_leases.c.owner == owner, service_leases.c.expires_at < now),
            )
            .values(owner=owner, expires_at=now + seconds)
        ).rowcount
    if renewed:
        return True
    try:
        with store.write() as conn:
            conn.execute(
                service_leases.insert().values(name=name, owner=owner, expires_at=now + seconds)
            )
    except IntegrityError:
        return False  # held by another live owner
    return True


def release_lease(store: StoreBase, name: str, owner: str) -> None:
    """Give the lease ``name`` up if ``owner`` holds it (another process may take it now)."""
    with store.write() as conn:
        conn.execute(
            service_leases.delete().where(
                service_leases.c.name == name, service_leases.c.owner == owner
            )
        )
