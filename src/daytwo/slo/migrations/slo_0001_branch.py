"""the slo migration branch begins

Revision ID: slo_0001
Revises:
Depends on: 0007

The SLO tables (slo_buckets, slo_definitions, slo_evaluations, slo_alerts) were created by
core revisions 0003 and 0005, before packages had branches of their own; those revisions
stay as they are (databases are stamped with them). From here on, changes to tables that
daytwo.slo owns are revisions of this branch: slo_0002, slo_0003, ...

This revision changes nothing. It depends on 0007 because daytwo.slo reads the worker
registrations (the stuck counts ask which instances no live worker serves).
"""

from __future__ import annotations

revision = "slo_0001"
down_revision = None
branch_labels = ("slo",)
depends_on = "0007"


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
