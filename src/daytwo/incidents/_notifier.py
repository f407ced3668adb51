"""Telling people about incidents: an outbox subscriber per channel kind.

Every incident change appends an ``incident.*`` outbox event (``_incidents.py``). A
:class:`Notifier` for one :class:`ChannelKind` (subscriber ``incident-notify-<kind>``, so
a dead Slack does not hold e-mail back) takes each event, asks the ownership registry who
is concerned (``recipients``: the RACI of the incident's severity) and sends the kind's
message to every channel of that kind of the recipients the event is for (see
:data:`EVENT_ROLES`).

**Once per recipient.** Each message is a row of ``incident_notifications`` keyed by
(event, recipient, channel kind). A delivered row is never sent again: when some send of
an event fails, :meth:`Notifier.handle` raises after trying the others, the outbox
delivery retries the whole event after its backoff, and only the ones not delivered yet
go out again. Events of a kind are handled strictly in order, so a receiver that was down
gets every notification, in order, once it is back (at least once: a crash between the
send and its row repeats that one send, with the same idempotency key).

**The timeline** gets a ``notified`` row per delivery and a ``notification_failed`` row at
the first failed attempt of a message only (a receiver down for an hour must not flood
it); the row's attempts count tells how many tries a delivery took. Rows, errors and the
timeline name channels by :attr:`Channel.target`, never by their secrets.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import sqlalchemy as sa

from daytwo.engine import Clock
from daytwo.incidents._channels import ChannelSender, NotificationError, SmtpSettings
from daytwo.incidents._contacts import Channel, Recipient
from daytwo.incidents._errors import IncidentNotFound
from daytwo.incidents._incidents import Incidents
from daytwo.incidents._records import Incident
from daytwo.incidents._tables import incident_notifications
from daytwo.incidents._templates import Notice, Templates, incident_of_payload
from daytwo.incidents._vocabulary import ChannelKind, DeliveryStatus, RaciRole, TimelineKind
from daytwo.store import EventKind, OutboxEvent, Store, SubscriberStart, ensure_subscriber
from daytwo.worker import OutboxDelivery

__all__ = [
    "EVENT_ROLES",
    "INCIDENT_EVENTS",
    "Notifier",
    "RecipientsOf",
    "notification_deliveries",
    "notifier_name",
    "register_notifiers",
]

log = logging.getLogger("daytwo.incidents.notify")

#: Who is told about an incident (the ownership registry's RACI at its severity).
RecipientsOf = Callable[[Incident], Sequence[Recipient]]

_TOLD = frozenset({RaciRole.RESPONSIBLE, RaciRole.ACCOUNTABLE})
_TOLD_AND_INFORMED = _TOLD | {RaciRole.INFORMED}

#: Which roles each event is for: R and A hear of everything, I of an incident's opening
#: and resolution (and a reopen, which undoes one); C are consulted, not notified.
EVENT_ROLES: dict[EventKind, frozenset[RaciRole]] = {
    EventKind.INCIDENT_OPENED: _TOLD_AND_INFORMED,
    EventKind.INCIDENT_REOPENED: _TOLD_AND_INFORMED,
    EventKind.INCIDENT_RESOLVED: _TOLD_AND_INFORMED,
    EventKind.INCIDENT_TRIGGERED: _TOLD,
    EventKind.INCIDENT_ACKNOWLEDGED: _TOLD,
    EventKind.INCIDENT_CHANGED: _TOLD,
}
INCIDENT_EVENTS = frozenset(EVENT_ROLES)

#: Column widths of ``incident_notifications``.
_RECIPIENT_MAX, _TARGET_MAX = 255, 512


def notifier_name(kind: ChannelKind) -> str:
    """The outbox subscriber name of the notifier for ``kind`` (stable across releases)."""
    return f"incident-notify-{ChannelKind(kind)}"


@dataclass(frozen=True, slots=True)
class _Target:
    recipient: Recipient
    channel: Channel
    #: The ``recipient`` column: the name, plus a digest of the target when the recipient
    #: has several channels of this kind (the row's key is one per channel kind).
    key: str


@dataclass(frozen=True, slots=True)
class _Sent:
    status: DeliveryStatus
    attempts: int


class Notifier:
    """The outbox subscriber that sends ``kind``'s notifications (module docstring)."""

    kinds = INCIDENT_EVENTS

    def __init__(
        self,
        kind: ChannelKind,
        incidents: Incidents,
        recipients: RecipientsOf,
        *,
        sender: ChannelSender | None = None,
        templates: Templates | None = None,
    ) -> None:
        self.kind = ChannelKind(kind)
        self.name = notifier_name(self.kind)
        self.incidents = incidents
        self.recipients = recipients
        self.sender = sender or ChannelSender()
        self.templates = templates or Templates()

    def handle(self, event: OutboxEvent) -> None:
        """Send this event's messages not delivered yet; raise if any failed."""
        try:
            incident = incident_of_payload(event.payload)
        except (KeyError, ValueError, TypeError, AttributeError):
            # An event that is not an incident would block every later one forever.
            log.warning("outbox event %d (%s) carries no incident; nobody notified",
                        event.seq, event.kind)  # fmt: skip
            return
        targets = self._targets(event, incident)
        if not targets:
            return
        sent = self._sent(event.seq, [target.key for target in targets])
        failures: list[str] = []
        for target in targets:
            prior = sent.get(target.key)
            if prior is not None and prior.status is DeliveryStatus.DELIVERED:
                continue  # delivered before a crash or a failure of another recipient
            error = self._send(event, incident, target)
            if error is False:
                continue  # the template sends nothing on this channel for this event
            attempts = (prior.attempts if prior is not None else 0) + 1
            self._record(event, incident, target, attempts, error)
            if error is not None:
                failures.append(error)
        if failures:
            raise NotificationError(
                f"{len(failures)} {self.kind} notification(s) of incident #{incident.id} "
                f"(event {event.seq}) not delivered, retried later; first: {failures[0]}"
            )

    # -- one event --------------------------------------------------------------------------

    def _targets(self, event: OutboxEvent, incident: Incident) -> list[_Target]:
        roles = EVENT_ROLES.get(event.kind, _TOLD)
        targets: list[_Target] = []
        # One message per address and event: a team reached through its members' channels
        # and a member who is also accountable share an inbox (the stronger role, first
        # in the list, is the one recorded).
        seen: set[Channel] = set()
        for recipient in self.recipients(incident):
            if recipient.role not in roles:
                continue
            channels = [c for c in recipient.channels if c.kind is self.kind and c not in seen]
            seen.update(channels)
            for channel in channels:
                key = recipient.name
                if len(channels) > 1:
                    key += "#" + hashlib.sha256(channel.target.encode()).hexdigest()[:8]
                targets.append(_Target(recipient, channel, key[:_RECIPIENT_MAX]))
        return targets

    def _sent(self, seq: int, keys: Sequence[str]) -> dict[str, _Sent]:
        table = incident_notifications.c
        query = sa.select(table.recipient, table.status, table.attempts).where(
            table.event_seq == seq, table.channel == str(self.kind), table.recipient.in_(keys)
        )
        with self.incidents.store.read() as conn:
            rows = conn.execute(query).all()
        return {row.recipient: _Sent(DeliveryStatus(row.status), int(row.attempts)) for row in rows}

    def _send(
        self, event: OutboxEvent, incident: Incident, target: _Target
    ) -> str | Literal[False] | None:
        """None when delivered, the (safe) error otherwise, False when the template sends
        nothing for this event."""
        payload = event.payload
        notice = Notice(
            event_seq=event.seq,
            event=event.kind,
            incident=incident,
            change=str(payload.get("change", "")),
            actor=str(payload.get("actor", "daytwo")),
            text=str(payload.get("text", "")),
            at=event.created_at,
            recipient=target.recipient,
            url=self.templates.incident_url(incident),
        )
        try:
            message = self.templates.render(self.kind, notice)
            if message is None:
                return False
            key = f"daytwo-{event.seq}-{quote(target.key, safe='')}"
            self.sender.send(target.channel, message, key)
        except NotificationError as exc:
            return str(exc)
        except Exception as exc:  # a template's bug: retried like a refusing receiver
            log.exception("the %s template failed for incident #%d", self.kind, incident.id)
            return f"{target.channel.target}: {type(exc).__name__} rendering the message"
        return None

    def _record(
        self,
        event: OutboxEvent,
        incident: Incident,
        target: _Target,
        attempts: int,
        error: str | None,
    ) -> None:
        now = self.incidents.clock.now()
        status = DeliveryStatus.DELIVERED if error is None else DeliveryStatus.FAILED
        channel = target.channel
        values: dict[str, Any] = {
            "target": channel.target[:_TARGET_MAX],
            "status": str(status),
            "attempts": attempts,
            "error": error,
            "delivered_at": now if error is None else None,
        }
        table = incident_notifications
        with self.incidents.store.write() as conn:
            updated = conn.execute(
                table.update()
                .where(
                    table.c.event_seq == event.seq,
                    table.c.recipient == target.key,
                    table.c.channel == str(self.kind),
                )
                .values(values)
            ).rowcount
            if not updated:
                conn.execute(
                    table.insert().values(
                        incident_id=incident.id,
                        event_seq=event.seq,
                        recipient=target.key,
                        channel=str(self.kind),
                        created_at=now,
                        **values,
                    )
                )
        if error is not None and attempts > 1:
            return  # only the first failure goes into the timeline
        recipient = target.recipient
        who = f"{recipient.name} ({recipient.role}) by {self.kind} at {channel.target}"
        data: dict[str, Any] = {
            "recipient": recipient.name,
            "role": str(recipient.role),
            "channel": str(self.kind),
            "target": channel.target,
            "event": event.seq,
            "attempts": attempts,
            "status": str(status),
        }
        if error is None:
            kind = TimelineKind.NOTIFIED
            text = f"notified {who}" + (f" after {attempts} attempts" if attempts > 1 else "")
        else:
            kind = TimelineKind.NOTIFICATION_FAILED
            text = f"notifying {who} failed, retrying: {error}"
            data["error"] = error
        try:
            self.incidents.record_timeline(incident.id, kind, text, data)
        except IncidentNotFound:
            log.warning("incident #%d is gone; its notification is not in a timeline",
                        incident.id)  # fmt: skip


