"""running instances leave ix_instances_due; expired leases are found per queue

Revision ID: 0004
Revises: 0003

A running instance was in two claim indexes (due: its lease expiry; running: its queue).
Expired leases are now found through ix_instances_running, so ix_instances_due keeps only
waiting instances with a wake time, and each start, heartbeat and end of a run maintains
one index fewer.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

OLD_TIMED = "run_at IS NOT NULL AND status <> 'RUNNABLE'"
TIMED = "status = 'WAITING' AND run_at IS NOT NULL"
COLUMNS = ["workflow", "version", "run_at"]


def _partial(condition: str) -> dict[str, Any]:
    return {"sqlite_where": sa.text(condition), "postgresql_where": sa.text(condition)}


def upgrade() -> None:
    op.drop_index("ix_instances_due", table_name="instances", **_partial(OLD_TIMED))
    op.create_index("ix_instances_due", "instances", COLUMNS, **_partial(TIMED))


def downgrade() -> None:
    op.drop_index("ix_instances_due", table_name="instances", **_partial(TIMED))
    op.create_index("ix_instances_due", "instances", COLUMNS, **_partial(OLD_TIMED))
