"""worker registrations: the queues, workflow versions and steps each worker serves

Revision ID: 0007
Revises: 0006

A worker records at start what it serves and how long its lease lasts, so that an
instance no live worker can run says so (``Instance.waiting_for``, ``daytwo slo stuck``)
and flow-control commands can check the names they are given. Existing rows (workers of
an older daytwo) keep NULLs: they may serve anything.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

COLUMNS: tuple[tuple[str, sa.types.TypeEngine[Any]], ...] = (
    ("lease_seconds", sa.Double()),
    ("queues", sa.Text()),
    ("workflows", sa.Text()),
    ("steps", sa.Text()),
)


def upgrade() -> None:
    for name, type_ in COLUMNS:
        op.add_column("workers", sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
