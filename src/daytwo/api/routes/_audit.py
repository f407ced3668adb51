"""The audit log: who did what to which instances, why, and how it ended, newest first.

Any viewer may read it, but only with an unscoped token: the log spans every workflow (and
the queues, breakers and tokens), and its rows do not all name one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from daytwo import AuditOutcome, AuditRecord, AuditTarget
from daytwo._instance_pages import MAX_PAGE
from daytwo.api._auth import viewer
from daytwo.api.routes._common import Api

__all__ = ["AuditPage", "router"]

router = APIRouter(prefix="/audit", tags=["audit"])


class AuditPage(BaseModel):
    """One page of the audit log, newest first; ``next`` is the ``before_id`` of the
    following page, None on the last one."""

    items: list[AuditRecord]
    next: int | None = None


def _utc(moment: datetime | None) -> datetime | None:
    # A time without a zone is read as UTC (as the log stores it), not as the server's zone.
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


@router.get("", response_model=AuditPage)
def list_audit(
    api: Api,
    caller: viewer,
    action: Annotated[
        str | None, Query(description="An action (instance.retry) or a family (instance).")
    ] = None,
    actor: str | None = None,
    target_kind: AuditTarget | None = None,
    target: Annotated[str | None, Query(description="An instance or task id, a name.")] = None,
    outcome: AuditOutcome | None = None,
    since: Annotated[
        datetime | None, Query(description="From (ISO 8601, or Unix seconds).")
    ] = None,
    until: Annotated[
        datetime | None, Query(description="Before (ISO 8601, or Unix seconds).")
    ] = None,
    before_id: Annotated[
        int | None,
        Query(ge=1, le=2**63 - 1, description="Rows older than this id: the previous `next`."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> AuditPage:
    """Audit records, newest first, filtered as ``daytwo audit list`` does (refused
    actions included)."""
    caller.unscoped("the audit log")
    records = api.client.audit.list(
        action=action, actor=actor, target_kind=target_kind, target=target, outcome=outcome,
        since=_utc(since), until=_utc(until), before_id=before_id, limit=limit,
    )  # fmt: skip
    following = records[-1].id if len(records) == limit else None
    return AuditPage(items=records, next=following)
