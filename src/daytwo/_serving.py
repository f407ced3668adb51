"""Who serves what, as a :class:`~daytwo.Client` (and so an App) sees it: why a due
instance is not running, and the warning when a start puts an instance where no live worker
will take it.

The live workers are read from their registrations (``store/_workers.py``); the workers
this process runs count as live whatever their last heartbeat (a ``FakeClock`` may be far
ahead of it). Reads are cached for a second on the start path only; explaining an
instance (``app.get``, ``app.list``) reads the registrations afresh.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from daytwo.engine import Registry
from daytwo.store import ACTIVE_STATUSES, Catalog, Coverage, InstanceStatus, Store, coverage

__all__ = ["Serving", "catalog", "unserved_warnings_shown_elsewhere"]

log = logging.getLogger("daytwo.app")

#: How long ``app.start`` trusts a view of the live workers that says all is served.
START_CHECK_TTL = 1.0


class Serving:
    """One client's view of the live workers (an App's: its client's)."""

    def __init__(self, store: Callable[[], Store], now: Callable[[], float]) -> None:
        self._store = store
        self._now = now
        self._lock = threading.Lock()
        self._local: set[str] = set()
        self._cached: tuple[float, Coverage] | None = None
        # (queue, workflow, version) already warned about, until it is served again.
        self._warned: set[tuple[str, str, str]] = set()

    def worker_started(self, worker_id: str) -> None:
        """A worker of this process registered."""
        with self._lock:
            self._local.add(worker_id)
            self._cached = None

    def worker_stopped(self, worker_id: str) -> None:
        """A worker of this process stopped."""
        with self._lock:
            self._local.discard(worker_id)
            self._cached = None

    def coverage(self, *, max_age: float = 0.0) -> Coverage:
        """The live workers, read at most ``max_age`` seconds ago."""
        with self._lock:
            cached, local = self._cached, set(self._local)
        if cached is not None and time.monotonic() - cached[0] < max_age:
            return cached[1]
        view = coverage(self._store(), self._now(), also_live=local)
        with self._lock:
            self._cached = (time.monotonic(), view)
        return view

    def held_by(
        self, rows: list[Mapping[Any, Any]], paused_starts: Callable[[], frozenset[str]]
    ) -> list[str | None]:
        """Per row: why it is due but not running (None if it is not due, or served)."""
        now = self._now()
        due = [_due(row, now) for row in rows]
        if not any(due):
            return [None] * len(rows)
        served, paused = self.coverage(), paused_starts()
        return [
            _held_by(row, served, paused) if is_due else None
            for row, is_due in zip(rows, due, strict=True)
        ]

    def warn_if_unserved(self, row: Mapping[str, Any]) -> str | None:
        """After a start: log a warning (once while it lasts) if no live worker would run
        the instance; returns the reason."""
        key = (row["queue"], row["workflow"], row["version"])
        cached = self.coverage(max_age=START_CHECK_TTL)
        if cached.serves(*key):
            self._warned.discard(key)
            return None
        if key in self._warned:  # said already: no fresh look per start (a bulk load)
            return cached.unserved(*key)
        reason = self.coverage().unserved(*key)  # the cached view may predate a worker
        if reason is None:
            return None
        self._warned.add(key)
        log.warning(
            "instance %s of %s %s is stored in queue %r, but %s; it runs once a worker "
            "serves it",
            row["id"], row["workflow"], row["version"], row["queue"], reason,
            extra={"daytwo_unserved": reason},
        )  # fmt: skip
        return reason


def _due(row: Mapping[Any, Any], now: float) -> bool:
    """Whether a worker could claim the instance now (runnable, fired timer, expired lease)."""
    run_at = row["run_at"]
    return row["status"] in ACTIVE_STATUSES and run_at is not None and run_at <= now


def _held_by(row: Mapping[Any, Any], served: Coverage, paused: frozenset[str]) -> str | None:
    if (
        row["status"] == InstanceStatus.RUNNABLE
        and row["history_size"] == 0
        and row["workflow"] in paused
    ):
        return f"new starts of {row['workflow']} are paused (daytwo resume {row['workflow']})"
    return served.unserved(row["queue"], row["workflow"], row["version"])


@contextmanager
def unserved_warnings_shown_elsewhere() -> Iterator[None]:
    """Leave out the warning of :meth:`Serving.warn_if_unserved` (``daytwo start`` prints
    the same as a note of its own)."""

    def keep(record: logging.LogRecord) -> bool:
        return not hasattr(record, "daytwo_unserved")

    log.addFilter(keep)
    try:
        yield
    finally:
        log.removeFilter(keep)


def catalog(registry: Registry) -> Catalog:
    """The names an app's own code has, for checking flow-control commands.

    Steps are not tied to workflows in the registry: each workflow may call any of them.
    """
    steps = frozenset(registry.steps)
    return Catalog(
        steps={name: steps for name in registry.workflows},
        queues=frozenset(
            definition.queue
            for versions in registry.workflows.values()
            for definition in versions.values()
        ),
        dependencies=frozenset(
            step.dependency for step in registry.steps.values() if step.dependency is not None
        ),
    )
