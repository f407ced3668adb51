"""The store: schema, queries, group commit and migrations."""

from daytwo.store._database import DEFAULT_URL, display_url, open_engine, resolve_url
from daytwo.store._group_commit import DirectWriter, GroupCommitter
from daytwo.store._store import ACTIVE_STATUSES, TERMINAL_STATUSES, Store
from daytwo.store._writes import InstanceWrite, WriteOutcome

__all__ = [
    "ACTIVE_STATUSES",
    "DEFAULT_URL",
    "TERMINAL_STATUSES",
    "DirectWriter",
    "GroupCommitter",
    "InstanceWrite",
    "Store",
    "WriteOutcome",
    "display_url",
    "open_engine",
    "resolve_url",
]
