"""Changing flow-control settings: queue limits, pauses and resumes, dependency limits.

:class:`FlowChanges` is the writing half of :class:`~daytwo.store.FlowControl` (which
reads and caches the settings for workers). Every change is audited in its own
transaction (``_audit.py``) and announced to the workers (``notify_settings_changed``).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from daytwo._errors import InvalidInput
from daytwo.store._audit import (
    AuditEntry,
    AuditTarget,
    OperatorAction,
    append_audit,
    recording_refusals,
    resolve_actor,
)
from daytwo.store._claims import UNLIMITED, QueueLimits
from daytwo.store._schema import READY, dependency_limits, instances, pauses, queues
from daytwo.store._vocabulary import InstanceStatus, WaitKind

if TYPE_CHECKING:
    from daytwo.store._names import NameCheck
    from daytwo.store._store import Store

__all__ = ["FlowChanges", "QueueSettings", "held_at"]


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


def held_at(step: str) -> sa.ColumnElement[bool]:
    """Instances suspended at a paused ``step`` (in state ``paused:STEP``)."""
    return sa.and_(
        instances.c.status == InstanceStatus.WAITING,
        instances.c.wait_kind == WaitKind.PAUSED,
        instances.c.wait_name == step,
    )


class FlowChanges:
    """Writes the settings; :class:`~daytwo.store.FlowControl` is built on it."""

    store: Store
    names: NameCheck
    _now: Callable[[], float]
    _insert: Any

    def invalidate(self) -> None:
        """Forget the cached snapshot (FlowControl's)."""
        raise NotImplementedError

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
                    .where(instances.c.workflow == workflow, held_at(step))
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
