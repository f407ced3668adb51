"""What a set of instances went through: outcomes, retries, compensations, time per state."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

import daytwo
from daytwo.store import metadata

__all__ = ["StateTime", "Summary", "summarize"]


@dataclass(frozen=True)
class StateTime:
    """Time the instances spent in one state label (waits included)."""

    state: str
    visits: int
    total_seconds: float

    @property
    def average_seconds(self) -> float:
        """Mean time of one visit."""
        return self.total_seconds / self.visits if self.visits else 0.0


@dataclass(frozen=True)
class Summary:
    """Aggregates over instances, read back from the records the engine keeps."""

    instances: int
    by_status: dict[daytwo.InstanceStatus, int]
    #: Failed attempts that were tried again.
    retries: int
    #: Failed step (and compensation) attempts, retried or not.
    failed_attempts: int
    failed_attempts_by_step: dict[str, int]
    #: Compensations that ran (history events of kind "compensation").
    compensations: int
    compensations_by_step: dict[str, int]
    time_in_state: list[StateTime]
    #: Operator actions on these instances, oldest first ("who action id: reason").
    operator_actions: list[str] = field(default_factory=list)
    #: The circuit breakers' transitions while they ran, oldest first ("payments-api opened").
    circuit_changes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "instances": self.instances,
            "by_status": self.by_status,
            "retries": self.retries,
            "failed_attempts": self.failed_attempts,
            "failed_attempts_by_step": self.failed_attempts_by_step,
            "compensations": self.compensations,
            "compensations_by_step": self.compensations_by_step,
            "time_in_state": [
                {
                    "state": entry.state,
                    "visits": entry.visits,
                    "total_seconds": round(entry.total_seconds, 6),
                    "average_seconds": round(entry.average_seconds, 6),
                }
                for entry in self.time_in_state
            ],
            "operator_actions": self.operator_actions,
            "circuit_changes": self.circuit_changes,
        }


def summarize(app: daytwo.App, instance_ids: Iterable[str]) -> Summary:
    """Summarize the given instances from their stored records."""
    ids = list(instance_ids)
    statuses: Counter[daytwo.InstanceStatus] = Counter()
    failed: Counter[str] = Counter()
    retries = 0
    compensations: Counter[str] = Counter()
    seconds: defaultdict[str, float] = defaultdict(float)
    visits: Counter[str] = Counter()
    started = min((app.get(i).created_at.timestamp() for i in ids), default=0.0)
    for instance_id in ids:
        statuses[app.get(instance_id).status] += 1
        attempts = app.attempts(instance_id)
        failed.update(attempt.name for attempt in attempts)
        retries += sum(1 for attempt in attempts if attempt.retry_at is not None)
        compensations.update(
            event.name
            for event in app.history(instance_id)
            if event.kind is daytwo.HistoryKind.COMPENSATION
        )
        transitions = app.transitions(instance_id)
        for entered, left in itertools.pairwise(transitions):
            seconds[entered.to_state] += (left.at - entered.at).total_seconds()
            visits[entered.to_state] += 1
    return Summary(
        instances=len(ids),
        by_status=dict(statuses.most_common()),
        retries=retries,
        failed_attempts=sum(failed.values()),
        failed_attempts_by_step=dict(failed.most_common()),
        compensations=sum(compensations.values()),
        compensations_by_step=dict(compensations.most_common()),
        time_in_state=sorted(
            (StateTime(state, visits[state], seconds[state]) for state in seconds),
            key=lambda entry: -entry.total_seconds,
        ),
        operator_actions=_operator_actions(app, set(ids)),
        circuit_changes=_circuit_changes(app, started),
    )


def _operator_actions(app: daytwo.App, ids: set[str]) -> list[str]:
    records = [r for r in app.client.audit.list(limit=1000) if r.target in ids]
    return [
        f"{r.actor} {r.action} {r.target}" + (f": {r.reason}" if r.reason else "")
        for r in reversed(records)
    ]


def _circuit_changes(app: daytwo.App, since: float) -> list[str]:
    events = metadata.tables["outbox_events"]
    query = (
        sa.select(events.c.kind, events.c.key)
        .where(events.c.kind.startswith("circuit."), events.c.created_at >= since)
        .order_by(events.c.seq)
    )
    with app.store.read() as conn:
        rows = conn.execute(query).tuples().all()
    return [f"{key} {kind.removeprefix('circuit.').replace('_', '-')}" for kind, key in rows]
