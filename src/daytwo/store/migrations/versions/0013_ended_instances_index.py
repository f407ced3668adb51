"""ended instances by workflow and finish time, for retention

Revision ID: 0013
Revises: 0012

Retention deletes the ended instances of a workflow that finished before a cut-off, in
batches, oldest first. A partial index over ended instances only (finished_at is set
exactly when an instance reaches a terminal status) lets each batch read its ids without
scanning live rows; it is written once per instance, by the write that ends it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

ENDED = "finished_at IS NOT NULL"


def upgrade() -> None:
    op.create_index(
        "ix_instances_ended",
        "instances",
        ["workflow", "finished_at"],
        sqlite_where=sa.text(ENDED),
        postgresql_where=sa.text(ENDED),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_instances_ended",
        table_name="instances",
        sqlite_where=sa.text(ENDED),
        postgresql_where=sa.text(ENDED),
    )
