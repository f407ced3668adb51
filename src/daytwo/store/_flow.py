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
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from daytwo._errors import InvalidInput
from daytwo.store._audit import (
    AuditEntry,
    AuditTarget,
    OperatorAction,
    append_audit,
    recording_refusals,
    resolve_actor,
)
from daytwo.store._breaker_admin import BreakerControl
from daytwo.store._claims import UNLIMITED, QueueLimits
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
from daytwo.store._vocabulary import InstanceStatus, WaitKind

__all__ = ["FlowControl", "FlowSettings", "QueueSettings"]

#: How long workers trust a settings snapshot (seconds).
SETTINGS_TTL = 1.0
#: How long a snapshot is trusted while change notifications arrive (a PostgreSQL worker
#: whose listener is connected): every change is announced, so this is only a backstop.
FOLLOWED_TTL = 60.0


@dataclass(frozen=True, slots=True)
class QueueSettings:
    """A queue's limits as configured (None: no limit)."""

    name: str
    concurrency: int | None = None
    worker_concurrency: int | None = None
    rate_limit: int | None = None
    rate_period: float | None = None

    @property
    def limits(self) -> QueueLimits:
        """The cluster-wide part, enforced by claims."""
        if self.concurrency is None and self.rate_limit is None:
            return UNLIMITED
        return QueueLimits(self.concurrency, self.rate_limit, self.rate_period)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


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


