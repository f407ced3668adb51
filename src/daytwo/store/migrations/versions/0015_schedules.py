"""durable schedules and their recent ticks

Revision ID: 0015
Revises: 0014

One row per schedule (its definition as the code declared it last, its paused state and
its next tick) and the recent ticks' outcomes. They start empty: a worker writes its
code's declared schedules when it starts.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("workflow", sa.String(length=255), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("queue", sa.String(length=255), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("cron", sa.String(length=255), nullable=True),
        sa.Column("every", sa.Double(), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("catch_up", sa.String(length=16), nullable=False),
        sa.Column("max_catch_up", sa.Integer(), nullable=False),
        sa.Column("overlap", sa.String(length=16), nullable=False),
        sa.Column("input", sa.Text(), nullable=False),
        sa.Column("timeout", sa.Double(), nullable=True),
        sa.Column("definition_hash", sa.String(length=64), nullable=False),
        sa.Column("orphaned", sa.Boolean(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("paused_by", sa.String(length=255), nullable=True),
        sa.Column("paused_reason", sa.Text(), nullable=True),
        sa.Column("paused_at", sa.Double(), nullable=True),
        sa.Column("next_run_at", sa.Double(), nullable=False),
        sa.Column("last_tick_at", sa.Double(), nullable=True),
        sa.Column("last_instance_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_index("ix_schedules_next_run_at", "schedules", ["next_run_at"])
    op.create_table(
        "schedule_ticks",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("schedule", sa.String(length=255), nullable=False),
        sa.Column("tick_at", sa.Double(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.String(length=255), nullable=True),
        sa.Column("recorded_at", sa.Double(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_schedule_ticks_schedule_id", "schedule_ticks", ["schedule", "id"])


def downgrade() -> None:
    op.drop_index("ix_schedule_ticks_schedule_id", table_name="schedule_ticks")
    op.drop_table("schedule_ticks")
    op.drop_index("ix_schedules_next_run_at", table_name="schedules")
    op.drop_table("schedules")
