"""The store: schema, queries, group commit and migrations.

The public surface for operations packages: :data:`metadata` (declare your tables on it,
in your package's ``_tables.py``), :class:`Store` (its ``read()``/``write()`` transactions
run your package's queries), the engine's tables to read (never write) and the vocabulary.
"""

from daytwo.store._aggregates import CYCLE_TIME_BOUNDS
from daytwo.store._archives import ARCHIVE_SUFFIX, ArchiveWriter, read_archive
from daytwo.store._audit import (
    AuditEntry,
    AuditFilter,
    AuditOutcome,
    AuditRow,
    AuditTarget,
    OperatorAction,
    append_audit,
)
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
from daytwo.store._purge import DEFAULT_BATCH, PurgeRun, purge_ended
from daytwo.store._retention import (
    PURGED_WITH_INSTANCE,
    compact_slo_buckets,
    count_ended,
    ended_workflows,
    prune_audit,
    prune_outbox,
    purge_with_instance,
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
    "ARCHIVE_SUFFIX",
    "CYCLE_TIME_BOUNDS",
    "DATABASE_ENV",
    "DEFAULT_BATCH",
    "DEFAULT_URL",
    "ENDED_BADLY",
    "PURGED_WITH_INSTANCE",
    "RUN_COLUMNS",
    "SETTINGS_CHANNEL",
    "TERMINAL_STATUSES",
    "WAKE_CHANNEL",
    "ArchiveWriter",
    "AttemptRow",
    "AuditEntry",
    "AuditFilter",
    "AuditOutcome",
    "AuditRow",
    "AuditTarget",
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
    "PurgeRun",
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
    "compact_slo_buckets",
    "count_ended",
    "coverage",
    "display_url",
    "ended_workflows",
    "ensure_subscriber",
    "events_after",
    "history",
    "human_tasks",
    "instances",
    "last_event_seq",
    "metadata",
    "open_engine",
    "prune_audit",
    "prune_outbox",
    "purge_ended",
    "purge_with_instance",
    "read_archive",
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
    "workers",
]
