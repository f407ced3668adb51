"""The store: schema, queries, group commit and migrations.

The public surface for operations packages: :data:`metadata` (declare your tables on it,
in your package's ``_tables.py``), :class:`Store` (its ``read()``/``write()`` transactions
run your package's queries), the engine's tables to read (never write) and the vocabulary.
"""

from daytwo.store._database import DEFAULT_URL, display_url, open_engine, resolve_url
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
from daytwo.store._rows import (
    AttemptRow,
    HistoryRow,
    HumanTaskRow,
    InstanceRow,
    SignalRow,
    TransitionRow,
)
from daytwo.store._schema import (
    history,
    human_tasks,
    instances,
    metadata,
    signals,
    slo_buckets,
    step_attempts,
    transitions,
    workers,
)
from daytwo.store._store import Store
from daytwo.store._vocabulary import (
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    HistoryKind,
    HistoryOutcome,
    InstanceStatus,
    TaskStatus,
    WaitKind,
)
from daytwo.store._writes import InstanceWrite, WriteOutcome

__all__ = [
    "ACTIVE_STATUSES",
    "DEFAULT_URL",
    "ENDED_BADLY",
    "TERMINAL_STATUSES",
    "AttemptRow",
    "DirectWriter",
    "EventKind",
    "GroupCommitter",
    "HistoryKind",
    "HistoryOutcome",
    "HistoryRow",
    "HumanTaskRow",
    "InstanceRow",
    "InstanceStatus",
    "InstanceWrite",
    "OutboxEvent",
    "SignalRow",
    "Store",
    "SubscriberPosition",
    "SubscriberStart",
    "TaskStatus",
    "TransitionRow",
    "WaitKind",
    "WriteOutcome",
    "acquire_lease",
    "advance_position",
    "append_event",
    "display_url",
    "ensure_subscriber",
    "events_after",
    "history",
    "human_tasks",
    "instances",
    "last_event_seq",
    "metadata",
    "open_engine",
    "record_delivery_failure",
    "release_lease",
    "resolve_url",
    "signals",
    "slo_buckets",
    "step_attempts",
    "subscriber_position",
    "transitions",
    "workers",
]
