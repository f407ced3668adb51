"""Ticking schedules: each tick starts exactly one instance, however many workers tick.

A tick is one write transaction (:meth:`Schedules.tick`): it reads the schedule, decides
which of the due ticks start (catch-up and overlap policies), moves ``next_run_at`` past
now with a compare-and-set on the value it read, and inserts the instances, their first
transitions, the tick rows and the outbox events. Two workers ticking the same schedule:
the second's compare-and-set matches no row (SQLite: it runs after the first's commit
under the write lock; PostgreSQL: it waits for the first's row lock, then re-reads) and it
inserts nothing. The instance id is derived from the schedule and the tick time
(``schedule:NAME:2026-01-01T02:00:00Z``) and inserted with ``ON CONFLICT DO NOTHING``, so
even a tick computed twice starts one instance.

**Missed ticks.** A tick seen within :data:`~._cadence.ON_TIME_GRACE` (at most half its
period) after its time is on time; older due ticks were missed (no worker ran). The
catch-up policy decides: SKIP starts only an on-time tick, ONE the latest due tick, ALL
the latest ``max_catch_up`` due ticks oldest first; the others are recorded as one
``missed`` row (with their count) and a ``schedule.missed`` event.

**Overlap.** With ``overlap=SKIP`` a tick whose previous instance of the schedule (the
last one it started) is still active starts nothing: a ``skipped`` row and a
``schedule.skipped`` event.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from daytwo._errors import NotRunnable
from daytwo.store._audit import AuditEntry, append_audit
from daytwo.store._cadence import Cadence, iso_tick
from daytwo.store._new_instance import queued_instance
from daytwo.store._outbox import EventKind, append_event
from daytwo.store._schedule_tables import schedule_ticks, schedules
from daytwo.store._schedules import ScheduleRecords, _existing, cadence_of
from daytwo.store._schema import instances, transitions
from daytwo.store._starts import initial_transition
from daytwo.store._vocabulary import (
    ACTIVE_STATUSES,
    CatchUp,
    InstanceStatus,
    Overlap,
    TickOutcome,
)

__all__ = ["Schedules", "TickReport", "schedule_instance_id"]

#: Tick rows kept per schedule (older ones are pruned as new ones are written).
KEPT_TICKS = 500


def schedule_instance_id(name: str, tick: float) -> str:
    """The id of the instance ``name``'s tick at ``tick`` starts."""
    return f"schedule:{name}:{iso_tick(tick)}"


@dataclass(frozen=True, slots=True)
class TickReport:
    """What one tick transaction did."""

    schedule: str
    #: The instances it started (ids), oldest tick first.
    started: tuple[str, ...]
    #: Ticks not started because the previous instance was still active.
    skipped: int
    #: Ticks the catch-up policy dropped.
    missed: int
    #: The schedule's next tick now.
    next_run_at: float


