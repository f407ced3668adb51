"""Durable schedules in the store: their declarations, how they are read, what operators do.

**Code is the source of definitions.** A worker stores its code's schedules when it
starts (:meth:`Schedules.declare`): a new one gets its first tick after now; a changed
declaration (another ``definition_hash``) replaces the stored definition and keeps the
operator's pause; a changed cadence recomputes the next tick. A stored schedule whose
workflow this code registers but no longer schedules is marked *orphaned*, not deleted:
it stops ticking and ``daytwo schedules list`` shows it (an operator sees that a deploy
dropped it; declaring it again revives it with its pause state and history).

Operators pause, resume and trigger (:class:`ScheduleControl`), each in one transaction
with its audit row. A resume does not catch up the ticks of the pause: the next tick is
the first after the resume. Ticking and triggering are in ``_schedule_ticks.py``
(:class:`~daytwo.store.Schedules`).
"""

from __future__ import annotations

import builtins
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from daytwo._errors import NotRunnable, ScheduleNotFound
from daytwo.store._audit import AuditEntry, append_audit
from daytwo.store._cadence import Cadence
from daytwo.store._schedule_tables import schedule_ticks, schedules
from daytwo.store._schema import instances
from daytwo.store._store import Store
from daytwo.store._vocabulary import CatchUp, Overlap, TickOutcome

__all__ = ["ScheduleRecords", "ScheduleSpec", "ScheduleView", "TickRecord", "cadence_of"]

