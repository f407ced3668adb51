"""The evaluator as a worker background service, one at a time across the cluster.

Every worker of an app with objectives runs an :class:`EvaluatorService`; a lease row in
``service_leases`` lets one of them evaluate and the others wait. The holder renews the
lease at each round; if it dies, another worker takes over once the lease expires (three
intervals).
"""

from __future__ import annotations

import logging
import uuid

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from daytwo.slo._evaluator import Evaluator
from daytwo.store import Store
from daytwo.store._schema import service_leases

__all__ = ["EvaluatorService", "acquire_lease"]

log = logging.getLogger("daytwo.slo")

LEASE_NAME = "slo-evaluator"


def acquire_lease(store: Store, name: str, owner: str, now: float, seconds: float) -> bool:
    """Take or renew the lease ``name`` for ``owner``; False if someone else holds it."""
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


class EvaluatorService:
    """Runs :meth:`Evaluator.evaluate` every ``interval`` seconds while holding the lease."""

    name = "slo-evaluator"

    def __init__(self, evaluator: Evaluator, *, interval: float = 60.0) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be positive (got {interval})")
        self.evaluator = evaluator
        self.interval = interval
        self.owner = f"evaluator-{uuid.uuid4().hex[:12]}"
        self.evaluations = 0

    def run_once(self) -> None:
        """Evaluate if this process holds (or can take) the cluster-wide lease."""
        now = self.evaluator.clock.now()
        if not acquire_lease(self.evaluator.store, LEASE_NAME, self.owner, now, 3 * self.interval):
            return
        self.evaluator.evaluate()
        self.evaluations += 1
