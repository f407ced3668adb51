"""The durable event outbox: events appended with the change they report, read in order.

A state change that other packages react to (an alert fired, an instance ended badly) is
a row of ``outbox_events`` written in the same transaction as the change, so the event
exists exactly when the change does: a crash cannot commit one without the other.
Subscribers read the events after their stored position (``outbox_subscribers``) and move
it on once they handled them; the delivery loop is ``daytwo.worker.OutboxDelivery``.

**Order.** ``seq`` orders all events totally, and a reader never skips one. The classic
outbox pitfall is a sequence number handed out by a transaction that commits *after* one
holding a higher number: a reader that already passed the higher one never sees the
lower. Here appends are serialised: on PostgreSQL the append takes a transaction-scoped
advisory lock (:data:`OUTBOX_LOCK_KEY`) *before* the row draws its number, and holds it to
commit, so numbers are drawn in commit order (PostgreSQL makes a commit visible before it
releases the transaction's locks). SQLite has one writer at a time anyway. Appending is
therefore the last thing a transaction should do, which also keeps the serialised stretch
to the commit itself; ended-badly events (rare) and alert changes are the only appenders.
Rolled-back appends leave gaps, which readers simply step over.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from daytwo.store._prepared import Prepared
from daytwo.store._schema import outbox_events, outbox_subscribers

if TYPE_CHECKING:
    from daytwo.store._writes import InstanceWrite, WriteOutcome

__all__ = [
    "ENDED_BADLY",
    "OUTBOX_LOCK_KEY",
    "EventKind",
    "HotPathAppender",
    "OutboxEvent",
    "SubscriberPosition",
    "SubscriberStart",
    "advance_position",
    "append_event",
    "ended_badly_payload",
    "ends_badly",
    "ensure_subscriber",
    "events_after",
    "last_event_seq",
    "parked_payload",
    "record_delivery_failure",
    "reports_event",
    "subscriber_position",
]

#: The PostgreSQL advisory lock that serialises appends ("outbox" in ASCII); distinct from
#: the migration lock.
OUTBOX_LOCK_KEY = 0x6F7574626F78


class EventKind(StrEnum):
    """What an outbox event reports. Later issues add ``deployment.changed``."""

    #: An SLO alert started firing; key: its dedup key, payload: the alert record.
    ALERT_FIRED = "alert.fired"
    #: A firing SLO alert resolved; key and payload as for :attr:`ALERT_FIRED`.
    ALERT_RESOLVED = "alert.resolved"
    #: An instance ended in one of :data:`ENDED_BADLY`; key: the instance id.
    INSTANCE_ENDED_BADLY = "instance.ended_badly"
    #: A step failed for good under the ``park`` policy and the instance stopped
    #: NEEDS_ATTENTION; key: the instance id, payload: workflow, version, step, attempt,
    #: error (see :func:`parked_payload`).
    INSTANCE_PARKED = "instance.parked"
    #: An instance was still active at its deadline (``timeout=``): it fails
    #: ``DeadlineExceeded`` or parks, by its failure policy; key: the instance id, payload:
    #: workflow, version, created_at, deadline_at, and the status and state it was in.
    INSTANCE_DEADLINE_EXCEEDED = "instance.deadline_exceeded"
    #: A dependency's circuit breaker opened (its window's failure or slow-call rate
    #: reached the threshold, or its half-open probes failed); key: the dependency.
    CIRCUIT_OPENED = "circuit.opened"
    #: An open circuit let its first probe call through; key: the dependency.
    CIRCUIT_HALF_OPENED = "circuit.half_opened"
    #: A circuit closed (its probes succeeded, or an operator reset it); key: the dependency.
    CIRCUIT_CLOSED = "circuit.closed"
    #: An operator forced a circuit open; key: the dependency.
    CIRCUIT_FORCED_OPEN = "circuit.forced_open"
    #: An operator forced a circuit closed; key: the dependency.
    CIRCUIT_FORCED_CLOSED = "circuit.forced_closed"
    #: A reminder of a human task's plan is due; key: the task id, payload: the task
    #: (id, instance, name, assignee, due) and the step ("1h before due").
    TASK_REMINDER = "task.reminder"
    #: A step of a task's escalation chain reassigned it; payload as for a reminder, with
    #: ``from`` (the previous assignee) and ``assignee`` (the new one).
    TASK_ESCALATED = "task.escalated"
    #: A task's ``timeout=`` passed while it was open; payload: the task.
    TASK_TIMED_OUT = "task.timed_out"
    #: Ticks of a schedule passed while no worker ticked and its catch-up policy dropped
    #: them; key: the schedule, payload: schedule, first tick, count, catch_up.
    SCHEDULE_MISSED = "schedule.missed"
    #: A schedule's tick started nothing: its previous instance was still active
    #: (``overlap=SKIP``); key: the schedule, payload: schedule, tick, previous instance.
    SCHEDULE_SKIPPED = "schedule.skipped"
    #: An incident opened (``daytwo.incidents``); key: its number, payload: the incident.
    INCIDENT_OPENED = "incident.opened"
    #: An alert fired again on an open incident's dedup key; payload: the incident and
    #: the alert.
    INCIDENT_TRIGGERED = "incident.triggered"
    #: Someone acknowledged an incident; payload: the incident.
    INCIDENT_ACKNOWLEDGED = "incident.acknowledged"
    #: An incident's assignee, severity or stage changed, or a note was added; payload:
    #: the incident and ``change``.
    INCIDENT_CHANGED = "incident.changed"
    #: An incident resolved (by a person, its source or its quiet period).
    INCIDENT_RESOLVED = "incident.resolved"
    #: A resolved incident was reopened.
    INCIDENT_REOPENED = "incident.reopened"


#: The end statuses that write an ``instance.ended_badly`` event. CANCELLED is not one of
#: them: a cancel is someone's decision, recorded with its reason, not something that went
#: wrong (a cancel whose compensation fails ends COMPENSATION_FAILED, which is).
ENDED_BADLY = frozenset(
    {"FAILED", "COMPENSATED", "COMPENSATION_FAILED", "INCOMPATIBLE", "TERMINATED"}
)


class SubscriberStart(StrEnum):
    """Where a subscriber seen for the first time starts reading."""

    #: At the oldest event kept: it gets everything (the default: nothing is lost).
    BEGINNING = "beginning"
    #: After the newest committed event: only what happens from now on (e.g. a webhook
    #: added to a database with a long past, which should not be sent old alerts).
    END = "end"


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """One event; ``seq`` is its id (unique for the database's lifetime) and its order."""

    seq: int
    kind: EventKind
    key: str
    payload: dict[str, Any]
    created_at: float

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> OutboxEvent:
        """Build from an ``outbox_events`` row."""
        return cls(
            seq=int(row["seq"]),
            kind=EventKind(row["kind"]),
            key=row["key"],
            payload=json.loads(row["payload"]),
            created_at=row["created_at"],
        )


@dataclass(frozen=True, slots=True)
class SubscriberPosition:
    """A subscriber's stored progress and the state of its current delivery."""

    name: str
    #: The seq of the last event handled (0: none yet).
    position: int
    #: Failed attempts at the event after ``position``.
    attempts: int
    #: When the next attempt is due (None: now).
    next_attempt_at: float | None
    last_error: str | None
    delivered_at: float | None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> SubscriberPosition:
        """Build from an ``outbox_subscribers`` row."""
        return cls(
            name=row["name"],
            position=int(row["position"]),
            attempts=row["attempts"],
            next_attempt_at=row["next_attempt_at"],
            last_error=row["last_error"],
            delivered_at=row["delivered_at"],
        )


def _serialise_appends(conn: sa.Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(OUTBOX_LOCK_KEY)))