#: How many ticks ``get`` shows.
RECENT_TICKS = 20


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """A schedule as the code declares it (``@app.schedule``)."""

    name: str
    workflow: str
    version: str
    queue: str
    priority: int
    cadence: Cadence
    catch_up: CatchUp
    max_catch_up: int
    overlap: Overlap
    #: The serialized input of every instance it starts.
    input_text: str
    #: Seconds each instance it starts may take (the workflow's ``timeout=``; None: none).
    timeout: float | None = None

    def definition(self) -> dict[str, Any]:
        """The stored columns of the definition."""
        return {
            "workflow": self.workflow,
            "version": self.version,
            "queue": self.queue,
            "priority": self.priority,
            "cron": self.cadence.cron,
            "every": self.cadence.every,
            "timezone": self.cadence.timezone,
            "catch_up": str(self.catch_up),
            "max_catch_up": self.max_catch_up,
            "overlap": str(self.overlap),
            "input": self.input_text,
            "timeout": self.timeout,
        }

    @property
    def definition_hash(self) -> str:
        """What tells a changed declaration from the stored one."""
        text = json.dumps(self.definition(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class TickRecord:
    """What became of a tick (or, for ``missed``, of ``count`` consecutive ticks)."""

    tick_at: float
    outcome: TickOutcome
    count: int
    instance_id: str | None
    recorded_at: float
    detail: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (times as ISO 8601 UTC)."""
        return {
            "tick_at": _iso(self.tick_at, None),
            "outcome": str(self.outcome),
            "count": self.count,
            "instance_id": self.instance_id,
            "recorded_at": _iso(self.recorded_at, None),
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class ScheduleView:
    """A stored schedule as an operator sees it."""

    name: str
    workflow: str
    version: str
    queue: str
    cadence: Cadence
    catch_up: CatchUp
    max_catch_up: int
    overlap: Overlap
    input_text: str
    orphaned: bool
    paused: bool
    paused_by: str | None
    paused_reason: str | None
    paused_at: float | None
    next_run_at: float
    last_tick_at: float | None
    last_instance_id: str | None
    #: The status of the last instance it started (None: none, or purged).
    last_status: str | None
    #: The recent ticks, newest first (filled by ``get``; empty in ``list``).
    ticks: tuple[TickRecord, ...] = ()

    def next_run(self) -> datetime:
        """The next tick in the schedule's time zone."""
        return datetime.fromtimestamp(self.next_run_at, self.cadence.zone)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: the next run in the schedule's zone and in UTC."""
        zone = self.cadence.zone
        return {
            "name": self.name,
            "workflow": self.workflow,
            "version": self.version,
            "queue": self.queue,
            "cron": self.cadence.cron,
            "every_seconds": self.cadence.every,
            "timezone": self.cadence.timezone,
            "catch_up": str(self.catch_up),
            "max_catch_up": self.max_catch_up,
            "overlap": str(self.overlap),
            "input": json.loads(self.input_text) if _is_json(self.input_text) else None,
            "orphaned": self.orphaned,
            "paused": self.paused,
            "paused_by": self.paused_by,
            "paused_reason": self.paused_reason,
            "paused_at": _iso(self.paused_at, None),
            "next_run": _iso(self.next_run_at, zone),
            "next_run_utc": _iso(self.next_run_at, None),
            "last_tick": _iso(self.last_tick_at, zone),
            "last_instance_id": self.last_instance_id,
            "last_status": self.last_status,
            "ticks": [tick.to_dict() for tick in self.ticks],
        }


def _iso(moment: float | None, zone: Any) -> str | None:
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, zone or UTC).isoformat()


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def cadence_of(row: Mapping[Any, Any]) -> Cadence:
    """The cadence of a stored ``schedules`` row."""
    return Cadence(row["cron"], row["every"], row["timezone"])


class ScheduleRecords:
    """The schedules of a database: declared by workers, read by everybody."""

    def __init__(self, store: Store, now: Callable[[], float]) -> None:
        self.store = store
        self._now = now
        self._insert = postgresql.insert if store.dialect == "postgresql" else sqlite.insert

    def declare(self, declared: Mapping[str, ScheduleSpec], workflows: set[str]) -> None:
        """Store the code's schedules; orphan the stored ones of ``workflows`` (the
        workflows this code registers) that it no longer declares (see the module)."""
        now = self._now()
        with self.store.write() as conn:
            stored = {
                row["name"]: row for row in conn.execute(sa.select(schedules)).mappings().all()
            }
            for name, spec in declared.items():
                row = stored.get(name)
                values = {**spec.definition(), "definition_hash": spec.definition_hash}
                if row is None:
                    conn.execute(
                        self._insert(schedules)
                        .values(
                            name=name,
                            **values,
                            orphaned=False,
                            paused=False,
                            next_run_at=spec.cadence.next_after(now),
                            created_at=now,
                            updated_at=now,
                        )
                        .on_conflict_do_nothing()
                    )
                    continue
                if row["definition_hash"] == spec.definition_hash and not row["orphaned"]:
                    continue
                changes: dict[str, Any] = {**values, "orphaned": False, "updated_at": now}
                if cadence_of(row) != spec.cadence:
                    changes["next_run_at"] = spec.cadence.next_after(now)
                conn.execute(schedules.update().where(schedules.c.name == name).values(changes))
            gone = [
                name
                for name, row in stored.items()
                if name not in declared and row["workflow"] in workflows and not row["orphaned"]
            ]
            if gone:
                conn.execute(
                    schedules.update()
                    .where(schedules.c.name.in_(gone))
                    .values(orphaned=True, updated_at=now)
                )

    def list(self) -> list[ScheduleView]:
        """Every stored schedule, by name."""
        with self.store.read() as conn:
            rows = conn.execute(_with_last_status().order_by(schedules.c.name)).mappings().all()
            return [_view(row) for row in rows]

    def get(self, name: str) -> ScheduleView:
        """One schedule with its recent ticks; :class:`ScheduleNotFound` names the known."""
        with self.store.read() as conn:
            row = (
                conn.execute(_with_last_status().where(schedules.c.name == name)).mappings().first()
            )
            if row is None:
                raise _unknown(conn, name)
            ticks = conn.execute(
                sa.select(schedule_ticks)
                .where(schedule_ticks.c.schedule == name)
                .order_by(schedule_ticks.c.id.desc())
                .limit(RECENT_TICKS)
            ).mappings()
            recent = tuple(
                TickRecord(
                    t["tick_at"],
                    TickOutcome(t["outcome"]),
                    t["count"],
                    t["instance_id"],
                    t["recorded_at"],
                    t["detail"],
                )
                for t in ticks
            )
        return replace(_view(row), ticks=recent)

    def next_due(self) -> float | None:
        """The earliest next tick of a schedule that ticks (not paused nor orphaned)."""
        with self.store.read() as conn:
            return conn.execute(
                sa.select(sa.func.min(schedules.c.next_run_at)).where(
                    schedules.c.paused.is_(False), schedules.c.orphaned.is_(False)
                )
            ).scalar_one_or_none()

    def due(self, now: float) -> builtins.list[tuple[str, float]]:
        """The schedules that tick whose next tick is due at ``now``: (name, next_run_at)."""
        with self.store.read() as conn:
            rows = conn.execute(
                sa.select(schedules.c.name, schedules.c.next_run_at)
                .where(
                    schedules.c.paused.is_(False),
                    schedules.c.orphaned.is_(False),
                    schedules.c.next_run_at <= now,
                )
                .order_by(schedules.c.next_run_at)
            ).all()
        return [(row[0], row[1]) for row in rows]

    # -- operators ------------------------------------------------------------------------

    def pause(self, name: str, audit: AuditEntry) -> ScheduleView:
        """Stop ticking ``name`` until resumed; refused if it is paused already."""
        now = self._now()
        with self.store.write() as conn:
            row = _existing(conn, name)
            if row["paused"]:
                raise NotRunnable(
                    f"schedule {name!r} is already paused (since {_iso(row['paused_at'], None)}"
                    f", by {row['paused_by'] or 'unknown'}: {row['paused_reason'] or 'no reason'}"
                    f"); `daytwo schedules resume {name}` resumes it"
                )
            conn.execute(
                schedules.update()
                .where(schedules.c.name == name)
                .values(
                    paused=True,
                    paused_by=audit.actor,
                    paused_reason=audit.reason,
                    paused_at=now,
                    updated_at=now,
                )
            )
            append_audit(conn, audit, now)
        return self.get(name)

    def resume(self, name: str, audit: AuditEntry) -> ScheduleView:
        """Tick ``name`` again from the first tick after now; refused if it is not paused."""
        now = self._now()
        with self.store.write() as conn:
            row = _existing(conn, name)
            if not row["paused"]:
                raise NotRunnable(
                    f"schedule {name!r} is not paused; `daytwo schedules pause {name}` pauses it"
                )
            conn.execute(
                schedules.update()
                .where(schedules.c.name == name)
                .values(
                    paused=False,
                    paused_by=None,
                    paused_reason=None,
                    paused_at=None,
                    next_run_at=cadence_of(row).next_after(now),
                    updated_at=now,
                )
            )
            append_audit(conn, audit, now)
        return self.get(name)


def _with_last_status() -> sa.Select[Any]:
    last = instances.alias("last_instance")
    return sa.select(schedules, last.c.status.label("last_status")).select_from(
        schedules.outerjoin(last, last.c.id == schedules.c.last_instance_id)
    )


def _view(row: Mapping[Any, Any]) -> ScheduleView:
    return ScheduleView(
        name=row["name"],
        workflow=row["workflow"],
        version=row["version"],
        queue=row["queue"],
        cadence=cadence_of(row),
        catch_up=CatchUp(row["catch_up"]),
        max_catch_up=row["max_catch_up"],
        overlap=Overlap(row["overlap"]),
        input_text=row["input"],
        orphaned=bool(row["orphaned"]),
        paused=bool(row["paused"]),
        paused_by=row["paused_by"],
        paused_reason=row["paused_reason"],
        paused_at=row["paused_at"],
        next_run_at=row["next_run_at"],
        last_tick_at=row["last_tick_at"],
        last_instance_id=row["last_instance_id"],
        last_status=row["last_status"],
    )


def _existing(conn: sa.Connection, name: str) -> Mapping[Any, Any]:
    row = conn.execute(sa.select(schedules).where(schedules.c.name == name)).mappings().first()
    if row is None:
        raise _unknown(conn, name)
    return row


def _unknown(conn: sa.Connection, name: str) -> ScheduleNotFound:
    known = conn.execute(sa.select(schedules.c.name).order_by(schedules.c.name)).scalars().all()
    return ScheduleNotFound(name, list(known))
