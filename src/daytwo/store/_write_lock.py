"""A write lock shared by every thread and process using one SQLite file.

SQLite serializes writers itself, but a writer that finds the database locked sleeps and
retries (its busy handler) instead of being woken when the lock frees; with two busy worker
processes one of them can starve for seconds. Taking a blocking ``flock`` on a companion
file first makes waiting writers queue in the kernel and wake as soon as the lock is
released. SQLite's own locking (and ``busy_timeout``) stays in place underneath, so
processes that do not take this lock are still safe, just not queued fairly.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from contextlib import AbstractContextManager, nullcontext

__all__ = ["NoWriteLock", "WriteLock", "write_lock_for"]

log = logging.getLogger("daytwo.store")


class WriteLock:
    """An exclusive lock on ``<database>.lock`` held around each write transaction."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._thread_lock = threading.Lock()
        # Kept open for the life of the lock: flock is released when the descriptor closes.
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)

    def hold(self) -> WriteLock:
        """Use as ``with lock.hold():`` to hold the lock (blocking) for the block."""
        return self

    # A plain context manager rather than @contextmanager: this wraps every commit.
    def __enter__(self) -> None:
        self._thread_lock.acquire()
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._thread_lock.release()
            raise

    def __exit__(self, *_: object) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def close(self) -> None:
        """Release the descriptor."""
        os.close(self._fd)


class NoWriteLock:
    """Stands in for backends that queue writers fairly themselves."""

    def hold(self) -> AbstractContextManager[None]:
        return nullcontext()

    def close(self) -> None:
        return None


def write_lock_for(dialect: str, database: str | None) -> WriteLock | NoWriteLock:
    """The write lock for a database: a file lock for SQLite, nothing elsewhere."""
    if dialect == "sqlite" and database:
        path = os.path.abspath(os.path.expanduser(database)) + ".lock"
        try:
            return WriteLock(path)
        except OSError as exc:  # e.g. a read-only directory: SQLite's own locking remains
            log.warning("cannot create %s (%s); writers will not queue fairly", path, exc)
    return NoWriteLock()