def append_event(
    conn: sa.Connection, kind: EventKind, key: str, payload: Mapping[str, Any], now: float
) -> int:
    """Append an event inside ``conn``'s open write transaction; returns its seq.

    The event commits or rolls back with the transaction. On PostgreSQL the transaction
    holds the outbox lock from here to its commit (see the module docstring): append last.
    """
    _serialise_appends(conn)
    result = conn.execute(
        outbox_events.insert().values(
            kind=str(kind), key=key, payload=json.dumps(dict(payload)), created_at=now
        )
    )
    primary_key = result.inserted_primary_key
    assert primary_key is not None
    return int(primary_key[0])


def events_after(
    conn: sa.Connection,
    position: int,
    kinds: Iterable[EventKind] | None = None,
    limit: int = 100,
) -> list[OutboxEvent]:
    """The events after ``position`` (of ``kinds``, or all), oldest first, at most ``limit``."""
    query = sa.select(outbox_events).where(outbox_events.c.seq > position)
    if kinds is not None:
        query = query.where(outbox_events.c.kind.in_([str(kind) for kind in kinds]))
    rows = conn.execute(query.order_by(outbox_events.c.seq).limit(limit)).mappings()
    return [OutboxEvent.from_row(row) for row in rows]


def last_event_seq(conn: sa.Connection) -> int:
    """The seq of the newest committed event (0 when there is none)."""
    return int(conn.execute(sa.select(sa.func.max(outbox_events.c.seq))).scalar() or 0)


