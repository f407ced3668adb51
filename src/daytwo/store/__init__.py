"""The store: schema, queries, group commit and migrations."""

from daytwo.store._database import DEFAULT_URL, open_engine, resolve_url
from daytwo.store._group_commit import DirectWriter, GroupCommitter
from daytwo.store._rows import (
    AttemptRow,
    HistoryRow,
    HumanTaskRow,
    InstanceRow,
    SignalRow,
    TransitionRow,
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
    "open_engine",
    "resolve_url",
]