class Schedules(ScheduleRecords):
    """The schedules of a database: declared, read, ticked, paused, resumed, triggered."""

    def tick(self, name: str, expected: float, now: float) -> TickReport | None:
        """Start what ``name``'s due ticks start, if its next tick is still ``expected``
        (else another worker ticked it first: None)."""
        with self.store.write() as conn:
            row = (
                conn.execute(sa.select(schedules).where(schedules.c.name == name))
                .mappings()
                .first()
            )
            if (
                row is None or row["paused"] or row["orphaned"]
                or row["next_run_at"] != expected or expected > now
            ):  # fmt: skip
                return None
            cadence = cadence_of(row)
            catch_up = CatchUp(row["catch_up"])
            limit = row["max_catch_up"] if catch_up is CatchUp.ALL else 1
            latest, count, following = cadence.due(expected, now, limit)
            starting = _starting(catch_up, cadence, latest, now)
            moved = conn.execute(
                schedules.update()
                .where(schedules.c.name == name, schedules.c.next_run_at == expected)
                .values(next_run_at=following, last_tick_at=latest[-1], updated_at=now)
                .returning(schedules.c.name)
            ).first()
            if moved is None:
                return None
            events: list[tuple[EventKind, dict[str, Any]]] = []
            missed = count - len(starting)
            if missed:
                detail = (
                    f"{missed} tick(s) from {iso_tick(expected)} passed while no worker "
                    f"ticked; catch_up={catch_up} dropped them"
                )
                self._record(conn, name, expected, TickOutcome.MISSED, now, detail, missed)
                payload = {"schedule": name, "first_tick": iso_tick(expected), "count": missed,
                           "catch_up": str(catch_up)}  # fmt: skip
                events.append((EventKind.SCHEDULE_MISSED, payload))
            previous = row["last_instance_id"]
            started: list[str] = []
            skipped = 0
            for tick in starting:
                status = _status(conn, previous)
                if Overlap(row["overlap"]) is Overlap.SKIP and status in ACTIVE_STATUSES:
                    skipped += 1
                    detail = f"the previous instance {previous} is still {status}"
                    self._record(conn, name, tick, TickOutcome.SKIPPED, now, detail)
                    payload = {"schedule": name, "tick": iso_tick(tick), "previous": previous}
                    events.append((EventKind.SCHEDULE_SKIPPED, payload))
                    continue
                instance_id = schedule_instance_id(name, tick)
                if not self._start(conn, row, instance_id, now):
                    # Only a schedule re-declared onto ticks it had started already.
                    detail = f"its instance {instance_id} exists already"
                    self._record(conn, name, tick, TickOutcome.SKIPPED, now, detail)
                    continue
                self._record(conn, name, tick, TickOutcome.STARTED, now, None, 1, instance_id)
                started.append(instance_id)
                previous = instance_id
            if started:
                conn.execute(
                    schedules.update()
                    .where(schedules.c.name == name)
                    .values(last_instance_id=previous)
                )
            self._prune(conn, name)
            for kind, payload in events:  # last: the outbox lock is held until the commit
                append_event(conn, kind, name, payload, now)
        return TickReport(name, tuple(started), skipped, missed, following)

    def trigger(self, name: str, key: str | None, audit: AuditEntry) -> tuple[str, bool]:
        """Start one instance of ``name`` now, outside its cadence (paused or not, whatever
        its overlap policy: an operator asked). Idempotent on ``key`` (default: the time
        now and random bits, new per call): the id is ``schedule:NAME:trigger:KEY``.
        Returns the id and whether this call started it."""
        now = self._now()
        # The default key is unique per call (time, then random bits): without a key, a
        # trigger repeated is a second trigger.
        key = key or (
            datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(3)
        )
        instance_id = f"schedule:{name}:trigger:{key}"
        with self.store.write() as conn:
            row = _existing(conn, name)
            if row["orphaned"]:
                raise NotRunnable(
                    f"schedule {name!r} is orphaned (the code no longer declares it); declare "
                    f"it again with @app.schedule, or start {row['workflow']} yourself"
                )
            created = self._start(conn, row, instance_id, now)
            if created:
                self._record(conn, name, now, TickOutcome.TRIGGERED, now, audit.reason, 1,
                             instance_id)  # fmt: skip
                conn.execute(
                    schedules.update()
                    .where(schedules.c.name == name)
                    .values(last_instance_id=instance_id, updated_at=now)
                )
            params = {"instance_id": instance_id, "created": created}
            append_audit(conn, replace(audit, params=params), now)
        return instance_id, created

    def _start(self, conn: sa.Connection, row: Any, instance_id: str, now: float) -> bool:
        """Insert the instance (nothing if the id exists); whether it is new."""
        values = _instance_row(row, instance_id, now)
        # RETURNING, not rowcount: PostgreSQL's driver reports -1 for ON CONFLICT DO NOTHING.
        created = conn.execute(
            self._insert(instances)
            .values(values)
            .on_conflict_do_nothing()
            .returning(instances.c.id)
        ).first()
        if created is None:
            return False
        conn.execute(transitions.insert().values(initial_transition(values)))
        self.store.notify_workers(conn, row["queue"])
        return True

    @staticmethod
    def _record(
        conn: sa.Connection,
        name: str,
        tick: float,
        outcome: TickOutcome,
        now: float,
        detail: str | None,
        count: int = 1,
        instance_id: str | None = None,
    ) -> None:
        conn.execute(
            schedule_ticks.insert().values(
                schedule=name,
                tick_at=tick,
                outcome=str(outcome),
                count=count,
                instance_id=instance_id,
                recorded_at=now,
                detail=detail,
            )
        )

    @staticmethod
    def _prune(conn: sa.Connection, name: str) -> None:
        newest = conn.execute(
            sa.select(sa.func.max(schedule_ticks.c.id)).where(schedule_ticks.c.schedule == name)
        ).scalar_one_or_none()
        if newest is not None and newest > KEPT_TICKS:
            conn.execute(
                schedule_ticks.delete().where(
                    schedule_ticks.c.schedule == name, schedule_ticks.c.id <= newest - KEPT_TICKS
                )
            )


def _starting(catch_up: CatchUp, cadence: Cadence, latest: list[float], now: float) -> list[float]:
    """The due ticks that start (``latest``: the latest due ones, at most the limit)."""
    if catch_up is CatchUp.SKIP:
        return latest[-1:] if cadence.on_time(latest[-1], now) else []
    return latest


def _status(conn: sa.Connection, instance_id: str | None) -> InstanceStatus | None:
    if instance_id is None:
        return None
    status = conn.execute(
        sa.select(instances.c.status).where(instances.c.id == instance_id)
    ).scalar_one_or_none()
    return None if status is None else InstanceStatus(status)


def _instance_row(row: Any, instance_id: str, now: float) -> dict[str, Any]:
    """A queued, runnable instance of the schedule's workflow, with its deadline."""
    timeout = row["timeout"]
    return queued_instance(
        instance_id, row["workflow"], row["version"], row["input"], queue=row["queue"],
        priority=row["priority"], now=now, deadline_at=None if timeout is None else now + timeout,
    )  # fmt: skip
