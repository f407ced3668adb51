"""human tasks of ended instances are closed, with the reason

Revision ID: 0006
Revises: 0005

A task left open when its instance ended (cancelled, failed, compensated, incompatible)
could never be completed and stayed in every assignee's inbox. Such tasks are now closed in
the transaction that ends the instance; this migration closes those an older daytwo left
open.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TERMINAL = (
    "SUCCEEDED",
    "FAILED",
    "COMPENSATED",
    "COMPENSATION_FAILED",
    "CANCELLED",
    "INCOMPATIBLE",
)


def upgrade() -> None:
    with op.batch_alter_table("human_tasks") as batch:
        batch.add_column(sa.Column("closed_reason", sa.Text()))
    statuses = ", ".join(f"'{status}'" for status in TERMINAL)
    op.execute(
        "UPDATE human_tasks SET status = 'closed', "
        "closed_reason = 'the instance ended ' || (SELECT status FROM instances "
        "WHERE instances.id = human_tasks.instance_id), "
        "completed_at = (SELECT finished_at FROM instances "
        "WHERE instances.id = human_tasks.instance_id) "
        f"WHERE status = 'open' AND instance_id IN (SELECT id FROM instances "
        f"WHERE status IN ({statuses}))"
    )


def downgrade() -> None:
    op.execute("UPDATE human_tasks SET status = 'open' WHERE status = 'closed'")
    with op.batch_alter_table("human_tasks") as batch:
        batch.drop_column("closed_reason")
