"""deadlines of whole instances

Revision ID: 0017
Revises: 0016

``instances.deadline_at``: when an instance started with a timeout
(``@app.workflow(timeout=...)`` or a start's ``timeout=``) fails for exceeding it. A
partial index over the live instances that have one lets the deadline service find the
due ones without reading instances that have no deadline or have ended.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

DEADLINED = "deadline_at IS NOT NULL AND finished_at IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("instances") as batch:
        batch.add_column(sa.Column("deadline_at", sa.Double(), nullable=True))
    op.create_index(
        "ix_instances_deadline",
        "instances",
        ["deadline_at"],
        sqlite_where=sa.text(DEADLINED),
        postgresql_where=sa.text(DEADLINED),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_instances_deadline",
        table_name="instances",
        sqlite_where=sa.text(DEADLINED),
        postgresql_where=sa.text(DEADLINED),
    )
    with op.batch_alter_table("instances") as batch:
        batch.drop_column("deadline_at")
