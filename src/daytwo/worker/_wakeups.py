"""Hearing about new work from other processes: PostgreSQL LISTEN/NOTIFY.

Starting, signalling, cancelling or resuming an instance sends a notification on
``daytwo_wake`` when its transaction commits (see ``Store.notify_workers``). An idle worker
listens on one dedicated connection and looks for work the moment one arrives, instead of
polling the database several times a second. Polling remains, at a low rate, for what sends
no notification and for notifications missed while reconnecting.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy.engine import URL

from daytwo.engine._retry import Retry
from daytwo.store._store import WAKE_CHANNEL

__all__ = ["RECONNECT_BACKOFF", "WakeListener"]

log = logging.getLogger("daytwo.worker")

#: Pauses between attempts to reach the database again: 0.2 s doubling up to 5 s, spread
#: by half either way so that a fleet of workers does not reconnect in lockstep.
RECONNECT_BACKOFF = Retry(initial_delay=0.2, backoff=2.0, max_delay=5.0, jitter=0.5)


class WakeListener:
    """A thread that calls ``on_wake`` for every notification on the wake channel."""

    def __init__(self, url: URL, on_wake: Callable[[], None], *, name: str) -> None:
        # libpq understands the same URL, minus SQLAlchemy's driver suffix.
        self._conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._on_wake = on_wake
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name=f"daytwo-listen-{name}", daemon=True
        )

    @property
    def connected(self) -> bool:
        """Whether notifications are being received right now."""
        return self._connected.is_set()

    def start(self) -> WakeListener:
        """Start listening in the background."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening (within about a second)."""
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(f"LISTEN {WAKE_CHANNEL}")
                    self._connected.set()
                    if failures:
                        log.info("listening for wake-ups again")
                    failures = 0
                    # Anything may have happened while we were not listening.
                    self._on_wake()
                    while not self._stop.is_set():
                        for _notification in conn.notifies(timeout=1.0):
                            self._on_wake()
            except psycopg.Error as exc:
                self._connected.clear()
                failures += 1
                delay = RECONNECT_BACKOFF.delay(failures)
                log.warning(
                    "wake-up listener lost its connection (%s); retrying in %.1f s", exc, delay
                )
                self._stop.wait(delay)
            finally:
                self._connected.clear()
