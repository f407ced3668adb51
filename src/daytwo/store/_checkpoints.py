"""SQLite: WAL checkpoints in a thread of their own, off the commit path of the hot writers.

SQLite checkpoints the write-ahead log itself, inside the commit that grows it past 1,000
pages: that commit then copies the log into the database file and flushes it, ten
milliseconds and more on this kind of disk, while the writer still holds everything
waiting behind it (a worker's group commit, a producer's starts). With durable points of
many instances per commit that was one commit in fifty or so: the p99 of every instance's
start-to-finish time. The hot writers (the worker's group commit, starts) therefore turn
automatic checkpoints off on their connections (``wal_autocheckpoint = 0``), and a
:class:`Checkpointer` thread runs a PASSIVE checkpoint every :data:`INTERVAL` seconds on a
connection of its own. A PASSIVE checkpoint takes no write lock: writers go on appending
while it copies what readers no longer need. Other connections keep SQLite's automatic
checkpoints, so a process without a hot writer still bounds the log.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy.engine import Engine

__all__ = ["INTERVAL", "Checkpointer", "without_automatic_checkpoints"]

log = logging.getLogger("daytwo.store")

#: Seconds between two checkpoints (a busy worker writes a few hundred pages meanwhile).
INTERVAL = 0.1


def without_automatic_checkpoints(connection: Any) -> None:
    """Turn SQLite's automatic checkpoints off on ``connection`` (a DBAPI connection)."""
    cursor = connection.cursor()
    try:
        cursor.execute("PRAGMA wal_autocheckpoint = 0")
    finally:
        cursor.close()


class Checkpointer:
    """A daemon thread checkpointing one SQLite database, started by the first hot writer."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Checkpoints run (for tests).
        self.checkpoints = 0

    def start(self) -> None:
        """Start the thread (once)."""
        with self._lock:
            if self._thread is not None or self._stop.is_set():
                return
            self._thread = threading.Thread(
                target=self._loop, name="daytwo-checkpoint", daemon=True
            )
            self._thread.start()

    def _loop(self) -> None:
        connection = self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            while not self._stop.wait(INTERVAL):
                try:
                    cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    cursor.fetchall()
                    self.checkpoints += 1
                except Exception as exc:  # e.g. the file went away: try again next time
                    log.debug("checkpoint failed: %s", exc)
            cursor.close()
        finally:
            connection.close()

    def close(self) -> None:
        """Stop the thread; SQLite checkpoints what is left when its last connection closes."""
        self._stop.set()
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(timeout=5)
