"""In-process notifications between an App's client calls, its workers and its waiters.

A start, signal, cancel or task completion made in this process wakes this process's
workers at once (``listeners``) instead of at their next poll; a run that ends an instance
hands it to the callers waiting in ``result()`` (the ended-listeners: the client's
:class:`~daytwo._results.ResultWaits`). Other processes learn of both from the database
(their poll, or PostgreSQL's LISTEN/NOTIFY), so these are only shortcuts: nothing depends
on them for correctness.
"""

from __future__ import annotations

from collections.abc import Callable

from daytwo.engine import Clock, FakeClock

__all__ = ["LocalEvents"]


class LocalEvents:
    """The wake-up listeners of one App (or Client), and who learns of the instances
    that its runs end."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._listeners: list[Callable[[], None]] = []
        self._ended_listeners: list[Callable[[str], None]] = []

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

    def add_ended_listener(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(instance_id)`` when a run of this process ends an instance."""
        self._ended_listeners.append(listener)

    def run_finished(self, instance_id: str, ended: bool) -> None:
        """A run of this process finished; ``ended``: the instance reached a terminal
        status (else it waits, or the run lost its lease). Called in the run's thread for
        every run: a listener must cost next to nothing for an instance nobody waits for."""
        if ended:
            for listener in self._ended_listeners:
                listener(instance_id)
