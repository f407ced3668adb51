"""The cluster-wide lease a background service holds while it runs its rounds.

Services that must run in one process per cluster (task deadlines, instance deadlines,
each outbox subscriber's delivery) hold a row of ``service_leases``. A holder renews it
once half of it has passed, so a round asks the database only every half lease; a process
that dies lets it expire, and the next worker's round takes over.
"""

from __future__ import annotations

from daytwo.engine import Clock
from daytwo.store import Store, acquire_lease, release_lease

__all__ = ["ServiceLease"]


class ServiceLease:
    """The lease ``name`` held by ``owner`` for ``seconds`` at a time."""

    def __init__(self, store: Store, clock: Clock, name: str, owner: str, seconds: float) -> None:
        self.store = store
        self.clock = clock
        self.name = name
        self.owner = owner
        self.seconds = seconds
        self._until: float | None = None

    def held(self) -> bool:
        """Whether this process holds the lease now (taking or renewing it if it can)."""
        now = self.clock.now()
        until = self._until
        if until is not None and now < until - self.seconds / 2:
            return True
        if acquire_lease(self.store, self.name, self.owner, now, self.seconds):
            self._until = now + self.seconds
            return True
        self._until = None
        return False

    def release(self) -> None:
        """Give the lease up (if held), so another worker takes over without waiting."""
        if self._until is not None:
            self._until = None
            release_lease(self.store, self.name, self.owner)
