"""The instance-deadline service: meets the deadlines of instances still active after it.

An instance started with a timeout (``@app.workflow(timeout=...)``, a start's
``timeout=``) stores ``deadline_at``. Every round, the one holder of the cluster-wide lease
``instance-deadlines`` reads the live instances whose deadline has passed (an index over
live instances with a deadline only) and meets each in a transaction of its own
(``InstanceDeadlines.meet``): a compare-and-set marks it like a cancel does, makes a
waiting instance runnable and appends its ``instance.deadline_exceeded`` event, so a
deadline is met once however many rounds or processes try, and one that fell due while
no worker ran is met by the first round after. The instance's next run (or, for a
running one, its next durable point) fails it or parks it by its failure policy
(``engine/_deadline.py``).
"""

from __future__ import annotations

import logging
import threading
import uuid

from daytwo.engine import Clock
from daytwo.store import InstanceDeadlines as DeadlineQueries
from daytwo.store import Store
from daytwo.worker._service_lease import ServiceLease

__all__ = ["InstanceDeadlines"]

log = logging.getLogger("daytwo.deadlines")

#: The service's lease in ``service_leases``: one process per cluster meets deadlines.
LEASE_NAME = "instance-deadlines"


class InstanceDeadlines:
    """A background service meeting the instances' due deadlines (see the module).

    ``interval``: seconds of real time between rounds; ``batch``: instances read per query.
    """

    name = "instance-deadlines"

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        interval: float = 1.0,
        lease_seconds: float = 30.0,
        batch: int = 100,
    ) -> None:
        if interval <= 0 or lease_seconds <= 0 or batch < 1:
            raise ValueError("interval and lease_seconds must be positive and batch at least 1")
        self.queries = DeadlineQueries(store)
        self.store = store
        self.clock = clock
        self.interval = interval
        self.lease_seconds = lease_seconds
        self.batch = batch
        self.owner = f"deadlines-{uuid.uuid4().hex[:12]}"
        #: Deadlines met by this object (for tests and logs).
        self.met = 0
        self.lease = ServiceLease(store, clock, LEASE_NAME, self.owner, lease_seconds)
        self._round = threading.Lock()

    def run_once(self) -> None:
        """One round: meet every deadline due now."""
        self.meet_due()

    def meet_due(self) -> int:
        """Meet every deadline due now (one round); returns how many this round met."""
        with self._round:
            if not self.lease.held():
                return 0
            met = 0
            while True:
                now = self.clock.now()
                due = self.queries.due(now, self.batch)
                progress = sum(self.queries.meet(instance_id, now) for instance_id in due)
                met += progress
                # A full batch may have more behind it; a pass that met nothing ends the round.
                if len(due) < self.batch or not progress or not self.lease.held():
                    break
            self.met += met
            if met:
                log.info("%d instance(s) exceeded their deadline", met)
            return met

    def close(self) -> None:
        """Give the lease up, so another worker takes over without waiting for it."""
        with self._round:
            self.lease.release()
