"""What a process without a workflow's code knows of it: the workers' registrations.

Every worker records the workflow versions it runs with their default queue and priority
(``store/_workers.py``). A :class:`~daytwo.Client` starting a workflow by name takes its
defaults from there: the newest version that a live worker serves (else that the latest
registrations name, for a start while the workers restart), and that version's queue and
priority as its newest registration recorded them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from daytwo._errors import WorkflowNotFound
from daytwo.engine import version_key
from daytwo.store import (
    SYSTEM_PREFIX,
    ServedWorkflow,
    Store,
    WorkerRegistration,
    recent_registrations,
)

__all__ = ["RegisteredWorkflow", "registered_workflow", "registered_workflows"]


@dataclass(frozen=True)
class RegisteredWorkflow:
    """A workflow version that workers registered, as a client without the code sees it."""

    name: str
    version: str
    #: The queue and priority its new instances start with (as its newest registration
    #: recorded them).
    queue: str
    priority: int
    #: Whether a live worker runs it now (in its default queue or another).
    live: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def registered_workflows(store: Store, now: float) -> list[RegisteredWorkflow]:
    """Every workflow version the latest registrations name, by name then newest version
    first; daytwo's own (``daytwo.bulk``, served by every worker) left out."""
    newest: dict[tuple[str, str], ServedWorkflow] = {}
    live: set[tuple[str, str]] = set()
    for registration in recent_registrations(store):  # newest first
        for workflow in registration.workflows or ():
            key = (workflow.name, workflow.version)
            newest.setdefault(key, workflow)
            if registration.live(now):
                live.add(key)
    names = sorted({name for name, _ in newest if not name.startswith(SYSTEM_PREFIX)})
    return [
        RegisteredWorkflow(name, version, newest[name, version].queue,
                           newest[name, version].priority, (name, version) in live)
        for name in names
        for version in sorted(
            (v for n, v in newest if n == name), key=version_key, reverse=True
        )
    ]  # fmt: skip


def registered_workflow(
    store: Store, now: float, name: str, version: str | None
) -> ServedWorkflow | None:
    """The registered defaults of ``name`` (``version`` if given, else the newest).

    None when a ``version`` is given that no worker registered: the caller starts it with
    the defaults it was given. Raises :class:`WorkflowNotFound` when no version is given
    and no worker registered the workflow.
    """
    registrations = recent_registrations(store)  # newest first
    live = [r for r in registrations if r.live(now)]
    served = [
        workflow
        for registration in (live if _names(live, name) else registrations)
        for workflow in registration.workflows or ()
        if workflow.name == name
    ]
    if version is None:
        if not served:
            known = sorted(
                {
                    w
                    for r in registrations
                    for w in _all_names(r.workflows)
                    if not w.startswith(SYSTEM_PREFIX)  # daytwo's own: not a misspelling
                }
            )
            raise WorkflowNotFound(
                name,
                known,
                where="workflows registered by workers",
                fix="run a worker with its code (daytwo worker MODULE:APP), or give the "
                "version to start it anyway",
            )
        version = max((w.version for w in served), key=version_key)
    # Newest registration first: its queue and priority are the current code's.
    return next((w for w in served if w.version == version), None)


def _names(registrations: Sequence[WorkerRegistration], name: str) -> bool:
    return any(w.name == name for r in registrations for w in r.workflows or ())


def _all_names(workflows: tuple[ServedWorkflow, ...] | None) -> list[str]:
    return [w.name for w in workflows or ()]
