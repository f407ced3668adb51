"""human tasks with a plan (reminders, escalation chain, timeout) and their events

Revision ID: 0012
Revises: 0011

``human_tasks`` gains the plan of its reminders, escalations and timeout (JSON), the index
of its next step and when that step is due (indexed: the task-deadline service reads the
due ones). ``task_events`` records what happened to each task. Tasks from before the
upgrade have no plan, and their events start with the upgrade.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("human_tasks") as batch:
        batch.add_column(sa.Column("plan", sa.Text()))
        batch.add_column(sa.Column("next_step", sa.Integer()))
        batch.add_column(sa.Column("next_action_at", sa.Double()))
    op.create_index("ix_human_tasks_next_action", "human_tasks", ["next_action_at"])
    op.create_table(
        "task_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=True),
        sa.Column("from_assignee", sa.String(length=255), nullable=True),
        sa.Column("to_assignee", sa.String(length=255), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["task_id"], ["human_tasks.id"]),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_task_events_task", "task_events", ["task_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_task_events_task", table_name="task_events")
    op.drop_table("task_events")
    op.drop_index("ix_human_tasks_next_action", table_name="human_tasks")
    with op.batch_alter_table("human_tasks") as batch:
        batch.drop_column("next_action_at")
        batch.drop_column("next_step")
        batch.drop_column("plan")
