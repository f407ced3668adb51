"""Hearing about new work from other processes: PostgreSQL LISTEN/NOTIFY.

Starting, signalling, cancelling or resuming an instance sends a notification on
``daytwo_wake`` when its transaction commits (see ``Store.notify_workers``). An idle worker
listens on one dedicated connection and looks for work the moment one arrives, instead of
polling the database several times a second. Polling remains, at a low rate, for what sends
no notification and for notifications missed while reconnecting.

Changes of flow-control settings are announced on ``daytwo_settings`` the same way, so a
worker drops its settings snapshot at once instead of re-reading the settings every second.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy.engine import URL

from daytwo.engine import Retry
from daytwo.store import SETTINGS_CHANNEL, WAKE_CHANNEL

__all__ = ["RECONNECT_BACKOFF", "WakeListener"]

log = logging.getLogger("daytwo.worker")

#: Pauses between attempts to reach the database again: 0.2 s doubling up to 5 s, spread
#: by half either way so that a fleet of workers does not reconnect in lockstep.
RECONNECT_BACKOFF = Retry(initial_delay=0.2, backoff=2.0, max_delay=5.0, jitter=0.5)


class WakeListener:
    """A thread that calls ``on_wake`` for every notification on the wake channel.

    With ``on_settings``, it also listens for settings changes and calls that for each; both
    callbacks also run after every (re)connection, for what was missed meanwhile.
    """

    def __init__(
        self,
        url: URL,
        on_wake: Callable[[], None],
        *,
        name: str,
        on_settings: Callable[[], None] | None = None,
    ) -> None:
        # libpq understands the same URL, minus SQLAlchemy's driver suffix.
        self._conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._on_wake = on_wake
        self._on_settings = on_settings
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
                    if self._on_settings is not None:
                        conn.execute(f"LISTEN {SETTINGS_CHANNEL}")
                    self._connected.set()
                    if failures:
                        log.info("listening for wake-ups again")
                    failures = 0
                    # Anything may have happened while we were not listening.
                    if self._on_settings is not None:
                        self._on_settings()
                    self._on_wake()
                    while not self._stop.is_set():
                        for notification in conn.notifies(timeout=1.0):
                            if notification.channel == SETTINGS_CHANNEL and self._on_settings:
                                self._on_settings()
                            else:
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
