"""The store: schema, queries, group commit and migrations."""

from daytwo.store._database import DEFAULT_URL, open_engine, resolve_url
from daytwo.store._group_commit import DirectWriter, GroupCommitter
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
    "DirectWriter",
    "GroupCommitter",
    "HistoryKind",
    "HistoryOutcome",
    "InstanceStatus",
    "InstanceWrite",
    "Store",
    "TaskStatus",
    "WaitKind",
    "WriteOutcome",
    "open_engine",
    "resolve_url",
]
