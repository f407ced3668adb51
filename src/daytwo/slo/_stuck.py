"""Stuck instances: per-state thresholds, the stuck count of a workflow, and the reasons.

An active instance is stuck when it is parked (NEEDS_ATTENTION: a step failed for good under
the ``park`` failure policy; stuck by definition, whatever the thresholds), when it has been
in its current state longer than that state's threshold, when it is leased by a worker whose
lease expired (the worker died), when it waits for a human task that is overdue, or when it
is due (runnable, a fired timer, an expired lease) and no live worker serves it — its queue,
or its version in that queue (``store/_workers.py``): nothing will ever run it, however
young it is. INCOMPATIBLE instances are listed too: they need a human, although they have
ended.

Thresholds: explicit per state (``StuckRatio.thresholds``), else ``factor`` x the state's
median time-in-state over the transitions of the workflow's most recent successful
instances (:data:`MEDIAN_SAMPLE` of them: bounded cost, however long the history), at least
``floor``, once ``min_samples`` visits are known.
"""

from __future__ import annotations

import itertools
import json
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from daytwo.slo._definitions import Objective, StuckRatio, format_duration
from daytwo.store import (
    ACTIVE_STATUSES,
    Coverage,
    InstanceStatus,
    Store,
    TaskStatus,
    WaitKind,
    coverage,
    human_tasks,
    instances,
    step_attempts,
    transitions,
    workers,
)

__all__ = [
    "MEDIAN_SAMPLE",
    "StuckInstance",
    "count_stuck",
    "find_stuck",
    "state_thresholds",
    "stuck_configs",
    "stuck_report",
]

#: How many recent successful instances the median time-in-state is taken from.
MEDIAN_SAMPLE = 200
_ACTIVE = sorted(ACTIVE_STATUSES)


@dataclass(frozen=True, slots=True)
class StuckInstance:
    """One stuck instance and why."""

    instance_id: str
    workflow: str
    version: str
    status: str
    state: str
    entered_at: float
    time_in_state: float
    threshold: float | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def median_time_in_state(store: Store, workflow: str) -> dict[str, tuple[float, int]]:
    """Per state: (median seconds spent in it, number of visits) in recent successes."""
    recent = (
        sa.select(instances.c.id)
        .where(instances.c.workflow == workflow, instances.c.status == InstanceStatus.SUCCEEDED)
        .order_by(instances.c.created_at.desc())
        .limit(MEDIAN_SAMPLE)
    )
    with store.read() as conn:
        ids = list(conn.execute(recent).scalars())
        rows = conn.execute(
            sa.select(transitions.c.instance_id, transitions.c.to_state, transitions.c.at)
            .where(transitions.c.instance_id.in_(ids))
            .order_by(transitions.c.instance_id, transitions.c.seq)
        ).all()
    durations: dict[str, list[float]] = defaultdict(list)
    for current, following in itertools.pairwise(rows):
        if current.instance_id == following.instance_id:
            durations[current.to_state].append(following.at - current.at)
    return {state: (statistics.median(d), len(d)) for state, d in durations.items()}


def state_thresholds(store: Store, workflow: str, sli: StuckRatio) -> dict[str, float]:
    """Seconds after which an instance of ``workflow`` is stuck, per state."""
    thresholds = {
        state: max(sli.factor * median, sli.floor.total_seconds())
        for state, (median, samples) in median_time_in_state(store, workflow).items()
        if samples >= sli.min_samples
    }
    thresholds.update({state: d.total_seconds() for state, d in sli.thresholds.items()})
    return thresholds


def _overdue_task(now: float) -> sa.ColumnElement[bool]:
    # The cheap column test first: the subquery then runs only for instances awaiting a task.
    return sa.and_(
        instances.c.wait_kind == WaitKind.TASK,
        sa.exists().where(
            human_tasks.c.instance_id == instances.c.id,
            human_tasks.c.status == TaskStatus.OPEN,
            human_tasks.c.due_at < now,
        ),
    )


