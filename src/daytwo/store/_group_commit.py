"""Writers: apply instance writes directly, or group-commit many instances' writes at once.

A commit in SQLite (synchronous=FULL) or PostgreSQL costs one fsync no matter how many rows
it carries. A worker running many instances therefore funnels their writes through one
:class:`GroupCommitter` thread, which applies everything that queued up during the previous
commit in a single transaction. Each caller still returns only once its own write is
durable.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from daytwo.store._claims import UNLIMITED, ClaimRequest, QueueLimits, claim_params
from daytwo.store._store import Store
from daytwo.store._writes import InstanceWrite, WriteOutcome

__all__ = ["DirectWriter", "GroupCommitter", "WriterClosed"]

log = logging.getLogger("daytwo.store")


class WriterClosed(RuntimeError):
    """A write came after its writer was closed: its worker stopped and gave the lease back.

    What a run that outlived its worker's shutdown grace gets at its next durable point;
    the worker drops it quietly (the run's results would be fenced off anyway).
    """

    def __init__(self) -> None:
        super().__init__("the writer is closed: its worker stopped and gave the lease back")


def _instance_id(item: tuple[InstanceWrite, object]) -> str:
    return item[0].instance_id


class DirectWriter:
    """Applies each write in its own transaction, in the calling thread."""

    batches = False

    def __init__(self, store: Store) -> None:
        self.store = store
        self._closed = False

    def commit(self, write: InstanceWrite, *, wait: bool = True) -> WriteOutcome | None:
        """Apply ``write`` now."""
        if self._closed:
            raise WriterClosed()
        return self.store.apply([write])[0]

    def close(self) -> None:
        """Refuse further writes (:class:`WriterClosed`)."""
        self._closed = True


class GroupCommitter:
    """One thread that commits the queued writes of many instances per transaction."""

    batches = True

    def __init__(self, store: Store, *, max_batch: int = 512) -> None:
        self.store = store
        self.max_batch = max_batch
        self._queue: deque[tuple[InstanceWrite, Future[WriteOutcome] | None]] = deque()
        self._claims: list[ClaimRequest] = []
        self._cond = threading.Condition()
        self._closed = False
        self.commits = 0
        self.writes = 0
        self._thread = threading.Thread(target=self._loop, name="daytwo-group-commit", daemon=True)
        self._thread.start()

    def commit(self, write: InstanceWrite, *, wait: bool = True) -> WriteOutcome | None:
        """Queue ``write``; with ``wait``, block until it is committed and return the outcome."""
        future: Future[WriteOutcome] | None = Future() if wait else None
        with self._cond:
            if self._closed:
                raise WriterClosed()
            self._queue.append((write, future))
            self._cond.notify()
        return future.result() if future is not None else None

    def claim(
        self,
        owner: str,
        workflows: Sequence[tuple[str, str]],
        *,
        now: float,
        lease_seconds: float,
        limit: int,
        queue: str = "default",
        paused: frozenset[str] = frozenset(),
        limits: QueueLimits = UNLIMITED,
    ) -> list[dict[str, Any]]:
        """Claim due instances inside the next group commit (no commit of its own)."""
        request = ClaimRequest(
            queue,
            tuple(workflows),
            claim_params(owner, now=now, lease_seconds=lease_seconds, limit=limit),
            paused=paused,
            limits=limits,
        )
        with self._cond:
            if self._closed:
                raise WriterClosed()
            self._claims.append(request)
            self._cond.notify()
        return request.future.result()

    def close(self) -> None:
        """Commit what is queued, then stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._claims and not self._closed:
                    self._cond.wait()
                if not self._queue and not self._claims and self._closed:
                    return
                count = min(len(self._queue), self.max_batch)
                batch = [self._queue.popleft() for _ in range(count)]
                claims, self._claims = self._claims, []
            # Row locks in one order (the instance id), as the heartbeat's lease renewal
            # takes them: in arrival order, PostgreSQL found the two deadlocked now and
            # then. The sort is stable: two writes of one instance keep their order.
            batch.sort(key=_instance_id)
            try:
                outcomes = self.store.apply([write for write, _ in batch], claims)
            except BaseException as exc:  # the callers decide what a failed commit means
                log.warning("group commit of %d writes failed: %r", len(batch), exc, exc_info=True)
                for _, future in batch:
                    if future is not None:
                        future.set_exception(exc)
                for claim in claims:
                    if not claim.future.done():
                        claim.future.set_exception(exc)
                continue
            self.commits += 1
            self.writes += len(batch)
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future is not None:
                    future.set_result(outcome)
