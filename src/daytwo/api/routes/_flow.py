"""Flow control: queues and their limits, pauses of workflows and steps, dependency limits.

Reading is for any viewer (a scoped token sees only its workflows' pauses). A pause belongs
to one workflow, so an operator whose token covers it may pause and resume; a queue's or a
dependency's limit is shared by every workflow, so setting one takes an owner with an
unscoped token. Each change is :class:`~daytwo.store.FlowControl`'s, audited there.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, Field

from daytwo import NotRunnable
from daytwo.api._auth import operator, owner, viewer
from daytwo.api._models import Body
from daytwo.api.routes._common import Api
from daytwo.store import QueueSettings

__all__ = ["Count", "DependencyStatus", "PauseStatus", "QueueStatus", "router"]

router = APIRouter(tags=["flow control"])

#: The largest count a limit column holds (a 32-bit INTEGER); FlowControl refuses < 1.
Count = Annotated[int, Field(le=2**31 - 1)]


class QueueStatus(BaseModel):
    """A queue with work or limits (the fields of ``client.flow.queue_status()``)."""

    name: str
    concurrency: int | None
    worker_concurrency: int | None
    rate_limit: int | None
    rate_period: float | None
    #: Instances ready to run now.
    runnable: int
    running: int
    #: How long the oldest runnable instance has waited (None: none waits).
    oldest_runnable_seconds: float | None


class PauseStatus(BaseModel):
    """A pause in force (``client.flow.list_pauses()``); ``step`` "" pauses new starts."""

    workflow: str
    step: str
    reason: str | None
    paused_by: str | None
    paused_at: float
    #: Instances it holds now.
    held: int


class DependencyStatus(BaseModel):
    """A limited dependency (``client.flow.dependency_status()``)."""

    name: str
    concurrency: int
    in_flight: int


@router.get("/queues", response_model=list[QueueStatus])
def list_queues(api: Api, caller: viewer) -> list[QueueStatus]:
    """Every queue with work or limits: runnable backlog, running, oldest wait, limits."""
    return [QueueStatus.model_validate(row) for row in api.client.flow.queue_status()]


class QueueLimits(Body):
    """A queue's limits; one left out (null) is no such limit."""

    concurrency: Count | None = None
    worker_concurrency: Count | None = None
    rate_limit: Count | None = None
    #: Seconds; a rate limit needs both ``rate_limit`` and ``rate_period``.
    rate_period: float | None = None
    #: Accept a queue name nothing knows yet.
    force: bool = False
    reason: str | None = None


@router.put("/queues/{queue}", response_model=QueueSettings)
def set_queue(api: Api, caller: owner, queue: str, body: QueueLimits) -> QueueSettings:
    """Create or replace a queue's limits (every worker follows within a second)."""
    caller.unscoped("a queue's limits")
    return api.client.flow.set_queue(
        queue, concurrency=body.concurrency, worker_concurrency=body.worker_concurrency,
        rate_limit=body.rate_limit, rate_period=body.rate_period, force=body.force,
        reason=body.reason, by=caller.name,
    )  # fmt: skip


@router.get("/pauses", response_model=list[PauseStatus])
def list_pauses(api: Api, caller: viewer) -> list[PauseStatus]:
    """Pauses in force and how many instances each holds (a scoped token: its workflows')."""
    return [
        PauseStatus.model_validate(row)
        for row in api.client.flow.list_pauses()
        if caller.token.sees(row["workflow"])
    ]


class PauseRequest(Body):
    #: Pause just this step (instances reaching it wait there); none: new starts.
    step: str | None = None
    reason: str | None = None
    #: Accept a workflow or step nothing knows yet.
    force: bool = False


@router.post("/workflows/{workflow}/pause", response_model=PauseStatus)
def pause(api: Api, caller: operator, workflow: str, body: PauseRequest) -> PauseStatus:
    """Stop starting new instances of the workflow (running ones go on), or pause a step."""
    caller.may_see(workflow)
    flow = api.client.flow
    flow.pause(workflow, body.step, reason=body.reason, by=caller.name, force=body.force)
    for row in flow.list_pauses():
        if row["workflow"] == workflow and (row["step"] or None) == (body.step or None):
            return PauseStatus.model_validate(row)
    # Another request resumed it between the two reads: say so rather than fail.
    raise NotRunnable(f"the pause of {workflow!r} was lifted by another request meanwhile")


class ResumeRequest(Body):
    #: Lift the pause of this step; none: the pause of new starts.
    step: str | None = None
    reason: str | None = None


class Resumed(BaseModel):
    workflow: str
    step: str | None
    #: Instances held at the step that continue now (0 for new starts).
    released: int


@router.post("/workflows/{workflow}/resume", response_model=Resumed)
def resume(api: Api, caller: operator, workflow: str, body: ResumeRequest) -> Resumed:
    """Lift a pause; instances held at a paused step continue."""
    caller.may_see(workflow)
    released = api.client.flow.resume(workflow, body.step, reason=body.reason, by=caller.name)
    return Resumed(workflow=workflow, step=body.step, released=released)


@router.get("/dependencies", response_model=list[DependencyStatus])
def list_dependencies(api: Api, caller: viewer) -> list[DependencyStatus]:
    """Limited dependencies: the limit and the calls in flight now."""
    return [DependencyStatus.model_validate(row) for row in api.client.flow.dependency_status()]


class DependencyLimit(Body):
    #: At most this many calls at once, cluster-wide; null removes the limit.
    concurrency: Count | None
    #: Accept a dependency no step calls.
    force: bool = False
    reason: str | None = None


class DependencySet(BaseModel):
    name: str
    concurrency: int | None


@router.put("/dependencies/{dependency}", response_model=DependencySet)
def set_dependency(
    api: Api, caller: owner, dependency: str, body: DependencyLimit
) -> DependencySet:
    """Limit concurrent calls to the dependency across all workers (null: no limit)."""
    caller.unscoped("a dependency's limit")
    api.client.flow.set_dependency_limit(
        dependency, body.concurrency, force=body.force, reason=body.reason, by=caller.name
    )
    return DependencySet(name=dependency, concurrency=body.concurrency)
