"""SLO aggregates, definitions, evaluations, alerts and service leases

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 19:10:00

Existing finished instances, retries and compensations are counted into ``slo_buckets``
so that an upgraded database evaluates its SLOs over its whole past.
"""

from __future__ import annotations

import bisect
from collections import Counter

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Frozen copies of daytwo.store._aggregates at the time of this migration.
_RESOLUTIONS = (60, 3600)
_BOUNDS = tuple(
    sorted(
        [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1200, 1800, 2700]
        + [h * 3600 for h in (1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 36, 48, 72, 96, 120)]
        + [d * 86400 for d in (7, 10, 14, 21, 28, 30, 45, 60, 90)]
    )
)


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("slo_buckets"):
        # Made by a release that numbered this migration 0002 (see _migrate.py): done already.
        return
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.drop_index("ix_instances_workflow_status")
        batch_op.create_index(
            "ix_instances_workflow_status", ["workflow", "status", "created_at"], unique=False
        )
    op.create_table(
        "slo_buckets",
        sa.Column("workflow", sa.String(length=255), nullable=False),
        sa.Column("resolution", sa.Integer(), nullable=False),
        sa.Column("bucket_start", sa.Double(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("series", sa.String(length=300), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "workflow", "resolution", "bucket_start", "version", "series", name="pk_slo_buckets"
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "slo_definitions",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=32), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("name", "version", name="pk_slo_definitions"),
    )
    op.create_table(
        "slo_evaluations",
        sa.Column("objective", sa.String(length=128), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("definition_version", sa.Integer(), nullable=False),
        sa.Column("good", sa.Double(), nullable=False),
        sa.Column("valid", sa.Double(), nullable=False),
        sa.Column("sli", sa.Double(), nullable=True),
        sa.Column("budget_remaining", sa.Double(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("objective", "at", name="pk_slo_evaluations"),
    )
    op.create_table(
        "slo_alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dedup_key", sa.String(length=300), nullable=False),
        sa.Column("objective", sa.String(length=128), nullable=False),
        sa.Column("definition_version", sa.Integer(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("runbook", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("fired_at", sa.Double(), nullable=False),
        sa.Column("resolved_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("slo_alerts", schema=None) as batch_op:
        batch_op.create_index("ix_slo_alerts_fired", ["fired_at"], unique=False)
        batch_op.create_index("ix_slo_alerts_key_status", ["dedup_key", "status"], unique=False)
    op.create_table(
        "service_leases",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    _backfill(op.get_bind())


def _backfill(conn: sa.Connection) -> None:
    """Count the existing history into slo_buckets."""
    counts: Counter[tuple[str, int, float, str, str]] = Counter()

    def add(workflow: str, version: str, at: float, series: str) -> None:
        for resolution in _RESOLUTIONS:
            counts[(workflow, resolution, at - at % resolution, version, series)] += 1

    ended = conn.execute(
        sa.text(
            "SELECT workflow, version, status, created_at, finished_at FROM instances "
            "WHERE finished_at IS NOT NULL"
        )
    )
    for workflow, version, status, created_at, finished_at in ended:
        index = bisect.bisect_left(_BOUNDS, finished_at - created_at)
        bound = f"{_BOUNDS[index]:g}" if index < len(_BOUNDS) else "inf"
        add(workflow, version, finished_at, f"end:{status}:{bound}")
    retries = conn.execute(
        sa.text(
            "SELECT i.workflow, i.version, a.name, a.finished_at FROM step_attempts a "
            "JOIN instances i ON i.id = a.instance_id"
        )
    )
    for workflow, version, name, at in retries:
        add(workflow, version, at, f"retry:{name}")
    compensations = conn.execute(
        sa.text(
            "SELECT i.workflow, i.version, h.name, h.finished_at FROM history h "
            "JOIN instances i ON i.id = h.instance_id WHERE h.kind = 'compensation'"
        )
    )
    for workflow, version, name, at in compensations:
        add(workflow, version, at, f"comp:{name}")
    if counts:
        table = sa.table(
            "slo_buckets",
            *(
                sa.column(c)
                for c in ("workflow", "resolution", "bucket_start", "version", "series", "events")
            ),
        )
        rows = [
            {
                "workflow": w,
                "resolution": r,
                "bucket_start": b,
                "version": v,
                "series": s,
                "events": n,
            }
            for (w, r, b, v, s), n in counts.items()
        ]
        conn.execute(table.insert(), rows)


def downgrade() -> None:
    op.drop_table("service_leases")
    with op.batch_alter_table("slo_alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_slo_alerts_key_status")
        batch_op.drop_index("ix_slo_alerts_fired")
    op.drop_table("slo_alerts")
    op.drop_table("slo_evaluations")
    op.drop_table("slo_definitions")
    op.drop_table("slo_buckets")
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.drop_index("ix_instances_workflow_status")
        batch_op.create_index("ix_instances_workflow_status", ["workflow", "status"], unique=False)