def subscriber_position(conn: sa.Connection, name: str) -> SubscriberPosition | None:
    """The stored progress of subscriber ``name`` (None: never seen)."""
    row = (
        conn.execute(sa.select(outbox_subscribers).where(outbox_subscribers.c.name == name))
        .mappings()
        .first()
    )
    return None if row is None else SubscriberPosition.from_row(row)


def ensure_subscriber(
    conn: sa.Connection,
    name: str,
    now: float,
    start: SubscriberStart = SubscriberStart.BEGINNING,
) -> SubscriberPosition:
    """The progress of ``name``, registered first at ``start`` if it was never seen.

    :attr:`SubscriberStart.END` is exact under concurrent appenders: every event that
    commits after this transaction's snapshot has a higher seq than the newest one it sees
    (appends are serialised), so registering in the transaction that appends (before the
    append) makes the subscriber get that transaction's events too.
    """
    known = subscriber_position(conn, name)
    if known is not None:
        return known
    position = last_event_seq(conn) if start is SubscriberStart.END else 0
    values = {"name": name, "position": position, "attempts": 0, "created_at": now,
              "updated_at": now}  # fmt: skip
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    # Two processes may register the same subscriber at once: the first one wins.
    conn.execute(dialect.insert(outbox_subscribers).values(values).on_conflict_do_nothing())
    registered = subscriber_position(conn, name)
    assert registered is not None
    return registered


def advance_position(
    conn: sa.Connection, name: str, expected: int, position: int, now: float
) -> bool:
    """Move ``name`` from ``expected`` to ``position`` and clear its delivery state.

    Compare-and-set: False (nothing changed) if the stored position is no longer
    ``expected``, so a deliverer that lost its lease can never move it backwards.
    """
    updated = conn.execute(
        outbox_subscribers.update()
        .where(outbox_subscribers.c.name == name, outbox_subscribers.c.position == expected)
        .values(
            position=position,
            attempts=0,
            next_attempt_at=None,
            last_error=None,
            delivered_at=now,
            updated_at=now,
        )
    ).rowcount
    return bool(updated)


def record_delivery_failure(
    conn: sa.Connection,
    name: str,
    position: int,
    attempts: int,
    next_attempt_at: float,
    error: str,
    now: float,
) -> bool:
    """Record that the event after ``position`` failed for the ``attempts``-th time.

    Compare-and-set on ``position`` like :func:`advance_position`.
    """
    updated = conn.execute(
        outbox_subscribers.update()
        .where(outbox_subscribers.c.name == name, outbox_subscribers.c.position == position)
        .values(
            attempts=attempts, next_attempt_at=next_attempt_at, last_error=error, updated_at=now
        )
    ).rowcount
    return bool(updated)


#: The status of a parked instance (the store's vocabulary, as the text a write binds).
_NEEDS_ATTENTION = "NEEDS_ATTENTION"


def ends_badly(values: Mapping[str, Any]) -> bool:
    """Whether an instance write's run columns end it in one of :data:`ENDED_BADLY`."""
    return values["finished_at"] is not None and values["status"] in ENDED_BADLY


def parks(values: Mapping[str, Any]) -> bool:
    """Whether an instance write's run columns park it (the ``park`` failure policy)."""
    return bool(values["status"] == _NEEDS_ATTENTION)


