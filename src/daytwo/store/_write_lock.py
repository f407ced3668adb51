"""A write lock shared by every thread and process using one SQLite file.

SQLite serializes writers itself, but a writer that finds the database locked sleeps and
retries (its busy handler) instead of being woken when the lock frees; with two busy worker
processes one of them can starve for seconds. Taking a blocking ``flock`` on a companion
file first makes waiting writers queue in the kernel and wake as soon as the lock is
released. SQLite's own locking (and ``busy_timeout``) stays in place underneath, so
processes that do not take this lock are still safe, just not queued fairly.

A process that stalls while it holds the lock (stopped with SIGSTOP, say) holds up every
writer until it continues; nothing can take the lock away from a live process. A waiter
that has waited :data:`SLOW_WAIT_SECONDS` logs which process holds the lock and whether it
is stopped, so the cause is visible.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from contextlib import AbstractContextManager, nullcontext

__all__ = ["SLOW_WAIT_SECONDS", "NoWriteLock", "WriteLock", "lock_holder", "write_lock_for"]

log = logging.getLogger("daytwo.store")

#: After this long waiting for the write lock, a waiter logs who holds it (then every
#: further interval of the same length).
SLOW_WAIT_SECONDS = 10.0


class WriteLock:
    """An exclusive lock on ``<database>.lock`` held around each write transaction."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._thread_lock = threading.Lock()
        # Kept open for the life of the lock: flock is released when the descriptor closes.
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        # When the current waiter (if any) began to wait for another process; read by the
        # watchdog thread, which is started at the first contended acquisition.
        self._waiting_since: float | None = None
        self._watchdog: threading.Thread | None = None
        self._closed = threading.Event()

    def hold(self) -> WriteLock:
        """Use as ``with lock.hold():`` to hold the lock (blocking) for the block."""
        return self

    # A plain context manager rather than @contextmanager: this wraps every commit.
    def __enter__(self) -> None:
        self._thread_lock.acquire()
        try:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._wait()
        except BaseException:
            self._thread_lock.release()
            raise

    def __exit__(self, *_: object) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def _wait(self) -> None:
        """Another process holds the lock: queue for it; the watchdog reports a long wait."""
        if self._watchdog is None:
            self._watchdog = threading.Thread(
                target=self._watch, name="daytwo-write-lock-watchdog", daemon=True
            )
            self._watchdog.start()
        # Only one thread at a time gets here (it holds _thread_lock): one slot suffices.
        self._waiting_since = time.monotonic()
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        finally:
            self._waiting_since = None

    def _watch(self) -> None:
        last: tuple[float, float] | None = None  # (that wait's start, when it was reported)
        while not self._closed.wait(SLOW_WAIT_SECONDS / 4):
            since, now = self._waiting_since, time.monotonic()
            if since is None or now - since < SLOW_WAIT_SECONDS:
                continue
            if last is not None and last[0] == since and now - last[1] < SLOW_WAIT_SECONDS:
                continue  # this wait was reported less than an interval ago
            last = (since, now)
            log.warning(
                "waited %.1f s for the SQLite write lock %s, held by %s; every writer waits "
                "until it continues or exits",
                now - since,
                self.path,
                lock_holder(self._fd) or "another process",
            )

    def close(self) -> None:
        """Release the descriptor."""
        self._closed.set()
        os.close(self._fd)


def lock_holder(fd: int) -> str | None:
    """Describe the process holding the flock on ``fd``'s file, from ``/proc/locks``.

    Returns e.g. ``"process 4242 (daytwo worker orders:app), stopped"``, or None where
    ``/proc`` does not tell (not Linux, or the lock was released meanwhile).
    """
    try:
        suffix = f":{os.fstat(fd).st_ino}"
        with open("/proc/locks") as locks:
            lines = locks.read().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 4242 fe:00:2255152 0 EOF"
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5].endswith(suffix):
            pid = fields[4]
            return f"process {pid}{_describe(pid)}"
    return None


def _describe(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            command = file.read().replace(b"\0", b" ").decode(errors="replace").strip()
        with open(f"/proc/{pid}/stat") as file:
            state = file.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""
    stopped = ", stopped (SIGSTOP or a debugger): send it SIGCONT" if state in "tT" else ""
    return f" ({command[:80]}){stopped}"


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
