"""A write lock shared by every thread and process using one SQLite file.

SQLite serializes writers itself, but a writer that finds the database locked sleeps and
retries (its busy handler) instead of being woken when the lock frees; with two busy worker
processes one of them can starve for seconds. Taking a blocking ``flock`` on a companion
file first makes waiting writers queue in the kernel and wake as soon as the lock is
released. SQLite's own locking (and ``busy_timeout``) stays in place underneath, so
processes that do not take this lock are still safe, just not queued fairly.

A process that stalls while it holds the lock (stopped with SIGSTOP, say) holds up every
writer until it continues; nothing can take the lock away from a live process. A writer
that has waited :data:`SLOW_WAIT_SECONDS` logs which process holds it up and whether it is
stopped, so the cause is visible. That is not always the holder of this file lock: a
process that does not take it (the ``sqlite3`` shell in ``BEGIN IMMEDIATE``, another
program) can hold SQLite's own write lock, for which the file lock's holder then waits
too. In WAL mode SQLite's write lock is a POSIX lock on byte 120 of the ``-shm`` file
(``WALINDEX_LOCK_OFFSET`` + ``WAL_WRITE_LOCK``), which ``/proc/locks`` shows with its pid:
the watchdog names that process when it is another one.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from contextlib import AbstractContextManager, nullcontext
from typing import NamedTuple

__all__ = [
    "SLOW_WAIT_SECONDS",
    "NoWriteLock",
    "WriteLock",
    "lock_holder",
    "sqlite_write_lock_holder",
    "write_lock_for",
]

log = logging.getLogger("daytwo.store")

#: After this long waiting for the write lock, a waiter logs who holds it (then every
#: further interval of the same length).
SLOW_WAIT_SECONDS = 10.0
#: The byte of the ``-shm`` file that SQLite locks for writing in WAL mode.
WAL_WRITE_LOCK_BYTE = 120


class WriteLock:
    """An exclusive lock on ``<database>.lock`` held around each write transaction."""

    def __init__(self, path: str) -> None:
        self.path = path
        #: The database file whose writers this lock queues.
        self.database = path.removesuffix(".lock")
        self._thread_lock = threading.Lock()
        # Kept open for the life of the lock: flock is released when the descriptor closes.
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        # When the current waiter (if any) began to wait for another process, and when this
        # process took the lock it holds (it may then wait for SQLite's own lock); read by
        # the watchdog thread, which is started at the first acquisition.
        self._waiting_since: float | None = None
        self._held_since: float | None = None
        self._watchdog: threading.Thread | None = None
        self._closed = threading.Event()

    def hold(self) -> WriteLock:
        """Use as ``with lock.hold():`` to hold the lock (blocking) for the block."""
        return self

    # A plain context manager rather than @contextmanager: this wraps every commit.
    def __enter__(self) -> None:
        self._thread_lock.acquire()
        try:
            if self._watchdog is None:
                self._watchdog = threading.Thread(
                    target=self._watch, name="daytwo-write-lock-watchdog", daemon=True
                )
                self._watchdog.start()
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._wait()
            self._held_since = time.monotonic()
        except BaseException:
            self._thread_lock.release()
            raise

    def __exit__(self, *_: object) -> None:
        self._held_since = None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def _wait(self) -> None:
        """Another process holds the lock: queue for it; the watchdog reports a long wait."""
        # Only one thread at a time gets here (it holds _thread_lock): one slot suffices.
        self._waiting_since = time.monotonic()
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        finally:
            self._waiting_since = None

    def _watch(self) -> None:
        reported: dict[str, tuple[float, float]] = {}  # kind -> (since, when reported)
        while not self._closed.wait(SLOW_WAIT_SECONDS / 4):
            now = time.monotonic()
            for kind, since in (("wait", self._waiting_since), ("hold", self._held_since)):
                if since is None or now - since < SLOW_WAIT_SECONDS:
                    continue
                last = reported.get(kind)
                if last is not None and last[0] == since and now - last[1] < SLOW_WAIT_SECONDS:
                    continue  # reported less than an interval ago
                if self._report(kind, now - since):
                    reported[kind] = (since, now)

    def _report(self, kind: str, waited: float) -> bool:
        """Log who holds up this process's write; False if there is nothing to tell."""
        flock_pid = _flock_holder(self._fd)
        sqlite_pid = sqlite_write_lock_holder(self.database)
        if kind == "hold":
            # This process holds the file lock; it is stuck only if SQLite's lock is held
            # by someone else (a long write transaction of our own is no one's fault).
            if sqlite_pid is None or sqlite_pid == os.getpid():
                return False
            log.warning(
                "waited %.1f s to write to %s: SQLite's write lock is held by %s, which does "
                "not queue on daytwo's lock file; every writer waits until it commits, rolls "
                "back or exits (SQLite gives up after its busy timeout)",
                waited, self.database, _process(sqlite_pid),
            )  # fmt: skip
            return True
        if sqlite_pid is not None and sqlite_pid != flock_pid:
            queued = (
                f"; {_process(flock_pid)} holds daytwo's lock file and waits for it too"
                if flock_pid is not None
                else ""
            )
            log.warning(
                "waited %.1f s for the SQLite write lock of %s: SQLite's own write lock is "
                "held by %s, which does not queue on daytwo's lock file%s; every writer waits "
                "until it commits, rolls back or exits",
                waited, self.database, _process(sqlite_pid), queued,
            )  # fmt: skip
            return True
        log.warning(
            "waited %.1f s for the SQLite write lock %s, held by %s; every writer waits "
            "until it continues or exits",
            waited,
            self.path,
            "another process" if flock_pid is None else _process(flock_pid),
        )
        return True

    def close(self) -> None:
        """Release the descriptor (closing twice is harmless: ``App.close()`` may be called
        by the user and again by whoever made the App)."""
        if self._closed.is_set():
            return
        self._closed.set()
        os.close(self._fd)


