"""child workflows: an instance's parent and the parent-close policy

Revision ID: 0014
Revises: 0013

A child workflow's row names its parent instance (``parent_id``) and what the parent's
end does to it (``parent_close``: cancel or abandon). A partial index over children only
finds a parent's children (its status, the cancel of its children when it ends) without
any cost for instances that have no parent.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

CHILD = "parent_id IS NOT NULL"


def upgrade() -> None:
    op.add_column("instances", sa.Column("parent_id", sa.String(255), nullable=True))
    op.add_column("instances", sa.Column("parent_close", sa.String(16), nullable=True))
    op.create_index(
        "ix_instances_parent",
        "instances",
        ["parent_id"],
        sqlite_where=sa.text(CHILD),
        postgresql_where=sa.text(CHILD),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_instances_parent",
        table_name="instances",
        sqlite_where=sa.text(CHILD),
        postgresql_where=sa.text(CHILD),
    )
    with op.batch_alter_table("instances") as batch:
        batch.drop_column("parent_close")
        batch.drop_column("parent_id")
