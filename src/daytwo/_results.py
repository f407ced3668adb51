"""Result waits: the callers of ``result()`` in one process share one poller.

A waiter registers the id of its instance and blocks on a lock of its own. One poller
thread per :class:`~daytwo.Client` (started at the first wait, a daemon, stopped by
``Client.close()``) reads the waited instances, one query per round (chunked ``IN``
lists), and hands each waiter whose instance ended its row.

Which instances a round reads: each waited instance is checked 5 ms after its wait began,
then at intervals doubling to a quarter of a second while it goes on, as each caller's
own polling did before (an end in another process is seen within 250 ms). A round takes
along the instances due within half their interval, so that waits begun at different
moments soon share their rounds: however many wait, a round comes at most every 125 ms
once their waits have gone on for a while.

Runs of this process need no round: the worker (and ``App.run``) reports each instance it
ends (``LocalEvents.run_finished``), and the poller reads just the waited ones among them,
at once, all those reported meanwhile in one read. An end nobody waits for costs a dict
look-up in the run's thread. Nothing depends on that shortcut for correctness; the rounds
alone find every end.

Each wait first reads its instance itself: an instance that has ended already returns at
once, without a lock or the poller. One that ends in this process between that read and
the registration is found by the wait's first round, 5 ms later.
"""

from __future__ import annotations

import heapq
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from daytwo._errors import InstanceNotFound, WorkflowFailed
from daytwo._records import Loads
from daytwo.store import TERMINAL_STATUSES, InstanceLookups, InstanceStatus, OutcomeRow, Store

__all__ = ["FIRST_INTERVAL", "LONGEST_INTERVAL", "ResultWaits", "outcome_of"]

log = logging.getLogger("daytwo.client")

#: When a waited instance is first checked by a round, after its wait began.
FIRST_INTERVAL = 0.005
#: The longest interval between its checks: how late another process's end is seen.
LONGEST_INTERVAL = 0.25


class _Waiter:
    """One caller waiting, and what the poller hands it.

    Woken exactly once, by whoever takes it out of the waiters under their lock; a plain
    lock, held from the start and released to wake, is the cheapest event there is.
    """

    __slots__ = ("_woken", "error", "row")

    def __init__(self) -> None:
        self._woken = threading.Lock()
        self._woken.acquire()
        #: The ended row; None when woken without one (the client closed: look again).
        self.row: OutcomeRow | None = None
        #: The database error of the poller's read, raised in the waiter's thread.
        self.error: Exception | None = None

    def wait(self, timeout: float | None) -> bool:
        """Whether it was woken within ``timeout`` seconds (None: however long it takes)."""
        if timeout is None:
            return self._woken.acquire()
        return self._woken.acquire(timeout=min(max(timeout, 0), threading.TIMEOUT_MAX))

    def wake(self) -> None:
        self._woken.release()


class _Checks:
    """When each waited instance is next read by a round (not thread-safe: the waits'
    lock guards it)."""

    def __init__(self) -> None:
        #: instance id -> (when its next check is due, the interval that led there).
        self._next: dict[str, tuple[float, float]] = {}
        #: (due, instance id), soonest first; entries no longer in ``_next`` are stale.
        self._due: list[tuple[float, str]] = []

    def add(self, instance_id: str, now: float, first: float) -> float | None:
        """Check a newly waited instance ``first`` seconds from now; when (None: it is
        checked already)."""
        if instance_id in self._next:
            return None
        self._schedule(instance_id, now + first, first)
        return now + first

    def remove(self, instance_id: str) -> None:
        """Nobody waits for it any more."""
        self._next.pop(instance_id, None)

    def soonest(self) -> float | None:
        """When the next check is due (None: no check)."""
        self._drop_stale()
        return self._due[0][0] if self._due else None

    def take_due(self, now: float, longest: float) -> list[str]:
        """The instances to read now: those due, and (if any is) those due within half
        their interval, so that their checks fall into this round."""
        soonest = self.soonest()
        if soonest is None or soonest > now:
            return []
        taken: list[tuple[float, str]] = []
        later: list[tuple[float, str]] = []
        while self._due and self._due[0][0] <= now + longest / 2:
            due, instance_id = heapq.heappop(self._due)
            entry = self._next.get(instance_id)
            if entry is None or entry[0] != due:
                continue
            (taken if due - entry[1] / 2 <= now else later).append((due, instance_id))
        for item in later:
            heapq.heappush(self._due, item)
        return [instance_id for _, instance_id in taken]

    def checked(self, instance_ids: Iterable[str], now: float, longest: float) -> None:
        """They were read and are still going: check again after twice the interval."""
        for instance_id in instance_ids:
            entry = self._next.get(instance_id)
            if entry is not None:
                interval = min(entry[1] * 2, longest)
                self._schedule(instance_id, now + interval, interval)

    def _schedule(self, instance_id: str, due: float, interval: float) -> None:
        self._next[instance_id] = (due, interval)
        heapq.heappush(self._due, (due, instance_id))

    def _drop_stale(self) -> None:
        while self._due:
            due, instance_id = self._due[0]
            entry = self._next.get(instance_id)
            if entry is not None and entry[0] == due:
                return
            heapq.heappop(self._due)


