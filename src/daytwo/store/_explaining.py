"""What ``explain`` reads about one instance: its row and everything its wait depends on.

One read transaction gathers the facts (:class:`InstanceFacts`): the instance row, its last
failed attempt at the position it waits at, the human task it waits for, the worker that
holds its lease, the pause that holds it, the dependency of the step it is at (from the
workers' registrations) with its limit and calls in flight, and the number of unconsumed
signals. ``daytwo._explain`` turns them into words and the actions that apply. Nothing
here is on a hot path: it is one operator's look at one instance.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from daytwo.store._operator_schema import breakers
from daytwo.store._rows import (
    AttemptRow,
    HumanTaskRow,
    InstanceRow,
    typed_row,
)
from daytwo.store._schema import (
    dependency_limits,
    dependency_slots,
    history,
    human_tasks,
    instances,
    pauses,
    signals,
    step_attempts,
    workers,
)
from daytwo.store._slots import slot_is_live
from daytwo.store._store import Store
from daytwo.store._vocabulary import (
    HistoryKind,
    HistoryOutcome,
    InstanceStatus,
    TaskStatus,
    WaitKind,
)
from daytwo.store._workers import WorkerRegistration

__all__ = [
    "ChildFacts",
    "CircuitFacts",
    "DependencyFacts",
    "FanOutFacts",
    "InstanceFacts",
    "PauseFacts",
    "instance_facts",
]

#: How many of the latest worker registrations are searched for a step's dependency.
REGISTRATIONS_SEARCHED = 50


@dataclass(frozen=True, slots=True)
class PauseFacts:
    """The pause holding an instance: its reason, who set it and when."""

    reason: str | None
    paused_by: str | None
    paused_at: float


@dataclass(frozen=True, slots=True)
class DependencyFacts:
    """The dependency a step calls: its cluster-wide limit (None: none) and calls in flight."""

    name: str
    limit: int | None
    in_flight: int


@dataclass(frozen=True, slots=True)
class CircuitFacts:
    """The circuit breaker holding an instance: its state, since and until when, and who
    changed it last (an operator's override names them)."""

    name: str
    state: str
    since: float
    until: float | None
    changed_by: str | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class ChildFacts:
    """The child workflow a parent waits for: where it is."""

    id: str
    workflow: str
    status: str
    state: str


@dataclass(frozen=True, slots=True)
class FanOutFacts:
    """The fan-out (``ctx.gather``) an instance waits or runs in: its head position, its
    name, and its branches by what they have recorded so far."""

    seq: int
    name: str
    branches: int
    completed: int
    failed: int
    #: Branches with no row yet that have failed attempts (a retry backoff, a parked one).
    retrying: int


@dataclass(frozen=True, slots=True)
class InstanceFacts:
    """Everything an explanation of one instance needs (None: not applicable)."""

    row: InstanceRow
    #: The latest failed or lost attempt at the position the instance is at.
    last_attempt: AttemptRow | None = None
    #: The human task it waits for (at its wait position).
    task: HumanTaskRow | None = None
    #: The worker holding its lease (a RUNNING instance).
    lease_holder: WorkerRegistration | None = None
    pause: PauseFacts | None = None
    dependency: DependencyFacts | None = None
    circuit: CircuitFacts | None = None
    #: The child it waits for (None: its row is gone).
    child: ChildFacts | None = None
    #: Signals delivered to it that no wait has taken yet, by name.
    unconsumed_signals: Mapping[str, int] = field(default_factory=dict)
    #: The fan-out it is in (its wait position is a fan-out's head).
    fanout: FanOutFacts | None = None


def instance_facts(store: Store, instance_id: str, now: float) -> InstanceFacts | None:
    """The facts about ``instance_id`` (None: no such instance), read in one transaction."""
    with store.read() as conn:
        row = typed_row(
            conn.execute(sa.select(instances).where(instances.c.id == instance_id))
            .mappings()
            .first(),
            InstanceRow,
        )
        if row is None:
            return None
        step = _step_at(row)
        dependency = None if step is None else _dependency(conn, step, now)
        return InstanceFacts(
            row=row,
            last_attempt=_last_attempt(conn, row),
            task=_task(conn, row),
            lease_holder=_lease_holder(conn, row),
            pause=None if step is None else _pause(conn, row["workflow"], step),
            dependency=dependency,
            circuit=_circuit(conn, row, dependency),
            child=_child(conn, row),
            unconsumed_signals=_unconsumed(conn, instance_id),
            fanout=_fanout(conn, row),
        )


def _step_at(row: InstanceRow) -> str | None:
    """The step the instance is at: the one it waits at or runs, as ``wait_name`` says."""
    if row["wait_kind"] in (WaitKind.SIGNAL, WaitKind.TASK, WaitKind.TIMER, WaitKind.CHILD, None):
        return None
    name = row["wait_name"]
    if name is not None and name.startswith("compensate:"):
        return name.removeprefix("compensate:")
    return name


def _last_attempt(conn: sa.Connection, row: InstanceRow) -> AttemptRow | None:
    if row["wait_seq"] is None:
        return None
    query = (
        sa.select(step_attempts)
        .where(step_attempts.c.instance_id == row["id"], step_attempts.c.seq == row["wait_seq"])
        .order_by(step_attempts.c.attempt.desc())
        .limit(1)
    )
    return typed_row(conn.execute(query).mappings().first(), AttemptRow)


def _task(conn: sa.Connection, row: InstanceRow) -> HumanTaskRow | None:
    if row["wait_kind"] != WaitKind.TASK or row["wait_seq"] is None:
        return None
    query = sa.select(human_tasks).where(
        human_tasks.c.instance_id == row["id"],
        human_tasks.c.seq == row["wait_seq"],
        human_tasks.c.status == TaskStatus.OPEN,
    )
    return typed_row(conn.execute(query).mappings().first(), HumanTaskRow)


def _lease_holder(conn: sa.Connection, row: InstanceRow) -> WorkerRegistration | None:
    if row["status"] != InstanceStatus.RUNNING or row["lease_owner"] is None:
        return None
    found = conn.execute(sa.select(workers).where(workers.c.id == row["lease_owner"]))
    worker = found.mappings().first()
    return None if worker is None else WorkerRegistration.from_row(worker)


def _pause(conn: sa.Connection, workflow: str, step: str) -> PauseFacts | None:
    query = sa.select(pauses).where(pauses.c.workflow == workflow, pauses.c.step == step)
    found = conn.execute(query).mappings().first()
    if found is None:
        return None
    return PauseFacts(found["reason"], found["paused_by"], found["paused_at"])


def _dependency(conn: sa.Connection, step: str, now: float) -> DependencyFacts | None:
    """The dependency ``step`` calls, as the latest registrations that know the step say."""
    query = (
        sa.select(workers.c.steps)
        .where(workers.c.steps.is_not(None))
        .order_by(workers.c.started_at.desc())
        .limit(REGISTRATIONS_SEARCHED)
    )
    name = None
    for text in conn.execute(query).scalars():
        steps: dict[str, Any] = json.loads(text)
        if step in steps:
            name = steps[step]
            break
    if name is None:
        return None
    limit = conn.execute(
        sa.select(dependency_limits.c.concurrency).where(dependency_limits.c.name == name)
    ).scalar()
    in_flight = conn.execute(
        sa.select(sa.func.count())
        .select_from(dependency_slots.join(instances, slot_is_live(now)))
        .where(dependency_slots.c.dependency == name)
    ).scalar_one()
    return DependencyFacts(str(name), limit, int(in_flight))


def _circuit(
    conn: sa.Connection, row: InstanceRow, dependency: DependencyFacts | None
) -> CircuitFacts | None:
    if row["wait_kind"] != WaitKind.CIRCUIT:
        return None
    # The state label names the dependency (``circuit open: NAME``) when no registration
    # maps the step to it.
    name = dependency.name if dependency else row["state"].partition(": ")[2]
    found = conn.execute(sa.select(breakers).where(breakers.c.name == name)).mappings().first()
    if found is None:
        return None
    return CircuitFacts(
        name, found["state"], found["since"], found["until"], found["changed_by"], found["reason"]
    )


def _child(conn: sa.Connection, row: InstanceRow) -> ChildFacts | None:
    if row["wait_kind"] != WaitKind.CHILD or row["wait_name"] is None:
        return None
    columns = (instances.c.id, instances.c.workflow, instances.c.status, instances.c.state)
    found = conn.execute(sa.select(*columns).where(instances.c.id == row["wait_name"])).first()
    return None if found is None else ChildFacts(found[0], found[1], found[2], found[3])


def _fanout(conn: sa.Connection, row: InstanceRow) -> FanOutFacts | None:
    """The fan-out whose head is at the instance's wait position, counted by branch rows."""
    seq = row["wait_seq"]
    if seq is None:
        return None
    head = (
        conn.execute(
            sa.select(history.c.kind, history.c.name, history.c.detail).where(
                history.c.instance_id == row["id"], history.c.seq == seq
            )
        )
        .mappings()
        .first()
    )
    if head is None or head["kind"] != HistoryKind.GATHER or head["detail"] is None:
        return None
    count = int(json.loads(head["detail"])["branches"])
    span = (history.c.instance_id == row["id"], history.c.seq.between(seq + 1, seq + count))
    by_outcome = sa.select(history.c.outcome, sa.func.count()).where(*span)
    outcomes = {
        outcome: int(n) for outcome, n in conn.execute(by_outcome.group_by(history.c.outcome))
    }
    recorded = sa.select(history.c.seq).where(*span)
    retrying = conn.execute(
        sa.select(sa.func.count(sa.distinct(step_attempts.c.seq))).where(
            step_attempts.c.instance_id == row["id"],
            step_attempts.c.seq.between(seq + 1, seq + count),
            step_attempts.c.seq.not_in(recorded),
        )
    ).scalar_one()
    return FanOutFacts(
        seq,
        head["name"],
        count,
        int(outcomes.get(HistoryOutcome.COMPLETED, 0)),
        int(outcomes.get(HistoryOutcome.FAILED, 0)),
        int(retrying),
    )


def _unconsumed(conn: sa.Connection, instance_id: str) -> dict[str, int]:
    query = (
        sa.select(signals.c.name, sa.func.count())
        .where(signals.c.instance_id == instance_id, signals.c.consumed_seq.is_(None))
        .group_by(signals.c.name)
    )
    return {name: int(count) for name, count in conn.execute(query).tuples()}
