"""Durable alert delivery: alert changes go through the outbox to webhooks, with retries.

:meth:`Evaluator.evaluate` appends an ``alert.fired`` or ``alert.resolved`` event (payload:
the alert record) in the transaction that writes the ``slo_alerts`` row. A sink that can
take an event id (:class:`DurableAlertSink`, e.g. :class:`~daytwo.slo.WebhookSink`) is an
outbox subscriber: an :class:`~daytwo.worker.OutboxDelivery` hands it every alert event in
order, at least once, retrying a failed POST with backoff, and the event id travels with
the alert so that the receiver can drop repeats. The evaluator runs one delivery round
right after its commit (an alert goes out at once when the receiver is up); ``daytwo
worker`` also runs the deliveries as background services, which retry when it is down.

Other sinks (:class:`~daytwo.slo.LogSink`, custom ones) still get the alerts after the
commit, best effort: a log line is not a hand-off to another system.

A durable sink starts at the end of the outbox (:attr:`SubscriberStart.END`): a webhook
added to a database with a long past is not sent its old alerts. The evaluator registers
its durable sinks in the transaction that appends, before the append, so that nothing it
appends is missed.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import sqlalchemy as sa

from daytwo.engine import Clock
from daytwo.slo._alerts import Alert, AlertSink
from daytwo.slo._vocabulary import AlertStatus
from daytwo.store import (
    EventKind,
    OutboxEvent,
    Store,
    SubscriberStart,
    append_event,
    ensure_subscriber,
)
from daytwo.worker import OutboxDelivery

__all__ = [
    "ALERT_KINDS",
    "AlertSubscriber",
    "DurableAlertSink",
    "after_commit_sinks",
    "alert_deliveries",
    "alert_of",
    "deliver_now",
    "record_alert_events",
]

log = logging.getLogger("daytwo.slo.alerts")

#: The outbox event kinds of alert changes.
ALERT_KINDS = frozenset({EventKind.ALERT_FIRED, EventKind.ALERT_RESOLVED})


@runtime_checkable
class DurableAlertSink(Protocol):
    """A sink delivered to through the outbox: it has a stable subscriber name and takes
    the event id along with the alert (to pass on for deduplication)."""

    @property
    def subscriber_name(self) -> str:
        """The name of its outbox position (stable across restarts)."""
        ...

    def deliver(self, alert: Alert, *, event_id: int | None = None) -> None:
        """Hand the alert on; raise to have it retried."""
        ...


class AlertSubscriber:
    """The outbox subscriber that hands alert events to a durable sink."""

    kinds = ALERT_KINDS

    def __init__(self, sink: DurableAlertSink) -> None:
        self.sink = sink
        self.name = sink.subscriber_name

    def handle(self, event: OutboxEvent) -> None:
        """Deliver the alert as it was when the event was written."""
        self.sink.deliver(alert_of(event), event_id=event.seq)


def alert_of(event: OutboxEvent) -> Alert:
    """The alert record an ``alert.*`` event carries.

    Fields the record gained after the event was written are None, and fields it lost are
    dropped: an old event must never block its subscribers.
    """
    known = {field.name for field in dataclasses.fields(Alert)}
    values: dict[str, Any] = {name: event.payload.get(name) for name in known}
    return Alert(**values)


def after_commit_sinks(sinks: Sequence[AlertSink]) -> list[AlertSink]:
    """The sinks that get alerts after the commit, best effort (not through the outbox)."""
    return [sink for sink in sinks if not isinstance(sink, DurableAlertSink)]


def alert_deliveries(
    store: Store, clock: Clock, sinks: Sequence[AlertSink], *, interval: float = 1.0
) -> list[OutboxDelivery]:
    """An outbox delivery service per durable sink among ``sinks``."""
    return [
        OutboxDelivery(
            store, clock, AlertSubscriber(sink), interval=interval, start=SubscriberStart.END
        )
        for sink in sinks
        if isinstance(sink, DurableAlertSink)
    ]


def record_alert_events(
    conn: sa.Connection,
    alerts: Sequence[Alert],
    now: float,
    deliveries: Sequence[OutboxDelivery] = (),
) -> None:
    """Append an event per changed alert in ``conn``'s transaction (the one that wrote the
    rows), registering the deliveries' subscribers first. Call it last in the transaction.
    """
    if not alerts:
        return
    for delivery in deliveries:
        ensure_subscriber(conn, delivery.subscriber.name, now, delivery.start)
    for alert in alerts:
        kind = (
            EventKind.ALERT_FIRED
            if alert.status == AlertStatus.FIRING
            else EventKind.ALERT_RESOLVED
        )
        append_event(conn, kind, alert.dedup_key, alert.to_json(), now)


def deliver_now(deliveries: Sequence[OutboxDelivery]) -> None:
    """Run one delivery round of each; a failure is logged (the events stay in the outbox)."""
    for delivery in deliveries:
        try:
            delivery.run_once()
        except Exception:
            log.exception("alert delivery %s failed; the worker retries it", delivery.name)