def reports_event(values: Mapping[str, Any]) -> bool:
    """Whether an instance write appends an outbox event: it ends badly, or it parks."""
    return ends_badly(values) or parks(values)


def parked_payload(
    instance_id: str,
    identity: tuple[str, str, float] | None,
    values: Mapping[str, Any],
    attempts: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """The payload of an ``instance.parked`` event: which step, after how many attempts,
    and the last attempt's error type and message (written by the same write)."""
    workflow, version, _ = identity if identity is not None else (None, None, None)
    error: dict[str, Any] | None = None
    if attempts:
        stored = json.loads(attempts[-1]["error"])
        error = {"type": stored.get("type"), "message": stored.get("message")}
    return {
        "instance_id": instance_id,
        "workflow": workflow,
        "version": version,
        "step": values["wait_name"],
        "attempt": values["attempt"],
        "error": error,
        "parked_at": values["updated_at"],
    }


def ended_badly_payload(
    instance_id: str, identity: tuple[str, str, float] | None, values: Mapping[str, Any]
) -> dict[str, Any]:
    """The payload of an ``instance.ended_badly`` event: who, how, when, and the error's
    type and message (the traceback stays in the instance row)."""
    workflow, version, created_at = identity if identity is not None else (None, None, None)
    error: dict[str, Any] | None = None
    if values.get("error"):
        stored = json.loads(values["error"])
        error = {"type": stored.get("type"), "message": stored.get("message")}
        compensation = stored.get("compensation_error")
        if compensation:
            error["compensation_error"] = {
                "type": compensation.get("type"),
                "message": compensation.get("message"),
            }
    return {
        "instance_id": instance_id,
        "workflow": workflow,
        "version": version,
        "status": values["status"],
        "error": error,
        "created_at": created_at,
        "finished_at": values["finished_at"],
    }


class HotPathAppender:
    """Appends events on the hot path's raw DBAPI cursor, with precompiled statements."""

    def __init__(self, dialect: Dialect) -> None:
        self._lock = (
            Prepared(sa.select(sa.func.pg_advisory_xact_lock(OUTBOX_LOCK_KEY)), dialect)
            if dialect.name == "postgresql"
            else None
        )
        self._insert = Prepared(
            outbox_events.insert().values(
                kind=sa.bindparam("kind"),
                key=sa.bindparam("key"),
                payload=sa.bindparam("payload"),
                created_at=sa.bindparam("created_at"),
            ),
            dialect,
        )

    def report_bad_ends(
        self, cursor: Any, writes: Sequence[InstanceWrite], outcomes: Sequence[WriteOutcome]
    ) -> None:
        """Append an ``instance.ended_badly`` event per applied write that ends badly, and
        an ``instance.parked`` one per write that parks its instance.

        ``WriteApplier`` calls it last before ``COMMIT``: on PostgreSQL the append holds the
        outbox lock to the commit, so taking it after every row lock cannot deadlock. A
        batch without bad ends or parks (nearly all of them) costs a check per write.
        """
        events = []
        for write, outcome in zip(writes, outcomes, strict=True):
            if not outcome.applied:
                continue
            values = write.values
            if ends_badly(values):
                payload = ended_badly_payload(write.instance_id, write.identity, values)
                events.append(
                    (EventKind.INSTANCE_ENDED_BADLY, write.instance_id, payload,
                     values["finished_at"])
                )  # fmt: skip
            elif parks(values):
                payload = parked_payload(write.instance_id, write.identity, values, write.attempts)
                events.append(
                    (EventKind.INSTANCE_PARKED, write.instance_id, payload, values["updated_at"])
                )
        if events:
            self.append(cursor, events)

    def append(
        self, cursor: Any, events: Sequence[tuple[EventKind, str, dict[str, Any], float]]
    ) -> None:
        """Append (kind, key, payload, now) events in the cursor's open transaction."""
        if self._lock is not None:
            cursor.execute(self._lock.sql, self._lock.params({}))
            cursor.fetchall()
        rows = [
            {"kind": str(kind), "key": key, "payload": json.dumps(payload), "created_at": now}
            for kind, key, payload, now in events
        ]
        cursor.executemany(self._insert.sql, self._insert.many(rows))
