"""SQLite's stand-in for NOTIFY: a datagram to each worker listening on the database.

PostgreSQL tells idle workers about new work with LISTEN/NOTIFY. SQLite has no such thing,
so a worker in another process would only see a start at its next poll (a quarter second
by default): the start-to-finish time of every instance would be a poll interval, and a
worker that has run out of work sleeps while a producer fills the queue. Instead, every
worker binds a Unix datagram socket in a directory next to the database file
(``<database>-wake/``), and a process that commits new work sends one byte to each socket
there, after the commit. The byte says only "look"; the worker claims from the database as
always, so a lost datagram costs a poll interval, nothing else.

A worker killed with SIGKILL leaves its socket file behind; the next sender finds nobody
listening on it (ECONNREFUSED) and removes it. Where sockets cannot be used (a path too
long for ``AF_UNIX``, a read-only directory, a platform without Unix sockets) nothing is
sent and workers poll, as before.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import stat
import threading
import time
from collections.abc import Callable

__all__ = ["WakeReceiver", "WakeSender", "wake_directory"]

log = logging.getLogger("daytwo.store")

#: How long a sender trusts that the directory does not exist (a worker starting meanwhile
#: claims what is due when it starts, and polls).
ABSENT_RECHECK_SECONDS = 0.1
#: The longest path ``AF_UNIX`` accepts on Linux (``sun_path`` is 108 bytes, NUL included).
_MAX_SOCKET_PATH = 107


def wake_directory(database: str) -> str:
    """Where the workers of a SQLite ``database`` file bind their wake-up sockets."""
    return os.path.abspath(os.path.expanduser(database)) + "-wake"


class WakeSender:
    """Sends "new work" to every worker listening on one database's directory."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()
        self._absent_until = 0.0

    def send(self) -> int:
        """Wake every listening worker; returns how many were told (never raises)."""
        if time.monotonic() < self._absent_until:
            return 0
        try:
            names = os.listdir(self.directory)
        except OSError:  # no worker ever listened here: look again in a while, not per start
            self._absent_until = time.monotonic() + ABSENT_RECHECK_SECONDS
            return 0
        if not names:
            return 0
        told = 0
        with self._lock:
            if self._socket is None:
                try:
                    self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                    self._socket.setblocking(False)
                except OSError:
                    return 0
            for name in names:
                path = os.path.join(self.directory, name)
                try:
                    self._socket.sendto(b"w", path)
                    told += 1
                except BlockingIOError:  # its queue is full: it has wake-ups to read already
                    told += 1
                except ConnectionRefusedError:  # nobody listens: a worker that was killed
                    with contextlib.suppress(OSError):
                        if stat.S_ISSOCK(os.lstat(path).st_mode):
                            os.unlink(path)
                except OSError:  # gone meanwhile, or not ours to write to
                    continue
        return told

    def close(self) -> None:
        """Release the sending socket."""
        with self._lock:
            if self._socket is not None:
                self._socket.close()
                self._socket = None


class WakeReceiver:
    """A worker's socket in the wake-up directory, read by a thread of its own."""

    def __init__(self, directory: str, on_wake: Callable[[], None], *, name: str) -> None:
        self.directory = directory
        self._on_wake = on_wake
        self.path = os.path.join(directory, f"{os.getpid()}-{secrets.token_hex(4)}")
        self._socket: socket.socket | None = None
        self._thread = threading.Thread(target=self._loop, name=f"daytwo-wake-{name}", daemon=True)
        self._stop = threading.Event()

    def start(self) -> bool:
        """Bind and start reading; False (and workers poll) where that is not possible."""
        if len(self.path.encode()) > _MAX_SOCKET_PATH:
            log.info(
                "the database path is too long for a wake-up socket (%s); this worker polls",
                self.path,
            )
            return False
        try:
            os.makedirs(self.directory, exist_ok=True)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(self.path)
        except OSError as exc:
            log.info(
                "cannot listen for wake-ups in %s (%s); this worker polls", self.directory, exc
            )
            return False
        # Short reads so that stop() is noticed; a wake-up arriving wakes recv at once.
        sock.settimeout(0.5)
        self._socket = sock
        self._thread.start()
        return True

    def _loop(self) -> None:
        sock = self._socket
        assert sock is not None
        while not self._stop.is_set():
            try:
                sock.recv(64)
            except TimeoutError:
                continue
            except OSError:
                return
            # Many starts may have sent one datagram each: drain them, wake once.
            sock.setblocking(False)
            try:
                while True:
                    sock.recv(64)
            except OSError:
                pass
            finally:
                sock.settimeout(0.5)
            self._on_wake()

    def stop(self) -> None:
        """Stop reading and remove the socket file."""
        self._stop.set()
        if self._socket is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        self._thread.join(timeout=2)
        self._socket.close()
        self._socket = None
