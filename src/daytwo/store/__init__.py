"""The store: schema, queries, group commit and migrations."""

from daytwo.store._database import DEFAULT_URL, open_engine, resolve_url
from daytwo.store._group_commit import DirectWriter, GroupCommitter
from daytwo.store._leases import acquire_lease, release_lease
from daytwo.store._outbox import (
    ENDED_BADLY,
    EventKind,
    OutboxEvent,
    SubscriberPosition,
    SubscriberStart,
    advance_position,
    append_event,
    ensure_subscriber,
    events_after,
    last_event_seq,
    record_delivery_failure,
    subscriber_position,
)
from daytwo.store._store import ACTIVE_STATUSES, TERMINAL_STATUSES, Store
from daytwo.store._writes import InstanceWrite, WriteOutcome

__all__ = [
    "ACTIVE_STATUSES",
    "DEFAULT_URL",
    "ENDED_BADLY",
    "TERMINAL_STATUSES",
    "DirectWriter",
    "EventKind",
    "GroupCommitter",
    "InstanceWrite",
    "OutboxEvent",
    "Store",
    "SubscriberPosition",
    "SubscriberStart",
    "WriteOutcome",
    "acquire_lease",
    "advance_position",
    "append_event",
    "ensure_subscriber",
    "events_after",
    "last_event_seq",
    "open_engine",
    "record_delivery_failure",
    "release_lease",
    "resolve_url",
    "subscriber_position",
]
