"""instance links (restarts, forks) and bulk jobs with their instances

Revision ID: 0010
Revises: 0009

``instance_links`` records which instance was made from which (a restart, a fork);
``bulk_jobs`` and ``bulk_items`` hold the bulk actions and the instances each acts on.
All three start empty.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "instance_links",
        sa.Column("instance_id", sa.String(length=255), nullable=False),
        sa.Column("linked_id", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("instance_id", "kind", "linked_id", name="pk_instance_links"),
    )
    op.create_index("ix_instance_links_linked", "instance_links", ["linked_id", "kind"])
    op.create_table(
        "bulk_jobs",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("params", sa.Text(), nullable=True),
        sa.Column("selection", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("selected", sa.Integer(), nullable=False),
        sa.Column("rate", sa.Double(), nullable=False),
        sa.Column("batch_size", sa.Integer(), nullable=False),
        sa.Column("audit_id", sa.BigInteger(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("finished_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "bulk_items",
        sa.Column("job_id", sa.String(length=255), nullable=False),
        sa.Column("instance_id", sa.String(length=255), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("acted_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("job_id", "instance_id", name="pk_bulk_items"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_bulk_items_outcome", "bulk_items", ["job_id", "outcome", "instance_id"])


def downgrade() -> None:
    op.drop_index("ix_bulk_items_outcome", table_name="bulk_items")
    op.drop_table("bulk_items")
    op.drop_table("bulk_jobs")
    op.drop_index("ix_instance_links_linked", table_name="instance_links")
    op.drop_table("instance_links")
