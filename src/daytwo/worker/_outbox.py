"""Delivering outbox events to a subscriber: in order, at least once, with durable retries.

A package reacts to what happened elsewhere (an alert fired, an instance ended badly) by
giving an :class:`OutboxSubscriber` to an :class:`OutboxDelivery`, a worker background
service. Each round it reads the events after the subscriber's stored position, calls
:meth:`OutboxSubscriber.handle` on each in order and moves the position past it once the
call returned. A crash between the two hands the same event over again, so ``handle``
must tolerate repeats (events carry a unique ``seq`` to deduplicate on).

When ``handle`` raises, the position stays, and the failure, the attempt count and the
time of the next attempt are stored in the subscriber's row: the same event is retried
after :func:`delivery_backoff` (doubling from ``base_backoff``, capped at ``max_backoff``,
five minutes by default), by whichever process delivers then. Nothing after it is handed
over before it succeeds, so a receiver that was down gets every event once back, in order.

One process at a time delivers for a subscriber across the cluster: the round runs only
while it holds the lease ``outbox:<name>`` (``service_leases``), renewed when half of it
is gone; position updates are compare-and-set, so even a deliverer that outlived its
lease cannot move a position backwards.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Collection
from typing import Protocol, runtime_checkable

from daytwo.engine import Clock
from daytwo.store import (
    EventKind,
    OutboxEvent,
    Store,
    SubscriberPosition,
    SubscriberStart,
    advance_position,
    ensure_subscriber,
    events_after,
    record_delivery_failure,
    subscriber_position,
)
from daytwo.worker._service_lease import ServiceLease

__all__ = ["OutboxDelivery", "OutboxSubscriber", "delivery_backoff"]

log = logging.getLogger("daytwo.outbox")

#: Longest subscriber name (its lease name adds a prefix within ``service_leases.name``).
MAX_NAME = 100
#: How much of a failure's message is stored.
MAX_ERROR = 500


@runtime_checkable
class OutboxSubscriber(Protocol):
    """Something that reacts to outbox events.

    ``name`` identifies its stored position: keep it stable across releases (a new name is
    a new subscriber). ``kinds`` are the event kinds it wants (None: all of them).
    :meth:`handle` may be called more than once for one event (after a crash); it raises
    to have the event retried later.
    """

    @property
    def name(self) -> str:
        """Identifies the subscriber's stored position."""
        ...

    @property
    def kinds(self) -> Collection[EventKind] | None:
        """The event kinds it wants (None: all)."""
        ...

    def handle(self, event: OutboxEvent) -> None:
        """React to one event; raise to retry it after a backoff."""
        ...


def delivery_backoff(attempts: int, base: float = 1.0, cap: float = 300.0) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt at one event."""
    return float(min(cap, base * 2.0 ** max(0, attempts - 1)))


class OutboxDelivery:
    """A background service that hands a subscriber its events (see the module docstring).

    ``start`` says where a subscriber never seen before starts (it is registered at the
    first round). ``interval`` is how often a worker runs a round.
    """

    def __init__(
        self,
        store: Store,
        clock: Clock,
        subscriber: OutboxSubscriber,
        *,
        interval: float = 1.0,
        start: SubscriberStart = SubscriberStart.BEGINNING,
        lease_seconds: float = 30.0,
        batch: int = 100,
        base_backoff: float = 1.0,
        max_backoff: float = 300.0,
    ) -> None:
        name = subscriber.name
        if not name or len(name) > MAX_NAME:
            raise ValueError(
                f"an outbox subscriber needs a name of 1 to {MAX_NAME} characters (got {name!r})"
            )
        if interval <= 0 or lease_seconds <= 0 or batch < 1:
            raise ValueError("interval and lease_seconds must be positive and batch at least 1")
        self.store = store
        self.clock = clock
        self.subscriber = subscriber
        self.name = f"outbox:{name}"
        self.interval = interval
        self.start = start
        self.lease_seconds = lease_seconds
        self.batch = batch
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.owner = f"outbox-{uuid.uuid4().hex[:12]}"
        #: Events handed over by this object (for tests and logs).
        self.delivered = 0
        self.lease = ServiceLease(store, clock, self.name, self.owner, lease_seconds)
        self._registered = False
        # A round may be started by the worker's service thread and by whoever delivers
        # right after a commit (the SLO evaluator): one at a time, the other skips.
        self._round = threading.Lock()

    def run_once(self) -> None:
        """One round: deliver what is due, until caught up, a failure or the lease ends."""
        if not self._round.acquire(blocking=False):
            return
        try:
            self._deliver_due()
        finally:
            self._round.release()

    def close(self) -> None:
        """Give the lease up, so another worker takes over without waiting for it to expire."""
        with self._round:
            self.lease.release()

    def state(self) -> SubscriberPosition | None:
        """The subscriber's stored position and delivery state (None: never registered)."""
        with self.store.read() as conn:
            return subscriber_position(conn, self.subscriber.name)

    # -- the round ------------------------------------------------------------------------

    def _load(self) -> SubscriberPosition:
        name = self.subscriber.name
        if not self._registered:
            with self.store.write() as conn:
                position = ensure_subscriber(conn, name, self.clock.now(), self.start)
            self._registered = True
            return position
        state = self.state()
        if state is None:  # deleted by an operator: register again
            self._registered = False
            return self._load()
        return state

    def _deliver_due(self) -> None:
        if not self.lease.held():
            return
        state = self._load()
        if state.next_attempt_at is not None and self.clock.now() < state.next_attempt_at:
            return
        kinds = self.subscriber.kinds
        position, attempts = state.position, state.attempts
        while True:
            with self.store.read() as conn:
                events = events_after(conn, position, kinds, self.batch)
            for event in events:
                if not self.lease.held():
                    return
                try:
                    self.subscriber.handle(event)
                except Exception as exc:
                    self._failed(event, position, attempts + 1, exc)
                    return
                with self.store.write() as conn:
                    moved = advance_position(
                        conn, self.subscriber.name, position, event.seq, self.clock.now()
                    )
                if not moved:
                    return  # another deliverer moved it (this one lost its lease meanwhile)
                position, attempts = event.seq, 0
                self.delivered += 1
            if len(events) < self.batch:
                return

    def _failed(self, event: OutboxEvent, position: int, attempts: int, exc: Exception) -> None:
        now = self.clock.now()
        delay = delivery_backoff(attempts, self.base_backoff, self.max_backoff)
        error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR]
        with self.store.write() as conn:
            record_delivery_failure(
                conn, self.subscriber.name, position, attempts, now + delay, error, now
            )
        log.warning(
            "outbox event %d (%s) not delivered to %s (attempt %d): %s; retrying in %.0f s",
            event.seq, event.kind, self.subscriber.name, attempts, error, delay,
        )  # fmt: skip
