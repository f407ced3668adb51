"""Time as the engine sees it.

Every place where the engine reads the time or waits goes through a :class:`Clock`, so tests
can replace it with a :class:`FakeClock` and cover a 30-day window or a 2-hour escalation in
milliseconds instead of sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "FakeClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """The source of time for the engine: wall time in epoch seconds, and waiting."""

    def now(self) -> float:
        """Current wall-clock time as seconds since the Unix epoch."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block the calling thread for ``seconds`` of this clock's time."""
        ...


class SystemClock:
    """The real clock: :func:`time.time` and :func:`time.sleep`."""

    def now(self) -> float:
        """Current wall-clock time (seconds since the epoch)."""
        return time.time()

    def sleep(self, seconds: float) -> None:
        """Sleep for real."""
        if seconds > 0:
            time.sleep(seconds)


class FakeClock:
    """A clock that only moves when told to.

    ``sleep`` advances the clock instead of blocking, so code that waits for a deadline
    reaches it at once. Listeners registered with :meth:`on_advance` (the worker registers
    one) are called after every advance so that timers that became due are noticed without
    polling.
    """

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = start
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    def now(self) -> float:
        """The clock's current time."""
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        """Advance by ``seconds`` instead of blocking."""
        self.advance(max(seconds, 0.0))

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` and return the new time."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go backwards (advance by {seconds})")
        with self._lock:
            self._now += seconds
            now = self._now
            listeners = list(self._listeners)
        for listener in listeners:
            listener()
        return now

    def set(self, when: float) -> None:
        """Jump to ``when`` (epoch seconds); it must not be in this clock's past."""
        self.advance(when - self.now())

    def on_advance(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every advance."""
        with self._lock:
            self._listeners.append(listener)
