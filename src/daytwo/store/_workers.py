"""Who serves what: worker registrations, live workers, and what no live worker serves.

A worker records at start the queues it claims from, the (workflow, version) pairs it runs
(with each workflow's default queue) and the app's steps with their dependencies. It is
*live* while it has not stopped and its last heartbeat is within its lease. An instance
that a worker could claim now (runnable, a fired timer, an expired lease) but that no live
worker serves — its queue, or its workflow version in that queue — would wait forever
without a word: :class:`Coverage` says why, for ``Instance.waiting_for``, ``daytwo slo
stuck``, the worker's start-up warnings and ``app.start``. Nothing here is on the claim
path: registrations are written once per worker and read by those who explain.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import sqlalchemy as sa

from daytwo.store._schema import RUNNING, instances, workers
from daytwo.store._store import Store
from daytwo.store._vocabulary import ACTIVE_STATUSES, InstanceStatus

__all__ = [
    "Coverage",
    "ServedWorkflow",
    "WorkerRegistration",
    "active_groups",
    "coverage",
    "in_flight_by_worker",
    "recent_registrations",
    "release_workers",
    "running_workers_on",
    "worker_registrations",
]

#: The lease assumed for a worker that registered none (an older daytwo's).
DEFAULT_LEASE_SECONDS = 30.0
#: How many of the latest registrations name-checking looks at (the table keeps every
#: worker that ever started).
RECENT_REGISTRATIONS = 200


class ServedWorkflow(NamedTuple):
    """A workflow version a worker runs, and the queue and priority its new instances
    start with (what a client without the code starts it with)."""

    name: str
    version: str
    queue: str
    #: Not recorded by the workers of earlier development builds: 0, the default.
    priority: int = 0
    #: The workflow's ``timeout`` in seconds (None: none, or a worker of an earlier build).
    timeout: float | None = None


@dataclass(frozen=True)
class WorkerRegistration:
    """What one worker process serves (None: unknown, a worker of an older daytwo)."""

    id: str
    host: str
    pid: int
    concurrency: int
    started_at: float
    heartbeat_at: float
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    queues: tuple[str, ...] | None = None
    workflows: tuple[ServedWorkflow, ...] | None = None
    steps: Mapping[str, str | None] = field(default_factory=dict)
    stopped_at: float | None = None

    def to_row(self) -> dict[str, Any]:
        """The ``workers`` row."""
        return {
            "id": self.id,
            "host": self.host,
            "pid": self.pid,
            "concurrency": self.concurrency,
            "started_at": self.started_at,
            "heartbeat_at": self.heartbeat_at,
            "stopped_at": self.stopped_at,
            "lease_seconds": self.lease_seconds,
            "queues": None if self.queues is None else json.dumps(list(self.queues)),
            "workflows": None
            if self.workflows is None
            else json.dumps([list(served) for served in self.workflows]),
            "steps": json.dumps(dict(self.steps)),
        }

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> WorkerRegistration:
        """Read a ``workers`` row."""
        queues, served = _json(row["queues"]), _json(row["workflows"])
        return cls(
            id=row["id"],
            host=row["host"],
            pid=row["pid"],
            concurrency=row["concurrency"],
            started_at=row["started_at"],
            heartbeat_at=row["heartbeat_at"],
            stopped_at=row["stopped_at"],
            lease_seconds=row["lease_seconds"] or DEFAULT_LEASE_SECONDS,
            queues=None if queues is None else tuple(queues),
            workflows=None if served is None else tuple(ServedWorkflow(*w) for w in served),
            steps=_json(row["steps"]) or {},
        )

    def live(self, now: float) -> bool:
        """Not stopped, and heard from within its lease."""
        return self.stopped_at is None and now - self.heartbeat_at <= self.lease_seconds

    @property
    def known(self) -> bool:
        """Whether it said what it serves."""
        return self.queues is not None and self.workflows is not None

    def serves(self, queue: str, workflow: str, version: str) -> bool:
        """Whether it would claim an instance of ``workflow`` ``version`` in ``queue``."""
        if not self.known:
            return True
        assert self.queues is not None and self.workflows is not None
        return queue in self.queues and any(
            (w.name, w.version) == (workflow, version) for w in self.workflows
        )


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _listing(names: Iterable[str]) -> str:
    return ", ".join(sorted(set(names))) or "nothing"


class Coverage:
    """What the live workers serve, and why an instance would wait with none to run it."""

    def __init__(self, live: Sequence[WorkerRegistration]) -> None:
        self.workers = list(live)
        self._anything = any(not worker.known for worker in self.workers)

    def serves(self, queue: str, workflow: str, version: str) -> bool:
        """Whether some live worker would claim such an instance."""
        return any(worker.serves(queue, workflow, version) for worker in self.workers)

    def unserved(self, queue: str, workflow: str, version: str) -> str | None:
        """Why no live worker would claim such an instance, in words; None if one would."""
        if self.serves(queue, workflow, version):
            return None
        if not self.workers:
            return "no live worker (start one: daytwo worker MODULE:APP)"
        in_queue = [w for w in self.workers if queue in (w.queues or ())]
        if not in_queue:
            served = _listing(q for w in self.workers for q in w.queues or ())
            return f"no worker serves queue {queue!r} (live workers serve {served})"
        versions = {v.version for w in in_queue for v in w.workflows or () if v.name == workflow}
        if versions:
            return (
                f"no worker serves {workflow} {version} (live workers serve {_listing(versions)})"
            )
        return f"no worker serves {workflow} {version} in queue {queue!r}"

    def served_condition(self, workflow: str) -> sa.ColumnElement[bool]:
        """SQL: instances of ``workflow`` that some live worker serves."""
        if self._anything:
            return sa.true()
        pairs = {
            (queue, served.version)
            for worker in self.workers
            for queue in worker.queues or ()
            for served in worker.workflows or ()
            if served.name == workflow
        }
        if not pairs:
            return sa.false()
        return sa.or_(
            *(
                sa.and_(
                    instances.c.workflow == workflow,
                    instances.c.queue == queue,
                    instances.c.version == version,
                )
                for queue, version in sorted(pairs)
            )
        )


def coverage(store: Store, now: float, *, also_live: Iterable[str] = ()) -> Coverage:
    """The live workers now; ``also_live`` are ids known to run (this process's workers,
    whose heartbeats may lag behind a fake clock)."""
    local = set(also_live)
    with store.read() as conn:
        rows = conn.execute(sa.select(workers).where(workers.c.stopped_at.is_(None))).mappings()
        registrations = [WorkerRegistration.from_row(row) for row in rows]
    return Coverage([r for r in registrations if r.id in local or r.live(now)])


def recent_registrations(
    store: Store, limit: int = RECENT_REGISTRATIONS
) -> list[WorkerRegistration]:
    """The latest registrations, live or not (what the cluster's code has been known to
    contain, for checking names given to flow-control commands)."""
    query = sa.select(workers).order_by(workers.c.started_at.desc()).limit(limit)
    with store.read() as conn:
        return [WorkerRegistration.from_row(row) for row in conn.execute(query).mappings()]


def active_groups(store: Store, workflows: Iterable[str]) -> list[tuple[str, str, str, int]]:
    """(workflow, version, queue, count) of the active instances of these workflows."""
    names = sorted(set(workflows))
    if not names:
        return []
    query = (
        sa.select(instances.c.workflow, instances.c.version, instances.c.queue, sa.func.count())
        .where(instances.c.workflow.in_(names), instances.c.status.in_(sorted(ACTIVE_STATUSES)))
        .group_by(instances.c.workflow, instances.c.version, instances.c.queue)
        .order_by(instances.c.workflow, instances.c.version, instances.c.queue)
    )
    with store.read() as conn:
        return [(w, v, q, int(n)) for w, v, q, n in conn.execute(query).tuples()]


def running_workers_on(store: Store, host: str, *, besides: str) -> list[tuple[str, int, float]]:
    """(id, pid, started_at) of the workers on ``host`` that have not stopped, ``besides``
    excepted (the asking worker)."""
    query = sa.select(workers.c.id, workers.c.pid, workers.c.started_at).where(
        workers.c.host == host, workers.c.stopped_at.is_(None), workers.c.id != besides
    )
    with store.read() as conn:
        return [(i, int(pid), float(at)) for i, pid, at in conn.execute(query).tuples()]


def release_workers(store: Store, dead: Sequence[str], now: float) -> None:
    """Mark dead workers stopped and make the instances they held claimable now."""
    with store.write() as conn:
        conn.execute(
            instances.update()
            .where(instances.c.lease_owner.in_(dead), instances.c.status == InstanceStatus.RUNNING)
            .values(run_at=now)
        )
        conn.execute(workers.update().where(workers.c.id.in_(dead)).values(stopped_at=now))


def worker_registrations(
    store: Store, *, stopped: bool = False, limit: int = 100
) -> list[WorkerRegistration]:
    """Workers that have not stopped (with ``stopped``, the latest stopped ones too),
    newest first."""
    query = sa.select(workers).order_by(workers.c.started_at.desc()).limit(limit)
    if not stopped:
        query = query.where(workers.c.stopped_at.is_(None))
    with store.read() as conn:
        return [WorkerRegistration.from_row(row) for row in conn.execute(query).mappings()]


def in_flight_by_worker(store: Store) -> dict[str, int]:
    """Per worker id: the instances running under its lease now (the running-instances
    index holds only those)."""
    query = (
        sa.select(instances.c.lease_owner, sa.func.count())
        .where(sa.text(RUNNING))
        .group_by(instances.c.lease_owner)
    )
    with store.read() as conn:
        return {owner: int(n) for owner, n in conn.execute(query).tuples() if owner is not None}
