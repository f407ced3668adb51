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

import psutil

from daytwo.engine import Clock, Registry
from daytwo.store import (
    Coverage,
    ServedWorkflow,
    Store,
    WorkerRegistration,
    active_groups,
    coverage,
    release_workers,
    running_workers_on,
)

__all__ = ["registration", "release_dead_workers", "warn_about_unserved_work"]

log = logging.getLogger("daytwo.worker")


def registration(
    registry: Registry,
    worker_id: str,
    *,
    now: float,
    queues: tuple[str, ...],
    concurrency: int,
    lease_seconds: float,
) -> WorkerRegistration:
    """What the worker records about itself at start: what it serves of ``registry``."""
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
            ServedWorkflow(
                definition.name,
                definition.version,
                definition.queue,
                definition.priority,
                definition.timeout,
            )
            for versions in registry.workflows.values()
            for definition in versions.values()
        ),
        steps={name: step.dependency for name, step in sorted(registry.steps.items())},
    )


def warn_about_unserved_work(store: Store, now: float, worker: WorkerRegistration) -> list[str]:
    """Log (and return) a warning for each kind of work no live worker serves."""
    served = coverage(store, now, also_live=[worker.id])
    warnings = _default_queues(worker, served)
    names = {workflow.name for workflow in worker.workflows or ()}
    for workflow, version, queue, count in active_groups(store, names):
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


def release_dead_workers(store: Store, clock: Clock, worker_id: str) -> None:
    """Free at once the leases of workers on this host whose process is gone.

    Elsewhere leases simply expire; on this host we can see that the process died.
    """
    running = running_workers_on(store, socket.gethostname(), besides=worker_id)
    dead = [other for other, pid, started_at in running if not _alive(pid, started_at)]
    if not dead:
        return
    release_workers(store, dead, clock.now())
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
