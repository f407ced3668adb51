"""The store: schema, queries, group commit and migrations.

The public surface for operations packages: :data:`metadata` (declare your tables on it,
in your package's ``_tables.py``), :class:`Store` (its ``read()``/``write()`` transactions
run your package's queries), the engine's tables to read (never write) and the vocabulary.
"""

from daytwo.store._aggregates import CYCLE_TIME_BOUNDS
from daytwo.store._audit import (
    AuditEntry,
    AuditFilter,
    AuditOutcome,
    AuditRow,
    AuditTarget,
    OperatorAction,
    append_audit,
)
from daytwo.store._breaker_admin import BreakerControl, BreakerStatus
from daytwo.store._breaker_policy import (
    BreakerPolicy,
    WindowCounts,
    classify,
    count_window,
    verdict,
)
from daytwo.store._breakers import Admission, BreakerView, circuit_state
from daytwo.store._claims import QueueLimits
from daytwo.store._database import (
    DATABASE_ENV,
    DEFAULT_URL,
    InvalidDatabaseUrl,
    NoDatabase,
    absolute_url,
    display_url,
    open_engine,
    resolve_url,
)
from daytwo.store._flow import FlowControl
from daytwo.store._group_commit import DirectWriter, GroupCommitter, WriterClosed
from daytwo.store._leases import acquire_lease, release_lease
from daytwo.store._lookups import InstanceLookups, OutcomeRow
from daytwo.store._names import Catalog
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
    audit_log,
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
from daytwo.store._starts import StartOutcome
from daytwo.store._store import SETTINGS_CHANNEL, WAKE_CHANNEL, Store
from daytwo.store._vocabulary import (
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    BreakerState,
    CallOutcome,
    HistoryKind,
    HistoryOutcome,
    InstanceStatus,
    TaskStatus,
    WaitKind,
)
from daytwo.store._wake_sockets import WakeReceiver
from daytwo.store._workers import (
    Coverage,
    ServedWorkflow,
    WorkerRegistration,
    active_groups,
    coverage,
    recent_registrations,
    release_workers,
    running_workers_on,
)
from daytwo.store._writes import RUN_COLUMNS, InstanceWrite, WriteOutcome

__all__ = [
    "ACTIVE_STATUSES",
    "CYCLE_TIME_BOUNDS",
    "DATABASE_ENV",
    "DEFAULT_URL",
    "ENDED_BADLY",
    "RUN_COLUMNS",
    "SETTINGS_CHANNEL",
    "TERMINAL_STATUSES",
    "WAKE_CHANNEL",
    "Admission",
    "AttemptRow",
    "AuditEntry",
    "AuditFilter",
    "AuditOutcome",
    "AuditRow",
    "AuditTarget",
    "BreakerControl",
    "BreakerPolicy",
    "BreakerState",
    "BreakerStatus",
    "BreakerView",
    "CallOutcome",
    "Catalog",
    "Coverage",
    "DirectWriter",
    "EventKind",
    "FlowControl",
    "GroupCommitter",
    "HistoryKind",
    "HistoryOutcome",
    "HistoryRow",
    "HumanTaskRow",
    "InstanceLookups",
    "InstanceRow",
    "InstanceStatus",
    "InstanceWrite",
    "InvalidDatabaseUrl",
    "NoDatabase",
    "OperatorAction",
    "OutboxEvent",
    "OutcomeRow",
    "QueueLimits",
    "ServedWorkflow",
    "SignalRow",
    "StartOutcome",
    "Store",
    "SubscriberPosition",
    "SubscriberStart",
    "TaskStatus",
    "TransitionRow",
    "WaitKind",
    "WakeReceiver",
    "WindowCounts",
    "WorkerRegistration",
    "WriteOutcome",
    "WriterClosed",
    "absolute_url",
    "acquire_lease",
    "active_groups",
    "advance_position",
    "append_audit",
    "append_event",
    "audit_log",
    "circuit_state",
    "classify",
    "count_window",
    "coverage",
    "display_url",
    "ensure_subscriber",
    "events_after",
    "history",
    "human_tasks",
    "instances",
    "last_event_seq",
    "metadata",
    "open_engine",
    "recent_registrations",
    "record_delivery_failure",
    "release_lease",
    "release_workers",
    "resolve_url",
    "running_workers_on",
    "signals",
    "slo_buckets",
    "step_attempts",
    "subscriber_position",
    "transitions",
    "verdict",
    "workers",
]
