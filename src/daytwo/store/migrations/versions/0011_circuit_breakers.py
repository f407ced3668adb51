"""circuit breakers per dependency

Revision ID: 0011
Revises: 0010

The state of each dependency's breaker, the window of recorded calls of a closed one and
the probe permits of a half-open one. They start empty: a worker writes its code's
declared breakers when it starts, an operator with ``daytwo breaker set``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "breakers",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("since", sa.Double(), nullable=False),
        sa.Column("until", sa.Double(), nullable=True),
        sa.Column("probe_calls", sa.Integer(), server_default="0", nullable=False),
        sa.Column("probe_failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("probe_slow", sa.Integer(), server_default="0", nullable=False),
        sa.Column("policy", sa.Text(), nullable=False),
        sa.Column("policy_source", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("changed_by", sa.String(length=255), nullable=True),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "breaker_calls",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("duration", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_breaker_calls_name_id", "breaker_calls", ["name", "id"])
    op.create_index("ix_breaker_calls_name_at", "breaker_calls", ["name", "at"])
    op.create_table(
        "breaker_probes",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("instance_id", sa.String(length=255), nullable=False),
        sa.Column("lease_token", sa.Integer(), nullable=False),
        sa.Column("taken_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("name", "instance_id", name="pk_breaker_probes"),
    )


def downgrade() -> None:
    op.drop_table("breaker_probes")
    op.drop_index("ix_breaker_calls_name_at", table_name="breaker_calls")
    op.drop_index("ix_breaker_calls_name_id", table_name="breaker_calls")
    op.drop_table("breaker_calls")
    op.drop_table("breakers")
