"""Flow control: queue limits, paused workflows and steps, dependency concurrency limits.

Settings live in the database, so an operator changes them from any machine (``daytwo
queues set``, ``daytwo pause``) and every worker follows. Workers read them through
:class:`FlowControl`, which caches a :class:`FlowSettings` snapshot for a second: a change
takes effect within that time without a query per claim or per step.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from daytwo.store._breaker_admin import BreakerControl
from daytwo.store._flow_changes import FlowChanges, QueueSettings, held_at
from daytwo.store._names import Catalog, NameCheck
from daytwo.store._schema import (
    READY,
    RUNNING,
    dependency_limits,
    instances,
    pauses,
    queues,
)
from daytwo.store._slots import DependencySlots
from daytwo.store._store import Store
from daytwo.store._vocabulary import InstanceStatus

__all__ = ["FlowControl", "FlowSettings", "QueueSettings"]

#: How long workers trust a settings snapshot (seconds).
SETTINGS_TTL = 1.0
#: How long a snapshot is trusted while change notifications arrive (a PostgreSQL worker
#: whose listener is connected): every change is announced, so this is only a backstop.
FOLLOWED_TTL = 60.0


@dataclass(frozen=True)
class FlowSettings:
    """Everything flow control says at one moment."""

    queues: dict[str, QueueSettings] = field(default_factory=dict)
    #: Workflows whose new instances are not started.
    paused_starts: frozenset[str] = frozenset()
    #: (workflow, step) pairs at which instances stop and wait.
    paused_steps: frozenset[tuple[str, str]] = frozenset()
    #: Dependency name -> cluster-wide concurrency limit.
    dependency_limits: dict[str, int] = field(default_factory=dict)

    def queue(self, name: str) -> QueueSettings:
        """The settings of queue ``name`` (no limits if it has none)."""
        return self.queues.get(name) or QueueSettings(name)


class FlowControl(FlowChanges):
    """Reads and changes flow-control settings; caches them for workers."""

    def __init__(
        self,
        store: Store,
        now: Callable[[], float],
        local_names: Callable[[], Catalog] | None = None,
    ) -> None:
        self.store = store
        self._now = now
        #: Refuses names nothing has; ``local_names`` are the calling app's own.
        self.names = NameCheck(store, local_names)
        self.slots = DependencySlots(store, now)
        #: The circuit breakers per dependency (their states follow settings changes).
        self.breakers = BreakerControl(store, now)
        self._lock = threading.Lock()
        self._cached: FlowSettings | None = None
        self._read_at = 0.0
        self._following: Callable[[], bool] | None = None
        insert = postgresql.insert if store.dialect == "postgresql" else sqlite.insert
        self._insert = insert

    # -- reading --------------------------------------------------------------------------

    def follow(self, receiving: Callable[[], bool] | None) -> None:
        """Trust snapshots longer while ``receiving()`` says change notifications arrive.

        A worker whose listener hears every change (it calls :meth:`invalidate` on each)
        passes the listener's state; None goes back to re-reading every second.
        """
        with self._lock:
            self._following = receiving

    def settings(self, *, fresh: bool = False) -> FlowSettings:
        """The current settings, at most :data:`SETTINGS_TTL` old unless ``fresh``.

        While :meth:`follow` says change notifications arrive, up to :data:`FOLLOWED_TTL`.
        """
        with self._lock:
            following = self._following is not None and self._following()
            ttl = FOLLOWED_TTL if following else SETTINGS_TTL
            fresh_enough = time.monotonic() - self._read_at < ttl
            if not fresh and self._cached is not None and fresh_enough:
                return self._cached
            with self.store.read() as conn:
                queue_rows = conn.execute(sa.select(queues)).mappings().all()
                pause_rows = conn.execute(sa.select(pauses.c.workflow, pauses.c.step)).all()
                limit_rows = conn.execute(sa.select(dependency_limits)).mappings().all()
            self._cached = FlowSettings(
                queues={
                    row["name"]: QueueSettings(
                        row["name"],
                        row["concurrency"],
                        row["worker_concurrency"],
                        row["rate_limit"],
                        row["rate_period"],
                    )
                    for row in queue_rows
                },
                paused_starts=frozenset(workflow for workflow, step in pause_rows if not step),
                paused_steps=frozenset((workflow, step) for workflow, step in pause_rows if step),
                dependency_limits={row["name"]: row["concurrency"] for row in limit_rows},
            )
            self._read_at = time.monotonic()
            return self._cached

    def invalidate(self) -> None:
        """Forget the cached snapshot (after a change made by this process)."""
        with self._lock:
            self._cached = None
        self.breakers.invalidate()

    def queue_status(self) -> list[dict[str, Any]]:
        """Per queue: settings, runnable backlog, running instances, oldest runnable age."""
        settings = self.settings(fresh=True)
        now = self._now()
        with self.store.read() as conn:
            backlog = {
                row.queue: (row.count, row.oldest)
                for row in conn.execute(
                    sa.select(
                        instances.c.queue,
                        sa.func.count().label("count"),
                        sa.func.min(instances.c.created_at).label("oldest"),
                    )
                    .where(sa.text(READY))
                    .group_by(instances.c.queue)
                )
            }
            running: dict[str, int] = {
                queue: count
                for queue, count in conn.execute(
                    sa.select(instances.c.queue, sa.func.count())
                    .where(sa.text(RUNNING))
                    .group_by(instances.c.queue)
                ).tuples()
            }
        names = sorted(set(settings.queues) | set(backlog) | set(running))
        result = []
        for name in names:
            count, oldest = backlog.get(name, (0, None))
            result.append(
                {
                    **settings.queue(name).to_dict(),
                    "runnable": count,
                    "running": running.get(name, 0),
                    "oldest_runnable_seconds": None if oldest is None else max(now - oldest, 0),
                }
            )
        return result

    def wake_if_resumed(self, instance_id: str, workflow: str, step: str) -> bool:
        """Make an instance that just suspended at a paused step runnable if the pause is gone.

        Called after the suspension committed: a resume that committed between the run's
        look at the pauses and its suspension found nothing to wake, and nothing else
        would wake the instance. Returns whether it was woken. On PostgreSQL the pause row
        is share-locked first, so a resume in flight either waits for this check or is
        waited for by it (a plain read could miss both ways under READ COMMITTED).
        """
        still_paused = (
            sa.select(pauses.c.workflow)
            .where(pauses.c.workflow == workflow, pauses.c.step == step)
            .limit(1)
        )
        if self.store.dialect == "postgresql":
            with self.store.write() as conn:
                if conn.execute(still_paused.with_for_update(read=True)).first() is not None:
                    return False
                return self._wake_paused(conn, instance_id, step)
        # SQLite serializes write transactions: a resume is wholly before this read (which
        # then sees the pause gone) or wholly after it (and then wakes the instance itself).
        with self.store.read() as conn:
            if conn.execute(still_paused).first() is not None:
                return False
        with self.store.write() as conn:
            return self._wake_paused(conn, instance_id, step)

    def _wake_paused(self, conn: sa.Connection, instance_id: str, step: str) -> bool:
        now = self._now()
        woken = conn.execute(
            instances.update()
            .where(instances.c.id == instance_id, held_at(step))
            .values(status=InstanceStatus.RUNNABLE, run_at=now, updated_at=now)
            .returning(instances.c.queue)
        ).first()
        if woken is not None:
            self.store.notify_workers(conn, woken.queue)
        return woken is not None

    def list_pauses(self) -> list[dict[str, Any]]:
        """Every pause in force, with how many instances it holds."""
        with self.store.read() as conn:
            rows = conn.execute(sa.select(pauses).order_by(pauses.c.workflow, pauses.c.step))
            result = [dict(row) for row in rows.mappings()]
            for entry in result:
                if entry["step"]:
                    held = held_at(entry["step"])
                else:
                    held = sa.and_(sa.text(READY), instances.c.history_size == 0)
                entry["held"] = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(instances)
                    .where(instances.c.workflow == entry["workflow"], held)
                ).scalar_one()
        return result

    def dependency_status(self) -> list[dict[str, Any]]:
        """Per limited dependency: its limit and the calls in flight now."""
        settings = self.settings(fresh=True)
        in_flight = self.slots.in_flight()
        return [
            {"name": name, "concurrency": limit, "in_flight": in_flight.get(name, 0)}
            for name, limit in sorted(settings.dependency_limits.items())
        ]

    # -- dependency slots (used by running instances) --------------------------------------

    def acquire_slot(
        self, dependency: str, limit: int, instance_id: str, token: int, branch: int = 0
    ) -> bool:
        """Take one of ``limit`` slots of ``dependency`` for this instance's current lease
        (``branch``: a fan-out branch's position, for a slot of its own)."""
        return self.slots.acquire(dependency, limit, instance_id, token, branch)

    def release_slot(self, dependency: str, instance_id: str, token: int, branch: int = 0) -> None:
        """Give back the slot taken under lease ``token`` (see :meth:`DependencySlots.release`)."""
        self.slots.release(dependency, instance_id, token, branch)
