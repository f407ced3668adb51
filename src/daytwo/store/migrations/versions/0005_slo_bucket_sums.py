"""SLO buckets keep the sum of cycle times and the time of their latest event

Revision ID: 0005
Revises: 0004

``slo_buckets`` gains ``cycle_seconds`` (the sum of the cycle times an ``end:`` row counts:
the cycle-time histogram's ``_sum`` on /metrics) and ``last_at`` (the time of the row's
latest event: the objectives' last-event timestamp). The existing rows get both from the
rows they count (instances, step attempts, compensations), so an upgraded database reports
its whole past exactly, as if the columns had always been written.
"""

from __future__ import annotations

import bisect
from collections import defaultdict

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
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

_Key = tuple[str, int, float, str, str]


def upgrade() -> None:
    with op.batch_alter_table("slo_buckets", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("cycle_seconds", sa.Double(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("last_at", sa.Double(), nullable=False, server_default="0"))
    _backfill(op.get_bind())


def _backfill(conn: sa.Connection) -> None:
    """Recount the sums and latest times of the existing bucket rows from what they count."""
    sums: dict[_Key, float] = defaultdict(float)
    latest: dict[_Key, float] = {}

    def add(workflow: str, version: str, at: float, series: str, took: float = 0.0) -> None:
        for resolution in _RESOLUTIONS:
            key = (workflow, resolution, at - at % resolution, version, series)
            sums[key] += took
            latest[key] = max(latest.get(key, at), at)

    ended = conn.execute(
        sa.text(
            "SELECT workflow, version, status, created_at, finished_at FROM instances "
            "WHERE finished_at IS NOT NULL"
        )
    )
    for workflow, version, status, created_at, finished_at in ended:
        took = finished_at - created_at
        index = bisect.bisect_left(_BOUNDS, took)
        bound = f"{_BOUNDS[index]:g}" if index < len(_BOUNDS) else "inf"
        add(workflow, version, finished_at, f"end:{status}:{bound}", took)
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
    if not latest:
        return
    # Rows pruned earlier (old minute buckets) match nothing and stay pruned.
    conn.execute(
        sa.text(
            "UPDATE slo_buckets SET cycle_seconds = :cycle_seconds, last_at = :last_at "
            "WHERE workflow = :workflow AND resolution = :resolution "
            "AND bucket_start = :bucket_start AND version = :version AND series = :series"
        ),
        [
            {
                "workflow": w,
                "resolution": r,
                "bucket_start": b,
                "version": v,
                "series": s,
                "cycle_seconds": sums[w, r, b, v, s],
                "last_at": at,
            }
            for (w, r, b, v, s), at in latest.items()
        ],
    )


def downgrade() -> None:
    with op.batch_alter_table("slo_buckets", schema=None) as batch_op:
        batch_op.drop_column("last_at")
        batch_op.drop_column("cycle_seconds")
