"""Bulk actions: one operator action on every instance of a selection (``client.bulk``),
a dry run unless ``dry_run`` is false; the jobs and what became of their instances.

A token scoped to workflows may only select within them: its selection must name one of
its workflows (a selection without ``workflow`` spans every workflow, so it needs an
unscoped token), and it sees only the jobs over its workflows.
"""

from __future__ import annotations

import builtins
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from daytwo import _bulk
from daytwo._bulk import ACTIONS, BulkPreview, BulkProgress
from daytwo._errors import InvalidInput
from daytwo._moments import parse_moment
from daytwo._selection import Selection
from daytwo.api._auth import Caller, operator, viewer
from daytwo.api._models import Body
from daytwo.api.routes._common import Api
from daytwo.store import BulkOutcome

__all__ = ["BulkItem", "BulkRequest", "SelectionRequest", "router"]

router = APIRouter(prefix="/bulk", tags=["bulk"])

_NAMES = ", ".join(action.value.removeprefix("instance.") for action in ACTIONS)
#: A moment: epoch seconds, an ISO 8601 date/time (UTC unless it says), or a time ago.
Moment = Annotated[
    Annotated[float, Field(allow_inf_nan=False)] | str | None,
    Field(description="Epoch seconds, an ISO 8601 UTC date/time, or a time ago (2h, 90d)."),
]


class SelectionRequest(Body):
    """Which instances: every field given must hold (``daytwo.Selection``)."""

    workflow: str | None = None
    version: str | None = None
    #: One status or several (FAILED, NEEDS_ATTENTION, ...).
    status: str | builtins.list[str] | None = None
    state: str | None = None
    #: At this step: running, retrying, parked or paused there.
    step: str | None = None
    #: At a step that calls this dependency.
    dependency: str | None = None
    started_before: Moment = None
    started_after: Moment = None
    entered_before: Moment = None
    entered_after: Moment = None
    #: A piece of the error (or of the pending step's last error), in any case.
    error: str | None = None
    #: Select every instance (a selection with no field is refused without it).
    all: bool = False

    def selection(self, now: float) -> Selection:
        """The :class:`Selection` (times as text read at ``now``); bad fields refused."""
        values: dict[str, Any] = self.model_dump(exclude_none=True)
        for name in ("started_before", "started_after", "entered_before", "entered_after"):
            if isinstance(values.get(name), str):
                try:
                    values[name] = parse_moment(values[name], now, f"selection {name}")
                except ValueError as exc:
                    raise InvalidInput(str(exc)) from None
                except OverflowError:  # so many days ago that no date holds it
                    raise InvalidInput(
                        f"selection {name} {values[name]!r} is out of range; give a time ago "
                        "(2h, 90d) or a date after 1970"
                    ) from None
        if isinstance(values.get("status"), builtins.list):
            values["status"] = tuple(values["status"])
        return Selection(**values)


class BulkRequest(Body):
    action: str = Field(description=f"One of {_NAMES}.")
    selection: SelectionRequest
    #: The action's own parameters: skip's ``result``, restart's ``version``.
    params: dict[str, Any] | None = None
    #: True (the default): only count and list the first ids, change nothing.
    dry_run: bool = True
    #: Instances per second (default 50).
    rate: float | None = Field(None, allow_inf_nan=False)
    #: Instances per batch (default: the rate, at most 500).
    batch_size: int | None = None
    reason: str | None = None


class BulkItem(BaseModel):
    """One instance of a job and what became of it."""

    job_id: str
    instance_id: str
    outcome: BulkOutcome
    detail: str | None = None
    acted_at: float | None = None


def _may_select(caller: Caller, workflow: str | None) -> None:
    """A scoped token acts (or looks) only within its workflows."""
    if workflow is None:
        caller.unscoped("a selection without a workflow")
    else:
        caller.may_see(workflow)


@router.post(
    "", response_model=BulkPreview | BulkProgress,
    responses={202: {"model": BulkProgress, "description": "The job was started."}},
)  # fmt: skip
def bulk(api: Api, caller: operator, body: BulkRequest, response: Response) -> Any:
    """Apply ``action`` to every instance of ``selection``. A dry run (the default) answers
    what would be acted on (200) and changes nothing; otherwise the job's progress (202):
    the workers act on the instances selected now, at ``rate`` per second, each once."""
    _may_select(caller, body.selection.workflow)
    outcome = api.client.bulk(
        body.action, body.selection.selection(api.client.clock.now()), body.params,
        dry_run=body.dry_run, rate=body.rate, batch_size=body.batch_size, reason=body.reason,
        by=caller.name,
    )  # fmt: skip
    if isinstance(outcome, BulkPreview):
        return outcome
    response.status_code = 202
    return outcome.progress()


def _job(api: Api, caller: Caller, job_id: str) -> BulkProgress:
    job = api.client.bulk_job(job_id)
    _may_select(caller, job.selection.get("workflow"))
    return job


@router.get("", response_model=builtins.list[BulkProgress])
def jobs(
    api: Api, caller: viewer, limit: Annotated[int, Query(ge=1, le=1000)] = 50
) -> builtins.list[BulkProgress]:
    """Bulk jobs, newest first, with their progress (a scoped token: those over its
    workflows)."""
    found = api.client.bulk_jobs(limit)
    if caller.token.workflows is None:
        return found
    return [job for job in found if caller.token.sees(job.selection.get("workflow") or "")]


@router.get("/{job_id}", response_model=BulkProgress)
def job(api: Api, caller: viewer, job_id: str) -> BulkProgress:
    """One bulk job's progress: selected, done, refused, failed, pending, status."""
    return _job(api, caller, job_id)


@router.get("/{job_id}/items", response_model=builtins.list[BulkItem])
def items(
    api: Api,
    caller: viewer,
    job_id: str,
    outcome: BulkOutcome | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> builtins.list[BulkItem]:
    """The job's instances (with ``outcome``: only those) and what became of each."""
    _job(api, caller, job_id)
    found = _bulk.bulk_items(api.client, job_id, None if outcome is None else str(outcome), limit)
    return [BulkItem.model_validate(item) for item in found]
