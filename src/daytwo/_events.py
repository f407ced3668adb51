"""In-process notifications between an App's client calls, its workers and its waiters.

A start, signal, cancel or task completion made in this process wakes this process's
workers at once (``listeners``) instead of at their next poll; a run that ends wakes the
callers waiting in ``result()``. Other processes learn of both from the database (their
poll, or PostgreSQL's LISTEN/NOTIFY), so these are only shortcuts: nothing depends on them
for correctness.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from daytwo.engine import Clock, FakeClock

__all__ = ["LocalEvents"]


class LocalEvents:
    """The wake-up listeners of one App (or Client) and its "a run ended" condition."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._listeners: list[Callable[[], None]] = []
        self._finished = threading.Condition()

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` when this process starts, signals or cancels an instance (and
        when a fake clock advances: a timer may have come due)."""
        self._listeners.append(listener)
        if isinstance(self._clock, FakeClock):
            self._clock.on_advance(listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        """Stop calling ``listener``."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def changed(self) -> None:
        """Something a worker may act on was stored: wake the listeners."""
        for listener in list(self._listeners):
            listener()

    def run_finished(self) -> None:
        """A run in this process ended: wake the waiters of :meth:`wait_for_a_run`."""
        with self._finished:
            self._finished.notify_all()

    def wait_for_a_run(self, timeout: float) -> None:
        """Block until a run of this process ends, or ``timeout`` seconds."""
        with self._finished:
            self._finished.wait(timeout)