def _stuck_condition(
    thresholds: dict[str, float],
    now: float,
    served: tuple[str, Coverage] | None = None,
) -> sa.ColumnElement[bool]:
    """Stuck instances (of one workflow). With ``served`` (that workflow and the live
    workers), due instances no live worker serves count too."""
    too_long: sa.ColumnElement[bool] = sa.false()
    if thresholds:
        cutoff = sa.case(
            {state: now - seconds for state, seconds in thresholds.items()},
            value=instances.c.state,
            else_=None,
        )
        too_long = instances.c.state_entered_at < cutoff
    dead_lease = sa.and_(instances.c.status == InstanceStatus.RUNNING, instances.c.run_at < now)
    unserved: sa.ColumnElement[bool] = sa.false()
    if served is not None:
        workflow, live = served
        unserved = sa.and_(instances.c.run_at <= now, sa.not_(live.served_condition(workflow)))
    parked = instances.c.status == InstanceStatus.NEEDS_ATTENTION
    return sa.or_(parked, too_long, dead_lease, _overdue_task(now), unserved)


def count_stuck(
    store: Store, workflow: str, version: str | None, thresholds: dict[str, float], now: float
) -> tuple[int, int]:
    """(stuck, active) instances of ``workflow`` now, counted in one pass in the database."""
    served = (workflow, coverage(store, now))
    stuck = sa.func.sum(sa.case((_stuck_condition(thresholds, now, served), 1), else_=0))
    query = sa.select(sa.func.count(), stuck).where(
        instances.c.workflow == workflow, instances.c.status.in_(_ACTIVE)
    )
    if version is not None:
        query = query.where(instances.c.version == version)
    with store.read() as conn:
        active, stuck_count = conn.execute(query).one()
    return int(stuck_count or 0), int(active)


def find_stuck(
    store: Store,
    now: float,
    thresholds: dict[str, dict[str, float]],
    *,
    workflow: str | None = None,
    limit: int = 100,
) -> list[StuckInstance]:
    """Stuck and incompatible instances with their reasons, longest-stuck first.

    ``thresholds`` maps workflow → state → seconds (see :func:`state_thresholds`).
    """
    names = [workflow] if workflow is not None else list(thresholds)
    live = coverage(store, now)
    with store.read() as conn:
        if not names:  # nothing known about the app: find the workflows (a full scan)
            names = list(
                conn.execute(
                    sa.select(instances.c.workflow)
                    .where(instances.c.status.in_([*_ACTIVE, InstanceStatus.INCOMPATIBLE]))
                    .distinct()
                ).scalars()
            )
        # One indexed query per workflow and kind, each in (workflow, status, ...) order.
        rows: list[Any] = []
        for name in names:
            stuck_active = _stuck_condition(thresholds.get(name, {}), now, (name, live))
            for statuses, condition in (
                (_ACTIVE, stuck_active),
                ([InstanceStatus.INCOMPATIBLE], sa.true()),
            ):
                query = (
                    sa.select(instances)
                    .where(
                        instances.c.workflow == name,
                        instances.c.status.in_(statuses),
                        condition,
                    )
                    .order_by(instances.c.state_entered_at)
                    .limit(limit)
                )
                rows += conn.execute(query).mappings()
        rows = sorted(rows, key=lambda row: row["state_entered_at"])[:limit]
        heartbeats = {
            row.id: row.heartbeat_at
            for row in conn.execute(
                sa.select(workers.c.id, workers.c.heartbeat_at).where(
                    workers.c.stopped_at.is_(None)
                )
            )
        }
        result = []
        for row in rows:
            threshold = thresholds.get(row["workflow"], {}).get(row["state"])
            unserved = None
            due = row["run_at"] is not None and row["run_at"] <= now
            if row["status"] != InstanceStatus.INCOMPATIBLE and due:
                unserved = live.unserved(row["queue"], row["workflow"], row["version"])
            reason = _reason(conn, row, now, threshold, heartbeats)
            if unserved is not None:
                reason = f"{reason}; nothing will run it: {unserved}"
            elif row["status"] == InstanceStatus.RUNNING and due:
                reason = f"{reason}; another worker will take it over"
            result.append(
                StuckInstance(
                    instance_id=row["id"],
                    workflow=row["workflow"],
                    version=row["version"],
                    status=row["status"],
                    state=row["state"],
                    entered_at=row["state_entered_at"],
                    time_in_state=now - row["state_entered_at"],
                    threshold=threshold,
                    reason=reason,
                )
            )
    return result


def _ago(seconds: float) -> str:
    return format_duration(timedelta(seconds=round(max(seconds, 0))))


