"""The evaluator as a worker background service, one at a time across the cluster.

Every worker of an app with objectives runs an :class:`EvaluatorService`; a lease row in
``service_leases`` lets one of them evaluate and the others wait. The holder renews the
lease at each round; if it dies, another worker takes over once the lease expires (three
intervals).
"""

from __future__ import annotations

import logging
import uuid

from daytwo.slo._evaluator import Evaluator
from daytwo.store import acquire_lease

__all__ = ["EvaluatorService", "acquire_lease"]

log = logging.getLogger("daytwo.slo")

LEASE_NAME = "slo-evaluator"


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