def lock_holder(fd: int) -> str | None:
    """Describe the process holding the flock on ``fd``'s file, from ``/proc/locks``.

    Returns e.g. ``"process 4242 (daytwo worker orders:app), stopped"``, or None where
    ``/proc`` does not tell (not Linux, or the lock was released meanwhile).
    """
    pid = _flock_holder(fd)
    return None if pid is None else _process(pid)


def _flock_holder(fd: int) -> int | None:
    try:
        inode = os.fstat(fd).st_ino
    except OSError:
        return None
    for lock in _proc_locks():
        if lock.kind == "FLOCK" and lock.inode == inode:
            return lock.pid
    return None


def sqlite_write_lock_holder(database: str) -> int | None:
    """The pid holding SQLite's WAL write lock on ``database`` (None: nobody, or unknown).

    That lock is a POSIX write lock on byte :data:`WAL_WRITE_LOCK_BYTE` of the ``-shm``
    file; only Linux's ``/proc/locks`` tells who holds it.
    """
    try:
        inode = os.stat(f"{database}-shm").st_ino
    except OSError:
        return None
    for lock in _proc_locks():
        if (
            lock.kind == "POSIX"
            and lock.inode == inode
            and lock.access == "WRITE"
            and lock.start <= WAL_WRITE_LOCK_BYTE <= lock.end
        ):
            return lock.pid
    return None


class _Lock(NamedTuple):
    kind: str  # FLOCK, POSIX, OFDLCK
    access: str  # READ, WRITE
    pid: int
    inode: int
    start: int
    end: float  # EOF: infinity


def _proc_locks() -> list[_Lock]:
    """The locks held now, from ``/proc/locks`` (empty where there is none)."""
    try:
        with open("/proc/locks") as file:
            lines = file.read().splitlines()
    except OSError:
        return []
    locks = []
    for line in lines:
        # "1: FLOCK  ADVISORY  WRITE 4242 fe:00:2255152 0 EOF"; waiters ("1: -> FLOCK ...")
        # hold nothing.
        fields = line.split()
        if len(fields) < 8 or fields[1] == "->":
            continue
        try:
            locks.append(
                _Lock(
                    kind=fields[1],
                    access=fields[3],
                    pid=int(fields[4]),
                    inode=int(fields[5].rsplit(":", 1)[1]),
                    start=int(fields[6]),
                    end=float("inf") if fields[7] == "EOF" else int(fields[7]),
                )
            )
        except (ValueError, IndexError):
            continue
    return locks


def _process(pid: int) -> str:
    return f"process {pid}{_describe(str(pid))}"


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
