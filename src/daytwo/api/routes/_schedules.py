"""Durable schedules: list, get; pause, resume, trigger (operator). A schedule starts one
workflow, so a token's scope is checked against that workflow."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel

from daytwo import ScheduleNotFound, ScheduleView
from daytwo.api._auth import Caller, operator, viewer
from daytwo.api._context import ApiContext
from daytwo.api._models import Body
from daytwo.api.routes._common import Api
from daytwo.api.routes._instances import Reasoned

__all__ = ["router"]

router = APIRouter(prefix="/schedules", tags=["schedules"])


def _may_act_on(api: ApiContext, caller: Caller, schedule: str) -> None:
    """Refuse (403) a schedule of a workflow outside the token's scope. An unknown one
    passes: the action itself refuses it (naming the known ones), and audits that."""
    try:
        view = api.client.schedules.get(schedule)
    except ScheduleNotFound:
        return
    caller.may_see(view.workflow)


@router.get("", response_model=list[ScheduleView])
def list_schedules(api: Api, caller: viewer) -> list[ScheduleView]:
    """Every stored schedule (orphaned ones too), by name; a scoped token: its workflows'."""
    return [view for view in api.client.schedules.list() if caller.token.sees(view.workflow)]


@router.get("/{schedule}", response_model=ScheduleView)
def get_schedule(api: Api, caller: viewer, schedule: str) -> ScheduleView:
    """One schedule with its recent ticks."""
    view = api.client.schedules.get(schedule)
    caller.may_see(view.workflow)
    return view


@router.post("/{schedule}/pause", response_model=ScheduleView)
def pause_schedule(api: Api, caller: operator, schedule: str, body: Reasoned) -> ScheduleView:
    """Its ticks start nothing until it is resumed (running instances go on)."""
    _may_act_on(api, caller, schedule)
    return api.client.schedules.pause(schedule, reason=body.reason, by=caller.name)


@router.post("/{schedule}/resume", response_model=ScheduleView)
def resume_schedule(api: Api, caller: operator, schedule: str, body: Reasoned) -> ScheduleView:
    """Tick again from the first tick after now (the paused ticks are not caught up)."""
    _may_act_on(api, caller, schedule)
    return api.client.schedules.resume(schedule, reason=body.reason, by=caller.name)


class TriggerRequest(Body):
    reason: str | None = None
    #: Idempotency key: the same key starts one instance (``schedule:NAME:trigger:KEY``).
    key: str | None = None


class Triggered(BaseModel):
    schedule: str
    instance_id: str
    #: False: this key's instance was started before.
    created: bool


@router.post(
    "/{schedule}/trigger", response_model=Triggered, status_code=201,
    responses={200: {"model": Triggered, "description": "This key was triggered before."}},
)  # fmt: skip
def trigger_schedule(
    api: Api, caller: operator, schedule: str, body: TriggerRequest, response: Response
) -> Triggered:
    """Start one instance now, outside the cadence (paused or not): 201, or 200 when the
    same ``key`` started it before."""
    _may_act_on(api, caller, schedule)
    handle = api.client.schedules.trigger(
        schedule, reason=body.reason, by=caller.name, key=body.key
    )
    if not handle.created:
        response.status_code = 200
    return Triggered(schedule=schedule, instance_id=handle.id, created=handle.created)