class FlowControl:
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

    # -- changing -------------------------------------------------------------------------

    def set_queue(
        self,
        name: str,
        *,
        concurrency: int | None = None,
        worker_concurrency: int | None = None,
        rate_limit: int | None = None,
        rate_period: float | None = None,
        force: bool = False,
        reason: str | None = None,
        by: str | None = None,
    ) -> QueueSettings:
        """Create or replace a queue's limits (None removes a limit). Audited.

        A queue name that no worker, workflow, setting or instance uses is refused with the
        known ones, unless ``force``.
        """
        params = {
            "concurrency": concurrency,
            "worker_concurrency": worker_concurrency,
            "rate_limit": rate_limit,
            "rate_period": rate_period,
        }
        entry = self._entry(OperatorAction.QUEUE_SET, AuditTarget.QUEUE, name, reason, by, params)
        with self._refusals(entry):
            self._check_queue(name, concurrency, worker_concurrency, rate_limit, rate_period, force)
            values = {**params, "updated_at": self._now()}
            self._upsert(queues, {"name": name, **values}, ["name"], values, entry)
        return QueueSettings(name, concurrency, worker_concurrency, rate_limit, rate_period)

    def _check_queue(
        self,
        name: str,
        concurrency: int | None,
        worker_concurrency: int | None,
        rate_limit: int | None,
        rate_period: float | None,
        force: bool,
    ) -> None:
        for label, value in (
            ("concurrency", concurrency),
            ("worker concurrency", worker_concurrency),
            ("rate limit", rate_limit),
        ):
            if value is not None and value < 1:
                raise InvalidInput(f"queue {label} must be at least 1 (got {value})")
        if (rate_limit is None) != (rate_period is None):
            raise InvalidInput("a rate limit needs both a count and a period, e.g. 10 per 60 s")
        if rate_period is not None and rate_period <= 0:
            raise InvalidInput(f"rate period must be positive (got {rate_period})")
        if not force:
            self.names.queue(name)

    def pause(
        self,
        workflow: str,
        step: str | None = None,
        *,
        reason: str | None,
        by: str | None,
        force: bool = False,
    ) -> None:
        """Pause new starts of ``workflow`` or, with ``step``, that step of it. Audited.

        A workflow or step that nothing knows (a typo) is refused with the known names,
        unless ``force``.
        """
        entry = self._entry(
            OperatorAction.PAUSE, AuditTarget.WORKFLOW, workflow, reason, by, {"step": step}
        )
        with self._refusals(entry):
            if not force:
                if step:
                    self.names.step(workflow, step)
                else:
                    self.names.workflow(workflow)
            row = {
                "workflow": workflow,
                "step": step or "",
                "reason": reason,
                "paused_by": entry.actor,
                "paused_at": self._now(),
            }
            update = {"reason": reason, "paused_by": entry.actor}
            self._upsert(pauses, row, ["workflow", "step"], update, entry)

    def resume(
        self,
        workflow: str,
        step: str | None = None,
        *,
        reason: str | None = None,
        by: str | None = None,
    ) -> int:
        """Lift a pause; instances held at a paused step become runnable. Returns how many.
        Audited."""
        entry = self._entry(
            OperatorAction.UNPAUSE, AuditTarget.WORKFLOW, workflow, reason, by, {"step": step}
        )
        with self._refusals(entry):
            released = self._resume(workflow, step, entry)
        self.invalidate()
        return released

    def _resume(self, workflow: str, step: str | None, entry: AuditEntry) -> int:
        now = self._now()
        with self.store.write() as conn:
            found = conn.execute(
                pauses.delete().where(pauses.c.workflow == workflow, pauses.c.step == (step or ""))
            ).rowcount
            if not found:
                what = f"step {step!r} of workflow {workflow!r}" if step else repr(workflow)
                raise InvalidInput(f"{what} is not paused; see `daytwo pauses`")
            self.store.notify_settings_changed(conn)
            released = 0
            if step:
                released = conn.execute(
                    instances.update()
                    .where(instances.c.workflow == workflow, _held_at(step))
                    .values(status=InstanceStatus.RUNNABLE, run_at=now, updated_at=now)
                ).rowcount
            for queue in conn.execute(
                sa.select(instances.c.queue.distinct()).where(
                    sa.text(READY), instances.c.workflow == workflow
                )
            ).scalars():
                self.store.notify_workers(conn, queue)
            append_audit(conn, replace(entry, count=int(released)), now)
        return int(released)

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
            .where(instances.c.id == instance_id, _held_at(step))
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
                    held = _held_at(entry["step"])
                else:
                    held = sa.and_(sa.text(READY), instances.c.history_size == 0)
                entry["held"] = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(instances)
                    .where(instances.c.workflow == entry["workflow"], held)
                ).scalar_one()
        return result

    def set_dependency_limit(
        self,
        name: str,
        concurrency: int | None,
        *,
        force: bool = False,
        reason: str | None = None,
        by: str | None = None,
    ) -> None:
        """Limit concurrent calls to dependency ``name`` across the cluster (None: no limit).
        Audited.

        A dependency that no step calls is refused with the known ones, unless ``force``.
        """
        entry = self._entry(
            OperatorAction.DEPENDENCY_SET,
            AuditTarget.DEPENDENCY,
            name,
            reason,
            by,
            {"concurrency": concurrency},
        )
        with self._refusals(entry):
            if concurrency is None:
                with self.store.write() as conn:
                    conn.execute(dependency_limits.delete().where(dependency_limits.c.name == name))
                    self.store.notify_settings_changed(conn)
                    append_audit(conn, entry, self._now())
                self.invalidate()
                return
            if concurrency < 1:
                raise InvalidInput(f"dependency concurrency must be at least 1 (got {concurrency})")
            if not force:
                self.names.dependency(name)
            values = {"concurrency": concurrency, "updated_at": self._now()}
            self._upsert(dependency_limits, {"name": name, **values}, ["name"], values, entry)

    def dependency_status(self) -> list[dict[str, Any]]:
        """Per limited dependency: its limit and the calls in flight now."""
        settings = self.settings(fresh=True)
        in_flight = self.slots.in_flight()
        return [
            {"name": name, "concurrency": limit, "in_flight": in_flight.get(name, 0)}
            for name, limit in sorted(settings.dependency_limits.items())
        ]

    # -- dependency slots (used by running instances) --------------------------------------

    def acquire_slot(self, dependency: str, limit: int, instance_id: str, token: int) -> bool:
        """Take one of ``limit`` slots of ``dependency`` for this instance's current lease."""
        return self.slots.acquire(dependency, limit, instance_id, token)

    def release_slot(self, dependency: str, instance_id: str, token: int) -> None:
        """Give back the slot taken under lease ``token`` (see :meth:`DependencySlots.release`)."""
        self.slots.release(dependency, instance_id, token)

    # -- helpers --------------------------------------------------------------------------

    def _upsert(
        self,
        table: sa.Table,
        row: dict[str, Any],
        keys: list[str],
        update: dict[str, Any],
        audit: AuditEntry,
    ) -> None:
        with self.store.write() as conn:
            self._upsert_in(conn, table, row, keys, update)
            self.store.notify_settings_changed(conn)
            append_audit(conn, audit, self._now())
        self.invalidate()

    def _entry(
        self,
        action: OperatorAction,
        kind: AuditTarget,
        target: str,
        reason: str | None,
        by: str | None,
        params: dict[str, Any],
    ) -> AuditEntry:
        """The audit row of a settings change (the parameters that are set)."""
        given = {key: value for key, value in params.items() if value is not None}
        return AuditEntry(resolve_actor(by), action, kind, target, reason, given or None)

    def _refusals(self, entry: AuditEntry) -> AbstractContextManager[None]:
        return recording_refusals(self.store.record_audit, entry, self._now)

    def _upsert_in(
        self,
        conn: sa.Connection,
        table: sa.Table,
        row: dict[str, Any],
        keys: list[str],
        update: dict[str, Any],
    ) -> None:
        statement = self._insert(table).values(row)
        conn.execute(statement.on_conflict_do_update(index_elements=keys, set_=update))


def _held_at(step: str) -> sa.ColumnElement[bool]:
    """Instances suspended at a paused ``step`` (in state ``paused:STEP``)."""
    return sa.and_(
        instances.c.status == InstanceStatus.WAITING,
        instances.c.wait_kind == WaitKind.PAUSED,
        instances.c.wait_name == step,
    )
