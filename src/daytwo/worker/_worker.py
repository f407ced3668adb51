"""The worker: claims due instances, runs them on a thread pool, keeps their leases alive.

One worker process runs up to ``concurrency`` instances at once. Waiting instances are not
held by the worker at all; they are rows with a wake-up time or an awaited event, so a
worker with four threads serves any number of them.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future, wait
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from daytwo.engine import FakeClock, RunResult, StepLoop, execute
from daytwo.store import DirectWriter, GroupCommitter, QueueLimits, WakeReceiver, WriterClosed
from daytwo.worker._registration import (
    registration,
    release_dead_workers,
    warn_about_unserved_work,
)
from daytwo.worker._scheduler import declare_schedules
from daytwo.worker._threads import RunThreads
from daytwo.worker._wakeups import RECONNECT_BACKOFF, WakeListener

if TYPE_CHECKING:
    from daytwo.worker._host import WorkerHost

__all__ = ["BackgroundService", "Worker"]

log = logging.getLogger("daytwo.worker")

#: Seconds between fallback polls while LISTEN/NOTIFY wake-ups are being received.
LISTENING_POLL_INTERVAL = 2.0
#: The leases of runs that outlive the shutdown grace are given back claimable this many
#: seconds later: by then this process has exited (``daytwo worker``), so another worker
#: never runs a step while it still runs here.
RELEASE_MARGIN = 1.0


@runtime_checkable
class BackgroundService(Protocol):
    """Periodic work a worker runs besides instances (e.g. the SLO evaluator).

    The worker calls :meth:`run_once` on a thread of its own every ``interval`` seconds of
    real time until it stops; an exception is logged and the next round runs as usual.
    Services that must run once per cluster coordinate through the store themselves. A
    service with a ``close()`` method (e.g. one serving HTTP) is closed when the worker
    stops.
    """

    name: str

    @property
    def interval(self) -> float:
        """Seconds of real time between rounds (read after each round)."""
        ...

    def run_once(self) -> None:
        """Do one round of work."""
        ...


class Worker:
    """Runs the instances of one app's workflows.

    ``lease_seconds`` is how long a claim lasts without a heartbeat (another worker takes
    over an instance whose worker died after at most this long); ``poll_interval`` bounds
    how long a change made by another process may go unnoticed; ``shutdown_grace`` is how
    long :meth:`stop` lets running instances finish before giving their leases back;
    ``services`` run alongside (see :class:`BackgroundService`; ``daytwo worker`` passes the
    SLO evaluator this way, so the worker itself knows nothing of SLOs).
    """

    def __init__(
        self,
        host: WorkerHost,
        *,
        concurrency: int = 8,
        lease_seconds: float = 30.0,
        poll_interval: float = 0.25,
        shutdown_grace: float = 30.0,
        group_commit: bool = True,
        queues: Sequence[str] = ("default",),
        services: Sequence[BackgroundService] = (),
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1 (got {concurrency})")
        if not queues:
            raise ValueError("a worker needs at least one queue to serve")
        if lease_seconds <= 0 or poll_interval <= 0:
            raise ValueError("lease_seconds and poll_interval must be positive")
        #: What the worker runs with (``App.worker()`` passes its app's).
        self.host = host
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self.shutdown_grace = shutdown_grace
        self.queues = tuple(dict.fromkeys(queues))
        self.id = f"{socket.gethostname()[:24]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._group_commit = group_commit
        self._writer: GroupCommitter | DirectWriter | None = None
        self._run_threads: RunThreads[RunResult | None] | None = None
        # The event loop of async steps: its thread starts at the first one (a worker of
        # sync code has none), and ends with the worker.
        self._step_loop = StepLoop(name="daytwo-async-steps")
        # instance id -> (lease token of our claim, its run)
        self._inflight: dict[str, tuple[int, Future[RunResult | None]]] = {}
        self._inflight_by_queue: Counter[str] = Counter()
        # Runs still going when the grace ended: their leases were given back.
        self._abandoned: set[str] = set()
        self._next_queue = 0
        self._empty_passes = 0
        self._listener: WakeListener | None = None
        self._receiver: WakeReceiver | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        # Leases are renewed until the very end of a shutdown, so that instances finishing
        # during the grace period are not taken over (and run twice) by another worker.
        self._heartbeat_stop = threading.Event()
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []
        self.services = [*host.services, *services]
        self._service_threads: list[threading.Thread] = []
        self.completed = 0

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> Worker:
        """Start claiming and running in background threads; returns at once."""
        store = self.host.store
        serving = registration(
            self.host.registry, self.id, now=self.host.clock.now(), queues=self.queues,
            concurrency=self.concurrency, lease_seconds=self.lease_seconds,
        )  # fmt: skip
        store.register_worker(serving.to_row())
        # The code's circuit breakers, stored unless an operator's setting is (it wins).
        self.host.flow.breakers.declare(self.host.registry.breakers)
        declare_schedules(store, self.host.clock, self.host.registry)  # likewise the schedules
        self.host.worker_started(self.id)
        self._release_dead_workers()
        warn_about_unserved_work(store, self.host.clock.now(), serving)
        self._writer = GroupCommitter(store) if self._group_commit else DirectWriter(store)
        self._run_threads = RunThreads(self.concurrency, name="daytwo-run")
        self.host.add_listener(self.wake)
        if store.dialect == "postgresql":
            listener = WakeListener(
                store.engine.url, self.wake, name=self.id, on_settings=self._settings_changed
            )
            self._listener = listener.start()
            # Every settings change is announced: no need to re-read them every second.
            self.host.flow.follow(lambda: listener.connected)
        else:  # SQLite: a datagram from the process that stored the work (_wake_sockets.py)
            receiver = store.wake_receiver(self.wake, name=self.id)
            if receiver is not None and receiver.start():
                self._receiver = receiver
        for target, name in ((self._claim_loop, "claim"), (self._heartbeat_loop, "heartbeat")):
            thread = threading.Thread(target=target, name=f"daytwo-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        for service in self.services:
            thread = threading.Thread(
                target=self._service_loop, args=(service,), name=f"daytwo-{service.name}",
                daemon=True,
            )  # fmt: skip
            thread.start()
            self._service_threads.append(thread)
        log.info("worker %s started (concurrency %d)", self.id, self.concurrency)
        return self

    def run(self) -> None:
        """Start, then block until SIGTERM/SIGINT (or :meth:`stop`), then shut down."""
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, lambda *_: self._stopping.set())
        self.start()
        while not self._stopping.wait(0.5):
            pass
        self.stop()

    def stop(self, grace: float | None = None) -> None:
        """Stop claiming, let running instances finish for ``grace`` seconds, release the rest.

        A run still going when the grace ends is abandoned: its lease is given back (the
        instance is claimable :data:`RELEASE_MARGIN` seconds later) and its late writes are
        refused and dropped. Its thread is a daemon thread, so ``daytwo worker`` exits at
        once instead of waiting for the step; in a process that goes on after ``stop()``
        the step function runs on until it returns, and its result is discarded.
        """
        if self._stopped.is_set():
            return
        self._stopping.set()
        self._wake.set()
        claim_thread, heartbeat_thread = self._threads
        claim_thread.join()
        for service in self.services:
            getattr(service, "woken", threading.Event()).set()
        for thread in self._service_threads:
            thread.join()
        for service in self.services:
            close = getattr(service, "close", None)
            if close is not None:
                close()
        grace = self.shutdown_grace if grace is None else grace
        with self._lock:
            pending = [future for _, future in self._inflight.values()]
        if pending:
            wait(pending, timeout=grace)
        self.host.remove_listener(self.wake)
        if self._listener is not None:
            self.host.flow.follow(None)
            self._listener.stop()
        if self._receiver is not None:
            self._receiver.stop()
        # From here on a run's write is refused (WriterClosed), so nothing it does after
        # the grace can be committed, and releasing its lease cannot race its last write.
        if self._writer is not None:
            self._writer.close()
        with self._lock:
            leftover = list(self._inflight)
            self._abandoned.update(leftover)
        if leftover:
            now = self.host.clock.now()
            released = self.host.store.release_leases(
                self.id, leftover, now, claimable_at=now + RELEASE_MARGIN
            )
            log.warning(
                "worker %s: %d instance(s) still running after the %g s shutdown grace (%s); "
                "gave back %d lease(s): another worker resumes them from their last durable "
                "point, and what their runs here do from now on is dropped",
                self.id, len(leftover), grace, ", ".join(sorted(leftover)), released,
            )  # fmt: skip
        self._heartbeat_stop.set()
        heartbeat_thread.join()
        if self._run_threads is not None:
            self._run_threads.shutdown()
        self._step_loop.close()
        self.host.store.worker_heartbeat(self.id, self.host.clock.now(), stopped=True)
        self.host.worker_stopped(self.id)
        self._stopped.set()
        log.info("worker %s stopped", self.id)

    def __enter__(self) -> Worker:
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.stop()

    def wake(self) -> None:
        """Look for work now (called when this process starts or signals an instance)."""
        self._wake.set()

    def _settings_changed(self) -> None:
        # A raised limit or a lifted pause may allow claims right away.
        self.host.flow.invalidate()
        self.wake()

    @property
    def inflight(self) -> int:
        """How many instances this worker is running right now."""
        with self._lock:
            return len(self._inflight)

    def drain(self, timeout: float = 30.0) -> None:
        """Block until nothing is running and nothing is claimable (for tests and scripts).

        Claimable is what a claim would take now: instances held back by a pause or a
        queue limit, or waiting for a later time, do not keep the worker busy. So a
        worker that shares a queue limit with other workers can be idle while they
        hold every slot; to know that instances are done, wait for them
        (:meth:`App.result`).
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                pending = [future for _, future in self._inflight.values()]
            if pending:
                wait(pending, timeout=max(deadline - time.monotonic(), 0))
                continue
            # Two empty claim passes after the wake-up: the second began after it.
            seen = self._empty_passes
            self.wake()
            while self._empty_passes < seen + 2 and not self.inflight:
                if time.monotonic() > deadline or self._stopping.is_set():
                    break
                time.sleep(0.002)
                self.wake()
            if not self.inflight and self._empty_passes >= seen + 2:
                return
        raise TimeoutError(f"worker did not become idle within {timeout} s")

    def _service_loop(self, service: BackgroundService) -> None:
        # A service with a ``woken`` event (the scheduler) may end its wait early.
        woken: threading.Event | None = getattr(service, "woken", None)
        while not self._stopping.is_set():
            try:
                service.run_once()
            except Exception:
                log.exception("background service %s failed; it runs again in %.0f s",
                              service.name, service.interval)  # fmt: skip
            if woken is None:
                self._stopping.wait(service.interval)
            else:
                woken.wait(service.interval)
                woken.clear()

    # -- claiming -------------------------------------------------------------------------

    def _claim_loop(self) -> None:
        store = self.host.store
        clock = self.host.clock
        pairs = self.host.registry.pairs()
        names = frozenset(name for name, _ in pairs)
        failures = 0
        while not self._stopping.is_set():
            self._wake.clear()
            free = self.concurrency - self.inflight
            if free <= 0:
                self._wake.wait(self.poll_interval)  # a finished run wakes us
                continue
            try:
                # Claim first (it rides along with the next group commit); only when the
                # claim comes back short is it worth asking when the next one is due.
                paused = self.host.flow.settings().paused_starts & names
                now = clock.now()
                claimed = self._claim_queues(pairs, now, free, paused)
                if claimed == free:
                    continue
                if not claimed:
                    self._empty_passes += 1
                due = store.next_due(pairs, self.queues, paused)
            except Exception as exc:
                # Typically the database restarting or unreachable: back off.
                failures += 1
                delay = RECONNECT_BACKOFF.delay(failures)
                if failures == 1:
                    log.exception("worker %s: claiming failed; retrying", self.id)
                else:
                    log.warning(
                        "worker %s: claiming failed %d times (%s); retrying in %.1f s",
                        self.id, failures, exc, delay,
                    )  # fmt: skip
                self._stopping.wait(delay)
                continue
            if failures:
                log.info("worker %s: database reachable again", self.id)
                failures = 0
            timeout = self.poll_interval
            if self._listener is not None and self._listener.connected:
                # Notifications wake us for new work; polling only covers what sends none.
                timeout = max(timeout, LISTENING_POLL_INTERVAL)
            if due is not None and due <= now:
                # Due when we claimed, yet not taken: a queue limit holds it back (or another
                # worker took it). Only a run ending frees a slot, so poll, not spin.
                timeout = self.poll_interval
            elif due is not None:
                until_due = due - clock.now()
                if until_due <= 0:
                    timeout = 0.0
                elif not isinstance(clock, FakeClock):  # fake time: advance() wakes us
                    timeout = min(timeout, until_due)
            self._wake.wait(timeout)

    def _claim_queues(
        self, pairs: list[tuple[str, str]], now: float, free: int, paused: frozenset[str]
    ) -> int:
        """Claim up to ``free`` instances from this worker's queues; return how many.

        Queues take turns going first, so a busy queue cannot starve the others; each
        queue's per-worker and cluster-wide limits cut its share. Workflows in ``paused``
        start no new instances.
        """
        settings = self.host.flow.settings()
        order = self.queues[self._next_queue :] + self.queues[: self._next_queue]
        self._next_queue = (self._next_queue + 1) % len(self.queues)
        claimed = 0
        for queue in order:
            queue_settings = settings.queue(queue)
            limit = free - claimed
            if queue_settings.worker_concurrency is not None:
                with self._lock:
                    running = self._inflight_by_queue[queue]
                limit = min(limit, queue_settings.worker_concurrency - running)
            if limit <= 0:
                continue
            rows = self._claim(pairs, now, limit, queue, paused, queue_settings.limits)
            for row in rows:
                self._submit(row)
            claimed += len(rows)
            if claimed >= free:
                break
        return claimed

    def _claim(
        self,
        pairs: list[tuple[str, str]],
        now: float,
        limit: int,
        queue: str,
        paused: frozenset[str],
        limits: QueueLimits,
    ) -> list[Any]:
        options: dict[str, Any] = {
            "now": now,
            "lease_seconds": self.lease_seconds,
            "limit": limit,
            "queue": queue,
            "paused": paused,
            "limits": limits,
        }
        if isinstance(self._writer, GroupCommitter):
            # Ride along with the next group commit instead of paying a commit per claim.
            return self._writer.claim(self.id, pairs, **options)
        return list(self.host.store.claim(self.id, pairs, **options))

    def _submit(self, row: Any) -> None:
        assert self._run_threads is not None
        with self._lock:
            future = self._run_threads.submit(lambda: self._run_one(row))
            self._inflight[row["id"]] = (row["lease_token"], future)
            self._inflight_by_queue[row["queue"]] += 1

    def _run_one(self, row: Any) -> RunResult | None:
        assert self._writer is not None
        result: RunResult | None = None
        try:
            result = execute(self.host.runtime, self._writer, row, step_loop=self._step_loop)
            return result
        except Exception as exc:
            if isinstance(exc, WriterClosed) or row["id"] in self._abandoned:
                # It outlived the shutdown grace; its lease was given back already.
                log.info(
                    "worker %s: the run of %s abandoned at shutdown ended; nothing of it "
                    "after the grace was recorded",
                    self.id, row["id"],
                )  # fmt: skip
                return None
            # An engine or database error, not a workflow failure (those are recorded).
            # Give the lease back so the instance is retried soon; if even that fails,
            # the lease simply expires.
            log.exception("worker %s: running instance %s failed; releasing it", self.id, row["id"])
            try:
                self.host.store.release_leases(self.id, [row["id"]], self.host.clock.now() + 1.0)
            except Exception:
                log.warning("worker %s: could not release %s", self.id, row["id"])
            return None
        finally:
            with self._lock:
                # If our own lease expired and we claimed the instance again, the newer
                # run owns the entry now.
                entry = self._inflight.get(row["id"])
                if entry is not None and entry[0] == row["lease_token"]:
                    del self._inflight[row["id"]]
                self._inflight_by_queue[row["queue"]] -= 1
                self.completed += 1
            self._wake.set()
            self.host.run_finished(row["id"], result is not None and result.kind == "finished")

    # -- leases ---------------------------------------------------------------------------

    def _heartbeat_loop(self) -> None:
        interval = min(self.lease_seconds / 3, 5.0)
        while not self._heartbeat_stop.wait(interval):
            with self._lock:
                running = list(self._inflight)
            try:
                now = self.host.clock.now()
                self.host.store.renew_leases(self.id, running, now + self.lease_seconds)
                self.host.store.worker_heartbeat(self.id, now)
                self._release_dead_workers()
            except Exception:
                log.exception("worker %s: heartbeat failed", self.id)

    def _release_dead_workers(self) -> None:
        release_dead_workers(self.host.store, self.host.clock, self.id)
