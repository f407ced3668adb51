"""What a worker needs from the application whose instances it runs.

The worker depends on this protocol, not on :class:`daytwo.App`: ``App.worker()`` builds
one over the app (its store, clock, code, flow control and in-process events), and the
worker package imports nothing of the App. Another composition (a test harness, a system
process running only daytwo's own workflows) can provide its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from daytwo.engine import Clock, Registry, Runtime
from daytwo.store import FlowControl, Store

if TYPE_CHECKING:
    from daytwo.worker._worker import BackgroundService

__all__ = ["WorkerHost"]


class WorkerHost(Protocol):
    """The store, clock, code and hooks a :class:`~daytwo.worker.Worker` runs with.

    The store and what depends on it are read when the worker starts, not when it is
    built, so building a worker opens no database.
    """

    @property
    def store(self) -> Store:
        """The store the worker claims from."""
        ...

    @property
    def clock(self) -> Clock:
        """The clock of leases, timers and heartbeats."""
        ...

    @property
    def registry(self) -> Registry:
        """The workflows and steps the worker runs."""
        ...

    @property
    def runtime(self) -> Runtime:
        """What each run needs (store, clock, serializer, code, flow control)."""
        ...

    @property
    def flow(self) -> FlowControl:
        """Flow-control settings, shared with the rest of the process."""
        ...

    @property
    def services(self) -> Sequence[BackgroundService]:
        """Background services the application runs in every worker."""
        ...

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` when this process stores work (a start, a signal...)."""
        ...

    def remove_listener(self, listener: Callable[[], None]) -> None:
        """Stop calling ``listener``."""
        ...

    def run_finished(self, instance_id: str, ended: bool) -> None:
        """A run of the instance finished, in the run's thread, once what it wrote is
        durable; ``ended``: the instance reached a terminal status (this process's callers
        waiting for its result get it at once). Called for every run: keep it cheap."""
        ...

    def worker_started(self, worker_id: str) -> None:
        """The worker registered (it counts as live for this process from now on)."""
        ...

    def worker_stopped(self, worker_id: str) -> None:
        """The worker stopped."""
        ...
