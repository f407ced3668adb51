"""The ground floor of the store: one database's engine, its transactions and notifications.

:class:`StoreBase` opens write and read transactions (a SQLite writer takes daytwo's
write lock first, so writers of all processes queue fairly) and sends the PostgreSQL
notifications that wake workers. The queries are built on it by layer: signals, cancels
(``_inbox.py``) and the human-task inbox (``_tasks.py``), then instances, history, claims and leases
(``_store.py``, :class:`~daytwo.store.Store`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from daytwo.store._starts import StartCommits
from daytwo.store._vocabulary import ACTIVE_STATUSES, TERMINAL_STATUSES
from daytwo.store._wake_sockets import WakeReceiver, WakeSender, wake_directory
from daytwo.store._write_lock import write_lock_for
from daytwo.store._writes import WriteApplier

__all__ = [
    "ACTIVE_STATUSES",
    "SETTINGS_CHANNEL",
    "TERMINAL_STATUSES",
    "WAKE_CHANNEL",
    "StoreBase",
]

#: The PostgreSQL notification channel on which workers hear about new work.
WAKE_CHANNEL = "daytwo_wake"
#: The channel on which flow-control changes (queues, pauses, dependency limits) are announced.
SETTINGS_CHANNEL = "daytwo_settings"
#: Set on a SQLite connection whose transaction should wake the workers once it commits.
_WAKE_PENDING = "daytwo_wake_pending"


class StoreBase:
    """One database: its engine, write lock, hot-path write applier and transactions."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._lock = write_lock_for(self.dialect, engine.url.database)
        self._applier = WriteApplier(engine, self._lock, wake_channel=WAKE_CHANNEL)
        #: SQLite: the wake-up datagrams to workers of other processes (None elsewhere).
        self.wakeups: WakeSender | None = None
        database = engine.url.database
        if self.dialect == "sqlite" and database:
            self.wakeups = WakeSender(wake_directory(database))
            self._applier.after_commit = self.wakeups.send
        self._starts = StartCommits(
            engine,
            self._lock,
            wake_channel=WAKE_CHANNEL,
            after_commit=None if self.wakeups is None else self.wakeups.send,
        )

    def close(self) -> None:
        """Release the connections."""
        self._starts.close()
        self._applier.close()
        if self.wakeups is not None:
            self.wakeups.close()
        self.engine.dispose()
        self._lock.close()

    # -- transactions ---------------------------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """A write transaction (SQLite: holds the write lock from its first statement)."""
        with self._lock.hold(), self.engine.connect() as conn:
            conn = conn.execution_options(daytwo_write=True)
            conn.info.pop(_WAKE_PENDING, None)
            with conn.begin():
                yield conn
            wake = conn.info.pop(_WAKE_PENDING, False)
        # After the commit and outside the write lock: the woken worker can write at once.
        if wake and self.wakeups is not None:
            self.wakeups.send()

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        """A read transaction with a consistent snapshot."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def notify_workers(self, conn: sa.Connection, queue: str) -> None:
        """Wake idle workers (PostgreSQL: NOTIFY, delivered when ``conn``'s transaction commits).

        SQLite has no notifications: once ``conn``'s transaction (opened by :meth:`write`)
        commits, a datagram goes to each worker's wake-up socket (``_wake_sockets.py``).
        """
        if self.dialect == "postgresql":
            conn.execute(sa.select(sa.func.pg_notify(WAKE_CHANNEL, queue)))
        else:
            conn.info[_WAKE_PENDING] = True

    def wake_receiver(self, on_wake: Callable[[], None], *, name: str) -> WakeReceiver | None:
        """SQLite: a socket on which a worker hears that another process stored work for it
        (``on_wake`` per wake-up once started); None where NOTIFY does that (PostgreSQL)."""
        if self.wakeups is None:
            return None
        return WakeReceiver(self.wakeups.directory, on_wake, name=name)

    def notify_settings_changed(self, conn: sa.Connection) -> None:
        """Tell listening workers that flow-control settings changed (PostgreSQL: NOTIFY).

        Delivered when ``conn``'s transaction commits; SQLite workers re-read every second.
        """
        if self.dialect == "postgresql":
            conn.execute(sa.select(sa.func.pg_notify(SETTINGS_CHANNEL, "")))

    # -- instances ------------------------------------------------------------------------
