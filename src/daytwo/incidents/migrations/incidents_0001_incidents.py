"""the incidents migration branch begins: ownership versions, incidents, their alerts,
timelines and notifications

Revision ID: incidents_0001
Revises:
Depends on: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "incidents_0001"
down_revision = None
branch_labels = ("incidents",)
depends_on = "0017"


def upgrade() -> None:
    op.create_table(
        "ownership_versions",
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("source", sa.String(512), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("title", sa.String(512), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("impact", sa.String(8), nullable=True),
        sa.Column("urgency", sa.String(8), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("dedup_key", sa.String(512), nullable=True),
        sa.Column("workflow", sa.String(255), nullable=True),
        sa.Column("dependency", sa.String(255), nullable=True),
        sa.Column("assignee", sa.String(255), nullable=True),
        sa.Column("ownership_version", sa.Integer(), nullable=True),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.Column("stages", sa.Text(), nullable=False),
        sa.Column("opened_at", sa.Double(), nullable=False),
        sa.Column("opened_by", sa.String(128), nullable=False),
        sa.Column("acknowledged_at", sa.Double(), nullable=True),
        sa.Column("acknowledged_by", sa.String(128), nullable=True),
        sa.Column("resolved_at", sa.Double(), nullable=True),
        sa.Column("resolved_by", sa.String(128), nullable=True),
        sa.Column("last_signal_at", sa.Double(), nullable=False),
        sa.Column("quiet_after", sa.Double(), nullable=True),
    )
    op.create_index("ix_incidents_status", "incidents", ["status", "opened_at"])
    op.create_index("ix_incidents_workflow", "incidents", ["workflow", "status"])
    op.create_index("ix_incidents_opened_at", "incidents", ["opened_at"])
    op.create_table(
        "incident_alerts",
        sa.Column("incident_id", sa.Integer(), primary_key=True),
        sa.Column("alert_key", sa.String(512), primary_key=True),
        sa.Column("dedup_key", sa.String(512), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("summary", sa.String(1024), nullable=False),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.Column("first_at", sa.Double(), nullable=False),
        sa.Column("last_at", sa.Double(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
    )
    op.create_index("ix_incident_alerts_dedup", "incident_alerts", ["dedup_key", "state"])
    op.create_table(
        "incident_timeline",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
    )
    op.create_index("ix_incident_timeline_incident", "incident_timeline", ["incident_id", "id"])
    op.create_table(
        "incident_notifications",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("event_seq", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(255), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("target", sa.String(512), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("delivered_at", sa.Double(), nullable=True),
        sa.UniqueConstraint("event_seq", "recipient", "channel", name="uq_incident_notifications"),
    )
    op.create_index(
        "ix_incident_notifications_incident",
        "incident_notifications",
        ["incident_id", "id"],
    )


def downgrade() -> None:
    op.drop_table("incident_notifications")
    op.drop_table("incident_timeline")
    op.drop_table("incident_alerts")
    op.drop_table("incidents")
    op.drop_table("ownership_versions")
