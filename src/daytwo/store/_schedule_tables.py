"""The tables of durable schedules, on the engine's :data:`metadata` (migration 0015).

``schedules``: one row per schedule, its definition as the code declared it last
(``definition_hash`` tells a changed declaration), its operator state (paused, by whom,
why) and where it is (``next_run_at``, the last tick and the instance it started).
``schedule_ticks``: what became of recent ticks (a :class:`~daytwo.store.TickOutcome`);
one row stands for a run of missed ticks (``count``), so an outage adds one row, not one
per tick.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Double,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from daytwo.store._schema import metadata

__all__ = ["schedule_ticks", "schedules"]

schedules = Table(
    "schedules",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("workflow", String(255), nullable=False),
    Column("version", String(64), nullable=False),
    Column("queue", String(255), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("cron", String(255)),
    Column("every", Double),
    Column("timezone", String(64), nullable=False),
    Column("catch_up", String(16), nullable=False),
    Column("max_catch_up", Integer, nullable=False),
    Column("overlap", String(16), nullable=False),
    Column("input", Text, nullable=False),
    # Seconds each instance it starts may take (its workflow's ``timeout=``; NULL: none).
    Column("timeout", Double),
    Column("definition_hash", String(64), nullable=False),
    Column("orphaned", Boolean, nullable=False),
    Column("paused", Boolean, nullable=False),
    Column("paused_by", String(255)),
    Column("paused_reason", Text),
    Column("paused_at", Double),
    Column("next_run_at", Double, nullable=False),
    Column("last_tick_at", Double),
    Column("last_instance_id", String(255)),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Index("ix_schedules_next_run_at", "next_run_at"),
)

schedule_ticks = Table(
    "schedule_ticks",
    metadata,
    Column(
        "id",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("schedule", String(255), nullable=False),
    Column("tick_at", Double, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("count", Integer, nullable=False),
    Column("instance_id", String(255)),
    Column("recorded_at", Double, nullable=False),
    Column("detail", Text),
    Index("ix_schedule_ticks_schedule_id", "schedule", "id"),
    sqlite_autoincrement=True,
)
