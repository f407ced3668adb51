"""The store: schema, queries, group commit and migrations.

The public surface for operations packages: :data:`metadata` (declare your tables on it,
in your package's ``_tables.py``), :class:`Store` (its ``read()``/``write()`` transactions
run your package's queries), the engine's tables to read (never write) and the vocabulary.
"""

from daytwo.store._actions import WAKEABLE_WAITS, InstanceActions
from daytwo.store._aggregates import CYCLE_TIME_BOUNDS
from daytwo.store._audit import (
    AuditEntry,
    AuditFilter,
    AuditOutcome,
    AuditRow,
    AuditTarget,
    OperatorAction,
    append_audit,
    recording_refusals,
    resolve_actor,
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
from daytwo.store._explaining import DependencyFacts, InstanceFacts, PauseFacts, instance_facts
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
from daytwo.store._terminate import terminate as terminate_instance
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
    in_flight_by_worker,
    recent_registrations,
    release_workers,
    running_workers_on,
    worker_registrations,
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
    "WAKEABLE_WAITS",
    "WAKE_CHANNEL",
    "AttemptRow",
    "AuditEntry",
    "AuditFilter",
    "AuditOutcome",
    "AuditRow",
    "AuditTarget",
    "Catalog",
    "Coverage",
    "DependencyFacts",
    "DirectWriter",
    "EventKind",
    "FlowControl",
    "GroupCommitter",
    "HistoryKind",
    "HistoryOutcome",
    "HistoryRow",
    "HumanTaskRow",
    "InstanceActions",
    "InstanceFacts",
    "InstanceLookups",
    "InstanceRow",
    "InstanceStatus",
    "InstanceWrite",
    "InvalidDatabaseUrl",
    "NoDatabase",
    "OperatorAction",
    "OutboxEvent",
    "OutcomeRow",
    "PauseFacts",
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
    "coverage",
    "display_url",
    "ensure_subscriber",
    "events_after",
    "history",
    "human_tasks",
    "in_flight_by_worker",
    "instance_facts",
    "instances",
    "last_event_seq",
    "metadata",
    "open_engine",
    "recent_registrations",
    "record_delivery_failure",
    "recording_refusals",
    "release_lease",
    "release_workers",
    "resolve_actor",
    "resolve_url",
    "running_workers_on",
    "signals",
    "slo_buckets",
    "step_attempts",
    "subscriber_position",
    "terminate_instance",
    "transitions",
    "worker_registrations",
    "workers",
]
