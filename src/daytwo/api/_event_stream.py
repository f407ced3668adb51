"""Reading the outbox for ``/v1/events``: which events a stream wants, and whose they are.

The outbox (``store/_outbox.py``) orders every event by ``seq`` and never skips one, so a
stream is a position and a filter: each poll reads the events after the position (of the
wanted kinds, in SQL), keeps those of the wanted workflows and moves the position past all
of them. A poll holds a database connection only while it reads.

Which workflow an event is about is in its payload for instance and alert events; a task
or schedule event names its instance or schedule, looked up once per stream; a circuit
breaker's belongs to no workflow, so a stream limited to workflows (a ``workflow=`` filter
or a scoped token) does not get it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from daytwo._client import Client
from daytwo._errors import InstanceNotFound, InvalidInput, ScheduleNotFound
from daytwo.store import EventKind, OutboxEvent, events_after

__all__ = ["BATCH", "EventFilter", "EventWorkflows", "Poll", "kinds_named", "read_after"]

#: Most events one poll reads.
BATCH = 100


def kinds_named(values: Iterable[str]) -> frozenset[EventKind]:
    """The kinds ``values`` name: a kind (``instance.parked``), or a family of kinds by its
    prefix (``instance.``, ``instance.*`` or ``instance``)."""
    chosen: set[EventKind] = set()
    for value in values:
        name = value.strip().removesuffix("*")
        if name in EventKind._value2member_map_:
            chosen.add(EventKind(name))
            continue
        prefix = name if name.endswith(".") else f"{name}."
        family = {kind for kind in EventKind if kind.startswith(prefix)}
        if not name or not family:
            families = sorted({kind.partition(".")[0] + "." for kind in EventKind})
            raise InvalidInput(
                f"kind {value!r} is no event kind: give one such as "
                f"{EventKind.INSTANCE_ENDED_BADLY.value!r} or a family such as "
                f"{', '.join(map(repr, families))}"
            )
        chosen |= family
    return frozenset(chosen)


@dataclass(frozen=True)
class EventFilter:
    """What a stream wants: some kinds (None: all) of some workflows (None: any, and events
    of no single workflow too)."""

    kinds: frozenset[EventKind] | None = None
    workflows: frozenset[str] | None = None

    def wants(self, workflow: str | None) -> bool:
        """Whether an event about ``workflow`` (None: no single one) passes (its kind was
        chosen in SQL)."""
        return self.workflows is None or (workflow is not None and workflow in self.workflows)


@dataclass
class EventWorkflows:
    """The workflow each event is about (None: no single workflow), with the lookups of
    one stream remembered (a task's instance and a schedule keep their workflow)."""

    client: Client
    _instances: dict[str, str | None] = field(default_factory=dict)
    _schedules: dict[str, str | None] = field(default_factory=dict)

    def of(self, event: OutboxEvent) -> str | None:
        payload = event.payload
        family = event.kind.partition(".")[0]
        if family == "instance":
            return _text(payload.get("workflow"))
        if family == "alert":
            labels = payload.get("labels")
            return _text(labels.get("workflow")) if isinstance(labels, dict) else None
        if family == "task":
            return self._instance(_text(payload.get("instance_id")))
        if family == "schedule":
            return self._schedule(_text(payload.get("schedule")) or event.key)
        return None  # circuit breakers: a dependency's, shared by every workflow

    def _instance(self, instance_id: str | None) -> str | None:
        if instance_id is None:
            return None
        if instance_id not in self._instances:
            try:
                self._instances[instance_id] = self.client.workflow_of(instance_id)
            except InstanceNotFound:  # purged since: nobody's any more
                self._instances[instance_id] = None
        return self._instances[instance_id]

    def _schedule(self, name: str) -> str | None:
        if name not in self._schedules:
            try:
                self._schedules[name] = self.client.schedules.get(name).workflow
            except ScheduleNotFound:
                self._schedules[name] = None
        return self._schedules[name]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Poll:
    """What one poll found: the wanted events with their workflows, where the stream is
    now, and whether more may be waiting (a full batch)."""

    events: list[tuple[OutboxEvent, str | None]]
    position: int
    more: bool


def read_after(
    client: Client, position: int, wanted: EventFilter, workflows: EventWorkflows
) -> Poll:
    """One poll: the events after ``position`` that ``wanted`` keeps, oldest first."""
    with client.store.read() as conn:
        found = events_after(conn, position, wanted.kinds, BATCH)
    kept = [(event, workflows.of(event)) for event in found]
    return Poll(
        [(event, workflow) for event, workflow in kept if wanted.wants(workflow)],
        found[-1].seq if found else position,
        len(found) == BATCH,
    )
