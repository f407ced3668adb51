"""A worker's registration: what it serves, its warnings about work nobody will run, and
the release of the leases of dead workers on its host.

A worker serves the queues it was given and the workflow versions registered in its code.
Two ways to end up with instances that wait forever are common enough to warn about at
start: a workflow declared with ``queue="orders"`` served by a worker of the default
queue only, and instances of a version that the new code no longer registers (a
``version=`` bump while instances are in flight). Both are warned about only when no live
worker (this one included) serves that work; the same reasons show on the instances
themselves (``Instance.waiting_for``).
"""

from __future__ import annotations

import logging
import os
import socket
from typing import TYPE_CHECKING

import psutil
import sqlalchemy as sa

from daytwo.store import InstanceStatus
from daytwo.store._schema import instances, workers
from daytwo.store._workers import (
    Coverage,
    ServedWorkflow,
    WorkerRegistration,
    active_groups,
    coverage,
)

if TYPE_CHECKING:
    from daytwo.app import App

__all__ = ["registration", "release_dead_workers", "warn_about_unserved_work"]

log = logging.getLogger("daytwo.worker")


def registration(
    app: App, worker_id: str, *, queues: tuple[str, ...], concurrency: int, lease_seconds: float
) -> WorkerRegistration:
    """What the worker records about itself at start."""
    now = app.clock.now()
    return WorkerRegistration(
        id=worker_id,
        host=socket.gethostname(),
        pid=os.getpid(),
        concurrency=concurrency,
        started_at=now,
        heartbeat_at=now,
        lease_seconds=lease_seconds,
        queues=queues,
        workflows=tuple(
            ServedWorkflow(definition.name, definition.version, definition.queue)
            for versions in app.registry.workflows.values()
            for definition in versions.values()
        ),
        steps={name: step.dependency for name, step in sorted(app.registry.steps.items())},
    )


def warn_about_unserved_work(app: App, worker: WorkerRegistration) -> list[str]:
    """Log (and return) a warning for each kind of work no live worker serves."""
    served = coverage(app.store, app.clock.now(), also_live=[worker.id])
    warnings = _default_queues(worker, served)
    names = {workflow.name for workflow in worker.workflows or ()}
    for workflow, version, queue, count in active_groups(app.store, names):
        reason = served.unserved(queue, workflow, version)
        if reason is not None:
            warnings.append(
                f"{count} active instance(s) of {workflow} {version} in queue {queue!r} will "
                f"not run: {reason}" + _fix(worker, workflow, version, queue)
            )
    for warning in warnings:
        log.warning("worker %s: %s", worker.id, warning)
    return warnings


def _default_queues(worker: WorkerRegistration, served: Coverage) -> list[str]:
    queues = worker.queues or ()
    return [
        f"workflow {workflow.name} {workflow.version} starts its instances in queue "
        f"{workflow.queue!r}, which this worker does not serve (it serves "
        f"{', '.join(queues)}) and no live worker does; start a worker with "
        f"--queue {workflow.queue}"
        for workflow in worker.workflows or ()
        if workflow.queue not in queues
        and not served.serves(workflow.queue, workflow.name, workflow.version)
    ]


def _fix(worker: WorkerRegistration, workflow: str, version: str, queue: str) -> str:
    fixes = []
    if queue not in (worker.queues or ()):
        fixes.append(f"start a worker with --queue {queue}")
    if (workflow, version) not in {(w.name, w.version) for w in worker.workflows or ()}:
        fixes.append(
            f"keep version {version!r} of {workflow} registered (a second @app.workflow with "
            "the old code) until its instances end, or run a worker with that code"
        )
    return "".join(f"; {fix}" for fix in fixes)


def release_dead_workers(app: App, worker_id: str) -> None:
    """Free at once the leases of workers on this host whose process is gone.

    Elsewhere leases simply expire; on this host we can see that the process died.
    """
    store = app.store
    host = socket.gethostname()
    with store.read() as conn:
        rows = list(
            conn.execute(
                sa.select(workers.c.id, workers.c.pid, workers.c.started_at).where(
                    workers.c.host == host,
                    workers.c.stopped_at.is_(None),
                    workers.c.id != worker_id,
                )
            ).mappings()
        )
    dead = [row["id"] for row in rows if not _alive(row["pid"], row["started_at"])]
    if not dead:
        return
    now = app.clock.now()
    with store.write() as conn:
        conn.execute(
            instances.update()
            .where(instances.c.lease_owner.in_(dead), instances.c.status == InstanceStatus.RUNNING)
            .values(run_at=now)
        )
        conn.execute(workers.update().where(workers.c.id.in_(dead)).values(stopped_at=now))
    log.info("worker %s: released leases of dead worker(s) %s", worker_id, ", ".join(dead))


def _alive(pid: int, started_at: float) -> bool:
    try:
        process = psutil.Process(pid)
        return (
            bool(process.create_time() <= started_at + 1.0)
            and process.status() != psutil.STATUS_ZOMBIE
        )
    except psutil.Error:
        return False