class ResultWaits:
    """The result waits of one client: its waiters and their shared poller thread."""

    def __init__(self, store: Callable[[], Store]) -> None:
        self._store = store
        self._lookups: tuple[Store, InstanceLookups] | None = None
        self._opening = threading.Lock()
        self._changed = threading.Condition()
        #: instance id -> its waiters. Read without the lock by :meth:`instance_ended`
        #: (a dict look-up is atomic); changed only under it.
        self._waiters: dict[str, list[_Waiter]] = {}
        #: Waited instances that runs of this process ended since the poller last looked.
        self._ended: set[str] = set()
        self._checks = _Checks()
        #: When the poller wakes next by itself (inf: idle; -inf: busy, it looks at the
        #: checks again before it sleeps): a new wait wakes it only to check sooner.
        self._wakes_at = math.inf
        self._poller: threading.Thread | None = None
        # Which poller runs: close() moves it on, and the poller that was running ends.
        self._generation = 0
        #: When a waited instance is first checked, and the most its interval doubles to
        #: (a test may lengthen both to see the in-process hand-over alone at work).
        self.first_interval = FIRST_INTERVAL
        self.longest_interval = LONGEST_INTERVAL
        #: Reads the poller made: rounds (of the waited instances due a check), and reads of
        #: just the waited instances that runs of this process ended (for tests and
        #: benchmarks).
        self.rounds = 0
        self.lookups = 0

    def waited(self) -> int:
        """How many instances callers wait for now."""
        with self._changed:
            return len(self._waiters)

    # -- waiting --------------------------------------------------------------------------

    def wait(self, instance_id: str, timeout: float | None) -> OutcomeRow:
        """The instance's row once it has ended, or after ``timeout`` seconds as it is then.

        Raises :class:`InstanceNotFound` if there is no such instance, and the database's
        error if reading fails.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        row = self._read(instance_id)
        while row["status"] not in TERMINAL_STATUSES:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            waiter = self._begin(instance_id)
            if not waiter.wait(remaining):
                self._unregister(instance_id, waiter)
                # Timed out: the row as it is now (it may have ended in the meantime).
                return self._read(instance_id)
            # Whoever woke it took it out of the waiters already.
            if waiter.error is not None:
                raise waiter.error
            if waiter.row is not None:
                return waiter.row
            row = self._read(instance_id)  # woken without a row (closed): read again
        return row

    def _read(self, instance_id: str) -> OutcomeRow:
        row = self._lookup().get(instance_id)
        if row is None:
            raise InstanceNotFound(instance_id)
        return row

    def _lookup(self) -> InstanceLookups:
        store = self._store()
        lookups = self._lookups
        if lookups is None or lookups[0] is not store:  # opened anew (closed, another URL)
            with self._opening:
                lookups = self._lookups
                if lookups is None or lookups[0] is not store:
                    if lookups is not None:
                        lookups[1].close()
                    lookups = self._lookups = (store, InstanceLookups(store.engine))
        return lookups[1]

    def _unregister(self, instance_id: str, waiter: _Waiter) -> None:
        with self._changed:
            waiters = self._waiters.get(instance_id)
            if waiters is not None and waiter in waiters:
                waiters.remove(waiter)
                if not waiters:
                    del self._waiters[instance_id]
                    self._checks.remove(instance_id)

    def _begin(self, instance_id: str, waiter: _Waiter | None = None) -> _Waiter:
        """A new waiter of the instance (or ``waiter``, an async one), registered; the
        poller runs and checks it."""
        waiter = _Waiter() if waiter is None else waiter
        with self._changed:
            self._waiters.setdefault(instance_id, []).append(waiter)
            due = self._checks.add(instance_id, time.monotonic(), self.first_interval)
            if self._poller is None:
                self._poller = threading.Thread(
                    target=self._poll,
                    args=(self._generation,),
                    name="daytwo-result-waits",
                    daemon=True,
                )
                self._poller.start()
            elif due is not None and due < self._wakes_at:
                self._changed.notify()
        return waiter

    # -- what runs of this process end ----------------------------------------------------

    def instance_ended(self, instance_id: str) -> None:
        """A run of this process ended the instance: hand it to its waiters at once."""
        if instance_id not in self._waiters:  # nobody waits for it: no lock, nothing else
            return
        with self._changed:
            self._ended.add(instance_id)
            self._changed.notify()

    # -- the poller -----------------------------------------------------------------------

    def _poll(self, generation: int) -> None:
        try:
            self._rounds(generation)
        except Exception:  # a bug: the waits must not hang on a poller that is gone
            log.exception("result waits: the poller failed; the waits read again")
            with self._changed:
                if self._generation != generation:
                    return
                self._poller = None
                waiters = self._forget_waiters()
            for waiter in waiters:  # row None: each reads again and starts a new poller
                waiter.wake()

    def _rounds(self, generation: int) -> None:
        while True:
            with self._changed:
                while True:
                    if self._generation != generation:  # closed
                        return
                    ended = [i for i in self._ended if i in self._waiters]
                    self._ended.clear()
                    now = time.monotonic()
                    due = self._checks.take_due(now, self.longest_interval)
                    if ended or due:
                        break
                    soonest = self._checks.soonest()
                    self._wakes_at = math.inf if soonest is None else soonest
                    self._changed.wait(None if soonest is None else soonest - now)
                self._wakes_at = -math.inf
            taken = set(due)
            found = self._hand_over(due + [i for i in ended if i not in taken])
            with self._changed:
                going = [i for i in due if i not in found and i in self._waiters]
                self._checks.checked(going, time.monotonic(), self.longest_interval)
            if due:
                self.rounds += 1
            else:
                self.lookups += 1

    def _hand_over(self, instance_ids: list[str]) -> set[str]:
        """Read which of ``instance_ids`` ended and wake their waiters; the ids that ended."""
        try:
            rows = self._lookup().ended(instance_ids)
        except Exception as exc:  # the waiters raise it, as a read of their own would
            log.warning("result waits: reading the waited instances failed", exc_info=True)
            with self._changed:
                for instance_id in instance_ids:
                    self._checks.remove(instance_id)
                    for waiter in self._waiters.pop(instance_id, []):
                        waiter.error = exc
                        waiter.wake()
            return set()
        with self._changed:
            for row in rows:
                self._checks.remove(row["id"])
                for waiter in self._waiters.pop(row["id"], []):
                    waiter.row = row.copy()  # each waiter its own
                    waiter.wake()
        return {row["id"] for row in rows}

    def close(self) -> None:
        """Stop the poller; waits still in progress look again (and start a new one)."""
        with self._changed:
            poller, self._poller = self._poller, None
            self._generation += 1
            self._changed.notify()
            waiters = self._forget_waiters()
        if poller is not None and poller is not threading.current_thread():
            poller.join()
        for waiter in waiters:  # row None: the wait reads again
            waiter.wake()
        with self._opening:
            if self._lookups is not None:
                self._lookups[1].close()
                self._lookups = None

    def _forget_waiters(self) -> list[_Waiter]:
        """Every waiter, no longer registered (under the lock; the caller wakes them)."""
        waiters = [waiter for waiting in self._waiters.values() for waiter in waiting]
        self._waiters.clear()
        self._ended.clear()
        self._checks = _Checks()
        self._wakes_at = math.inf
        return waiters


def outcome_of(row: OutcomeRow, loads: Loads) -> Any:
    """The output of an ended instance's row, or :class:`WorkflowFailed`: what
    ``outcome(Instance.from_row(row))`` says, without decoding the rest of the row."""
    status = InstanceStatus(row["status"])
    if status is InstanceStatus.SUCCEEDED:
        output = row["output"]
        return None if output is None else loads(output)
    error = row["error"]
    raise WorkflowFailed.of(row["id"], status, None if error is None else json.loads(error))