def register_notifiers(conn: sa.Connection, now: float) -> None:
    """Register every notifier's outbox position at the end of the outbox, if new.

    Call it in the transaction that appends an incident event, before the append (or once
    when the extension is set up): a notifier registered only at its first delivery round
    would miss the incidents opened before any worker ran.
    """
    for kind in ChannelKind:
        ensure_subscriber(conn, notifier_name(kind), now, SubscriberStart.END)


def notification_deliveries(
    store: Store,
    clock: Clock,
    incidents: Incidents,
    recipients: RecipientsOf,
    smtp: SmtpSettings | None = None,
    templates: Templates | None = None,
    *,
    interval: float = 1.0,
    timeout: float = 10.0,
    base_backoff: float = 1.0,
    max_backoff: float = 300.0,
) -> list[OutboxDelivery]:
    """One outbox delivery service per channel kind, each with its own :class:`Notifier`.

    They start at the END of the outbox: a database with a long past that gets the
    incidents extension (or a notifier of a new kind) does not page people about old
    incidents. See :func:`register_notifiers` for registering them before the first event.
    """
    templates = templates or Templates()
    return [
        OutboxDelivery(
            store,
            clock,
            Notifier(
                kind,
                incidents,
                recipients,
                sender=ChannelSender(smtp, timeout=timeout),
                templates=templates,
            ),
            interval=interval,
            start=SubscriberStart.END,
            base_backoff=base_backoff,
            max_backoff=max_backoff,
        )
        for kind in ChannelKind
    ]
