"""flow control: queues, pauses, dependency limits; claim indexes by queue and priority

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

READY = "status = 'RUNNABLE'"
TIMED = "run_at IS NOT NULL AND status <> 'RUNNABLE'"
RUNNING = "status = 'RUNNING'"


def _partial(condition: str) -> dict[str, Any]:
    return {"sqlite_where": sa.text(condition), "postgresql_where": sa.text(condition)}


def upgrade() -> None:
    op.drop_index("ix_instances_due", table_name="instances", **_partial("run_at IS NOT NULL"))
    op.create_index(
        "ix_instances_due", "instances", ["workflow", "version", "run_at"], **_partial(TIMED)
    )
    op.create_index(
        "ix_instances_ready", "instances", ["queue", "priority", "run_at"], **_partial(READY)
    )
    op.create_index("ix_instances_running", "instances", ["queue", "run_at"], **_partial(RUNNING))
    op.create_table(
        "queues",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=True),
        sa.Column("worker_concurrency", sa.Integer(), nullable=True),
        sa.Column("rate_limit", sa.Integer(), nullable=True),
        sa.Column("rate_period", sa.Double(), nullable=True),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "queue_starts",
        sa.Column("queue", sa.String(length=255), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("instance_id", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("queue", "at", "instance_id", name="pk_queue_starts"),
    )
    op.create_table(
        "pauses",
        sa.Column("workflow", sa.String(length=255), nullable=False),
        sa.Column("step", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("paused_by", sa.String(length=255), nullable=True),
        sa.Column("paused_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("workflow", "step", name="pk_pauses"),
    )
    op.create_table(
        "dependency_limits",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "dependency_slots",
        sa.Column("dependency", sa.String(length=255), nullable=False),
        sa.Column("instance_id", sa.String(length=255), nullable=False),
        sa.Column("lease_token", sa.Integer(), nullable=False),
        sa.Column("acquired_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("dependency", "instance_id", name="pk_dependency_slots"),
    )


def downgrade() -> None:
    for table in ("dependency_slots", "dependency_limits", "pauses", "queue_starts", "queues"):
        op.drop_table(table)
    op.drop_index("ix_instances_running", table_name="instances", **_partial(RUNNING))
    op.drop_index("ix_instances_ready", table_name="instances", **_partial(READY))
    op.drop_index("ix_instances_due", table_name="instances", **_partial(TIMED))
    op.create_index(
        "ix_instances_due",
        "instances",
        ["workflow", "version", "run_at"],
        **_partial("run_at IS NOT NULL"),
    )
