"""The workers of a cluster as an operator sees them (``daytwo workers list``).

A :class:`WorkerInfo` is a worker's registration (host, pid, queues, workflow versions,
concurrency, its lease) with what it is doing now: the instances running under its lease
and how long ago it was heard from. A worker is *live* while it has not stopped and its
heartbeat is within its lease; one that died without stopping shows as not live until the
other workers release it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from daytwo.store import SYSTEM_PREFIX, Store, in_flight_by_worker, worker_registrations

__all__ = ["WorkerInfo", "live_workers"]


@dataclass(frozen=True)
class WorkerInfo:
    """One worker process."""

    id: str
    host: str
    pid: int
    #: The queues it claims from (None: a worker of an older daytwo, which did not say).
    queues: tuple[str, ...] | None
    #: ``name@version`` of each workflow version it runs (None: not said); daytwo's own
    #: (``daytwo.bulk``, which every worker runs) left out.
    workflows: tuple[str, ...] | None
    concurrency: int
    in_flight: int
    started_at: datetime
    heartbeat_at: datetime
    lease_seconds: float
    stopped_at: datetime | None
    live: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (times as ISO 8601)."""
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            out[key] = value
        return out


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def live_workers(store: Store, now: float, *, stopped: bool = False) -> list[WorkerInfo]:
    """The workers that have not stopped (``stopped``: the latest stopped ones too), newest
    first."""
    running = in_flight_by_worker(store)
    return [
        WorkerInfo(
            id=r.id,
            host=r.host,
            pid=r.pid,
            queues=r.queues,
            workflows=None
            if r.workflows is None
            else tuple(
                f"{w.name}@{w.version}"
                for w in r.workflows
                if not w.name.startswith(SYSTEM_PREFIX)  # daytwo.bulk: every worker has it
            ),
            concurrency=r.concurrency,
            in_flight=running.get(r.id, 0),
            started_at=_time(r.started_at),
            heartbeat_at=_time(r.heartbeat_at),
            lease_seconds=r.lease_seconds,
            stopped_at=None if r.stopped_at is None else _time(r.stopped_at),
            live=r.live(now),
        )
        for r in worker_registrations(store, stopped=stopped)
    ]
