"""Which workflow, step, queue and dependency names exist, for checking the names given to
flow-control commands (``daytwo pause``, ``pause --step``, ``queues set``, ``dependencies
set`` and their ``app.flow`` counterparts).

A misspelt name in a pause or a limit would otherwise be accepted silently and hold back
nothing. A name is known when one of these has it: the registrations of recent workers
(``store/_workers.py``: their workflows, their app's steps with dependencies, their
queues), the calling app's own registry, the stored settings (a paused workflow, a
configured queue or limit), and the instances (their workflows and queues; for steps, the
recorded history of a few active instances). A name none has is refused with the known
ones, unless forced (a workflow whose workers have not started yet).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

import sqlalchemy as sa

from daytwo._errors import InvalidInput
from daytwo.store._schema import (
    READY,
    RUNNING,
    dependency_limits,
    history,
    instances,
    pauses,
    queues,
)
from daytwo.store._store import ACTIVE_STATUSES, Store
from daytwo.store._vocabulary import HistoryKind
from daytwo.store._workers import recent_registrations

__all__ = ["Catalog", "NameCheck", "NameKind"]

#: How many active instances' histories are read for step names.
HISTORY_SAMPLE = 20
#: How many known names an error lists.
LISTED = 20


class NameKind(StrEnum):
    """What a flow-control command names."""

    WORKFLOW = "workflow"
    STEP = "step"
    QUEUE = "queue"
    DEPENDENCY = "dependency"


@dataclass(frozen=True)
class Catalog:
    """Names an app's code has: workflows (each with the steps it may call), queues,
    dependencies."""

    steps: dict[str, frozenset[str]] = field(default_factory=dict)
    queues: frozenset[str] = frozenset()
    dependencies: frozenset[str] = frozenset()

    @property
    def workflows(self) -> frozenset[str]:
        """The workflow names."""
        return frozenset(self.steps)


class NameCheck:
    """Refuses names that nothing in the cluster has (see the module docstring)."""

    def __init__(self, store: Store, local: Callable[[], Catalog] | None = None) -> None:
        self.store = store
        self._local = local

    def workflow(self, name: str) -> None:
        """Refuse ``name`` unless some workflow has it."""
        known = self._catalog().workflows
        if name in known:
            return
        known |= self._stored_workflows()
        if name not in known:
            raise _unknown(NameKind.WORKFLOW, name, known)

    def step(self, workflow: str, name: str) -> None:
        """Refuse ``name`` unless a step of that name is known for ``workflow``."""
        self.workflow(workflow)
        known = self._catalog().steps.get(workflow, frozenset())
        if name in known:
            return
        known |= self._recorded_steps(workflow)
        if name not in known:
            raise _unknown(NameKind.STEP, name, known, f" of workflow {workflow!r}")

    def queue(self, name: str) -> None:
        """Refuse ``name`` unless a worker, a workflow, a setting or an instance uses it."""
        known = self._catalog().queues | {"default"}
        if name in known:
            return
        known |= self._stored_queues()
        if name not in known:
            raise _unknown(NameKind.QUEUE, name, known)

    def dependency(self, name: str) -> None:
        """Refuse ``name`` unless a step calls it (or a limit names it already)."""
        known = self._catalog().dependencies
        if name in known:
            return
        with self.store.read() as conn:
            known |= set(conn.execute(sa.select(dependency_limits.c.name)).scalars())
        if name not in known:
            raise _unknown(NameKind.DEPENDENCY, name, known)

    # -- sources --------------------------------------------------------------------------

    def _catalog(self) -> Catalog:
        """The registrations of recent workers, with the calling app's own registry."""
        local = self._local() if self._local is not None else Catalog()
        steps = {name: set(called) for name, called in local.steps.items()}
        queue_names, dependencies = set(local.queues), set(local.dependencies)
        for worker in recent_registrations(self.store):
            for served in worker.workflows or ():
                steps.setdefault(served.name, set()).update(worker.steps)
                queue_names.add(served.queue)
            queue_names.update(worker.queues or ())
            dependencies.update(d for d in worker.steps.values() if d is not None)
        return Catalog(
            {name: frozenset(called) for name, called in steps.items()},
            frozenset(queue_names),
            frozenset(dependencies),
        )

    def _stored_workflows(self) -> frozenset[str]:
        with self.store.read() as conn:
            # Loose scans of the leading column of ix_instances_workflow_status.
            found = set(conn.execute(sa.select(instances.c.workflow).distinct()).scalars())
            found |= set(conn.execute(sa.select(pauses.c.workflow).distinct()).scalars())
        return frozenset(found)

    def _stored_queues(self) -> frozenset[str]:
        with self.store.read() as conn:
            found = set(conn.execute(sa.select(queues.c.name)).scalars())
            for condition in (READY, RUNNING):  # index-only: the partial claim indexes
                query = sa.select(instances.c.queue).where(sa.text(condition)).distinct()
                found |= set(conn.execute(query).scalars())
        return frozenset(found)

    def _recorded_steps(self, workflow: str) -> frozenset[str]:
        active = (
            sa.select(instances.c.id)
            .where(
                instances.c.workflow == workflow,
                instances.c.status.in_(sorted(ACTIVE_STATUSES)),
                instances.c.history_size > 0,
            )
            .limit(HISTORY_SAMPLE)
        )
        with self.store.read() as conn:
            ids = list(conn.execute(active).scalars())
            recorded = conn.execute(
                sa.select(history.c.name)
                .where(history.c.instance_id.in_(ids), history.c.kind == HistoryKind.STEP)
                .distinct()
            ).scalars()
            paused = conn.execute(
                sa.select(pauses.c.step).where(pauses.c.workflow == workflow, pauses.c.step != "")
            ).scalars()
            return frozenset(recorded) | frozenset(paused)


def _unknown(kind: NameKind, name: str, known: Iterable[str], where: str = "") -> InvalidInput:
    # daytwo's own workflows and steps (daytwo.bulk) are not what a user misspelt.
    names = sorted(n for n in set(known) if not n.startswith("daytwo."))
    listed = ", ".join(names[:LISTED])
    if len(names) > LISTED:
        listed += f" and {len(names) - LISTED} more"
    return InvalidInput(
        f"no {kind} named {name!r} is known{where} (known: {listed or 'none'}); check the "
        f"spelling, or force it (--force, force=True) for a {kind} whose workers have not "
        "started yet"
    )
