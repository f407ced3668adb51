"""The store: schema, queries, group commit and migrations.

The public surface for operations packages: :data:`metadata` (declare your tables on it,
in your package's ``_tables.py``), :class:`Store` (its ``read()``/``write()`` transactions
run your package's queries), the engine's tables to read (never write) and the vocabulary.
"""

from daytwo.store._database import DEFAULT_URL, display_url, open_engine, resolve_url
from daytwo.store._group_commit import DirectWriter, GroupCommitter
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
    "TERMINAL_STATUSES",
    "AttemptRow",
    "DirectWriter",
    "GroupCommitter",
    "HistoryKind",
    "HistoryOutcome",
    "HistoryRow",
    "HumanTaskRow",
    "InstanceRow",
    "InstanceStatus",
    "InstanceWrite",
    "SignalRow",
    "Store",
    "TaskStatus",
    "TransitionRow",
    "WaitKind",
    "WriteOutcome",
    "display_url",
    "history",
    "human_tasks",
    "instances",
    "metadata",
    "open_engine",
    "resolve_url",
    "signals",
    "slo_buckets",
    "step_attempts",
    "transitions",
    "workers",
]