def _reason(
    conn: sa.Connection, row: Any, now: float, threshold: float | None, live: dict[str, float]
) -> str:
    status, kind, name = row["status"], row["wait_kind"], row["wait_name"]
    if status == InstanceStatus.INCOMPATIBLE:
        message = json.loads(row["error"])["message"] if row["error"] else "code changed"
        return f"incompatible: {message}"
    if status == InstanceStatus.NEEDS_ATTENTION:
        return f"parked: step {name!r} failed for good after {row['attempt']} attempt(s); " + (
            f"last error {_last_error(conn, row['id'])}; an operator must retry, skip or abort it"
        )
    if status == InstanceStatus.RUNNING:
        owner = row["lease_owner"]
        if row["run_at"] is not None and row["run_at"] < now:
            heartbeat = live.get(owner) if owner else None
            seen = "" if heartbeat is None else f", last heartbeat {_ago(now - heartbeat)} ago"
            return (
                f"lease held by dead worker {owner} (expired {_ago(now - row['run_at'])} ago{seen})"
            )
        return f"running in state {row['state']!r} for {_ago(now - row['state_entered_at'])}"
    if status == InstanceStatus.RUNNABLE:
        # Woken (a signal came, a task was completed, a timer fired) or new, and not taken:
        # what it waited for before no longer holds it.
        kind = None
    if kind == WaitKind.TASK:
        task = conn.execute(
            sa.select(human_tasks.c.assignee, human_tasks.c.due_at).where(
                human_tasks.c.instance_id == row["id"], human_tasks.c.status == TaskStatus.OPEN
            )
        ).first()
        assignee = task.assignee if task is not None and task.assignee else "nobody"
        if task is not None and task.due_at is not None and task.due_at < now:
            return (
                f"human task {name!r} overdue by {_ago(now - task.due_at)}, assigned to {assignee}"
            )
        return f"waiting for human task {name!r}, assigned to {assignee}"
    if kind == WaitKind.SIGNAL:
        return f"waiting for signal {name!r}"
    if kind == WaitKind.RETRY:
        text = _last_error(conn, row["id"])
        return f"step {name!r} retrying for the {_ordinal(row['attempt'])} time; last error {text}"
    if kind == WaitKind.TIMER:
        return f"timer {name!r} due {_ago(now - (row['wake_at'] or now))} ago and not resumed"
    return (
        f"{status.lower()} in state {row['state']!r} for "
        f"{_ago(now - row['state_entered_at'])}, not picked up by a worker"
    )


def _last_error(conn: sa.Connection, instance_id: str) -> str:
    """The error of the instance's latest failed attempt, in one line."""
    last = conn.execute(
        sa.select(step_attempts.c.error)
        .where(step_attempts.c.instance_id == instance_id)
        .order_by(step_attempts.c.seq.desc(), step_attempts.c.attempt.desc())
        .limit(1)
    ).scalar()
    error = json.loads(last) if last else {}
    return f"{error.get('type', 'Error')}: {error.get('message', '')}" if error else "?"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def stuck_configs(
    workflows: Iterable[str], objectives: Iterable[Objective]
) -> dict[str, StuckRatio]:
    """What counts as stuck per workflow: its stuck-ratio objective's settings, else the
    defaults of :class:`StuckRatio`."""
    configs: dict[str, StuckRatio] = {name: StuckRatio() for name in workflows}
    for objective in objectives:
        if isinstance(objective.sli, StuckRatio):
            configs[objective.workflow] = objective.sli
    return configs


def stuck_report(
    store: Store,
    now: float,
    objectives: list[Any],
    workflows: list[str] | None = None,
    *,
    workflow: str | None = None,
    limit: int = 100,
) -> list[StuckInstance]:
    """Stuck instances with thresholds from the stuck-ratio ``objectives`` of each workflow.

    Looks at ``workflows`` (e.g. the app's) and the objectives' workflows; None finds the
    workflows with active instances in the store (a scan). Workflows without a stuck-ratio
    objective use the defaults of :class:`StuckRatio` (2x the median time-in-state, at
    least 5 minutes).
    """
    if workflows is None:
        with store.read() as conn:
            workflows = list(
                conn.execute(
                    sa.select(instances.c.workflow)
                    .where(instances.c.status.in_([*_ACTIVE, InstanceStatus.INCOMPATIBLE]))
                    .distinct()
                ).scalars()
            )
    thresholds = {
        name: state_thresholds(store, name, sli)
        for name, sli in stuck_configs(workflows, objectives).items()
        if workflow is None or name == workflow
    }
    return find_stuck(store, now, thresholds, workflow=workflow, limit=limit)
