"""The scheduler: a worker's background service that starts the due ticks of schedules.

Every worker runs one, and no lease elects a single ticker: each tick is a
compare-and-set on the schedule's ``next_run_at`` in the transaction that starts its
instance (``store/_schedule_ticks.py``), so however many workers tick at once each tick
starts once, and a worker that dies mid-tick leaves either all of it or none.

**Waking.** Between rounds the service sleeps until the earliest next tick of any
schedule (its ``interval`` is computed each round), at most :data:`IDLE_SECONDS`, so a
schedule declared, resumed or changed by another process is seen within that bound and
an idle worker makes one small query per bound. With a :class:`~daytwo.FakeClock`, the
clock's advances wake it (``woken``), so tests never wait for real time.
"""

from __future__ import annotations

import logging
import threading

from daytwo.engine import Clock, FakeClock, Registry
from daytwo.store import Schedules, Store

__all__ = ["Scheduler", "declare_schedules"]

log = logging.getLogger("daytwo.schedules")

#: The longest a scheduler sleeps between two looks at the schedules (seconds).
IDLE_SECONDS = 10.0
#: The shortest (a tick due now is started by this round; a failing store is not hammered).
BUSY_SECONDS = 0.05


def declare_schedules(store: Store, clock: Clock, registry: Registry) -> None:
    """Store the code's schedules (see ``store/_schedules.py``: code is the source)."""
    Schedules(store, clock.now).declare(registry.schedules, set(registry.workflows))


class Scheduler:
    """A background service starting the due ticks of every schedule (see the module)."""

    name = "scheduler"

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.schedules = Schedules(store, clock.now)
        #: Instances this object started (for tests and logs).
        self.started = 0
        #: Set to end the worker's wait before the next round (a fake clock's advance).
        self.woken = threading.Event()
        self._next_due: float | None = None
        # The worker's service thread and a caller (a test) may both run a round.
        self._round = threading.Lock()
        if isinstance(clock, FakeClock):
            clock.on_advance(self.woken.set)

    @property
    def interval(self) -> float:
        """Seconds of real time until the next round: until the earliest next tick."""
        if self._next_due is None or isinstance(self.clock, FakeClock):
            return IDLE_SECONDS
        return min(max(self._next_due - self.clock.now(), BUSY_SECONDS), IDLE_SECONDS)

    def run_once(self) -> None:
        """One round: start every due tick."""
        self.tick_due()

    def tick_due(self) -> int:
        """Start every due tick now; returns how many instances this round started."""
        with self._round:
            started = 0
            now = self.clock.now()
            for name, expected in self.schedules.due(now):
                report = self.schedules.tick(name, expected, now)
                if report is None:
                    continue  # another worker ticked it first
                started += len(report.started)
                if report.missed or report.skipped:
                    log.info(
                        "schedule %s: %d tick(s) missed, %d skipped (previous still active)",
                        name, report.missed, report.skipped,
                    )  # fmt: skip
            self.started += started
            self._next_due = self.schedules.next_due()
            return started
