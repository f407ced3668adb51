"""dependency slots per fan-out branch: a ``branch`` column in the slot's key

Revision ID: 0016
Revises: 0015

A fan-out (``ctx.gather``) runs several calls of one limited dependency at once for one
instance; each takes a slot of its own. ``branch`` is 0 for an instance's ordinary step
call and the branch's history position (always > 0: its fan-out's head comes first) for a
branch, and joins the primary key. Existing slots are an instance's ordinary calls: 0.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dependency_slots", recreate="always") as batch:
        batch.add_column(sa.Column("branch", sa.Integer(), nullable=False, server_default="0"))
        batch.drop_constraint("pk_dependency_slots", type_="primary")
        batch.create_primary_key("pk_dependency_slots", ["dependency", "instance_id", "branch"])


def downgrade() -> None:
    # Keeps one slot per (dependency, instance): the ordinary call's, else any branch's.
    op.execute(
        "DELETE FROM dependency_slots WHERE branch <> 0 AND EXISTS (SELECT 1 FROM "
        "dependency_slots AS other WHERE other.dependency = dependency_slots.dependency "
        "AND other.instance_id = dependency_slots.instance_id AND other.branch < "
        "dependency_slots.branch)"
    )
    with op.batch_alter_table("dependency_slots", recreate="always") as batch:
        batch.drop_constraint("pk_dependency_slots", type_="primary")
        batch.create_primary_key("pk_dependency_slots", ["dependency", "instance_id"])
        batch.drop_column("branch")
