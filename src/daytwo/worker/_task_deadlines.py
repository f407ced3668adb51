"""The task-deadline service: reminders and escalations of human tasks, when they are due.

Each human task created with ``remind=`` or ``escalate=`` carries its plan and the time
of its next step (``human_tasks.next_action_at``, indexed). Every round, the one holder
of the cluster-wide lease ``task-deadlines`` reads the tasks whose next step is due and
takes each step in a transaction of its own (``Store.apply_task_step``): the step, its
``task_events`` row and its outbox event (``task.reminder``, ``task.escalated``) commit
together, and a compare-and-set on the step's index makes it happen once, however many
rounds or processes try (two rounds at one time: the second finds nothing to do; a crash
between two steps: the next round takes the second one). Steps that fell due while no
worker ran are taken in order, each once.

Timeouts are not taken here: the task's instance wakes at ``timeout_at`` and its run
closes the task (see ``engine/_task_wait.py``), so a timeout needs no extra process.
"""

from __future__ import annotations

import logging
import threading
import uuid

from daytwo.engine import Clock
from daytwo.store import Store
from daytwo.worker._service_lease import ServiceLease

__all__ = ["TaskDeadlines"]

log = logging.getLogger("daytwo.tasks")

#: The service's lease in ``service_leases``: one process per cluster takes the steps.
LEASE_NAME = "task-deadlines"


class TaskDeadlines:
    """A background service taking the due reminders and escalations (see the module).

    ``interval``: seconds of real time between rounds; ``batch``: tasks read per query.
    """

    name = "task-deadlines"

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        interval: float = 1.0,
        lease_seconds: float = 30.0,
        batch: int = 100,
    ) -> None:
        if interval <= 0 or lease_seconds <= 0 or batch < 1:
            raise ValueError("interval and lease_seconds must be positive and batch at least 1")
        self.store = store
        self.clock = clock
        self.interval = interval
        self.lease_seconds = lease_seconds
        self.batch = batch
        self.owner = f"tasks-{uuid.uuid4().hex[:12]}"
        #: Steps taken by this object (for tests and logs).
        self.taken = 0
        self.lease = ServiceLease(store, clock, LEASE_NAME, self.owner, lease_seconds)
        # The worker's service thread and a caller (a test, a one-off round) may both run
        # a round; the second waits, then finds only what is still due.
        self._round = threading.Lock()

    def run_once(self) -> None:
        """One round: take every step due now."""
        self.take_due()

    def take_due(self) -> int:
        """Take every step due now (one round); returns how many this round took."""
        with self._round:
            if not self.lease.held():
                return 0
            taken = 0
            while True:
                now = self.clock.now()
                due = self.store.due_task_steps(now, self.batch)
                # A task with several steps due (no worker ran for a while) comes back in
                # the next pass for its next one; a pass that takes nothing ends the round.
                progress = sum(
                    self.store.apply_task_step(task["id"], task["next_step"], now) for task in due
                )
                taken += progress
                if not progress or not self.lease.held():
                    break
            self.taken += taken
            if taken:
                log.info("took %d reminder/escalation step(s) of human tasks", taken)
            return taken

    def close(self) -> None:
        """Give the lease up, so another worker takes over without waiting for it."""
        with self._round:
            self.lease.release()
