"""The quiet-period sweep: incidents from sources that never send a resolve resolve on
their own once no signal came for their quiet period (one worker of the cluster at a
time, through a service lease)."""

from __future__ import annotations

import logging
import uuid

from daytwo.incidents._incidents import Incidents
from daytwo.worker import ServiceLease

__all__ = ["QuietSweep"]

log = logging.getLogger("daytwo.incidents")


class QuietSweep:
    """A background service: :meth:`Incidents.resolve_quiet` every ``interval`` seconds."""

    name = "incidents-quiet-sweep"

    def __init__(self, incidents: Incidents, interval: float = 30.0) -> None:
        self.incidents = incidents
        self.interval = interval
        owner = f"sweep-{uuid.uuid4().hex[:12]}"
        self.lease = ServiceLease(incidents.store, incidents.clock, self.name, owner, interval * 3)

    def run_once(self) -> None:
        if not self.lease.held():
            return
        for number in self.incidents.resolve_quiet():
            log.info("incident #%d resolved after its quiet period", number)

    def close(self) -> None:
        self.lease.release()
