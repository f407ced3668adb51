"""Human tasks: the inbox (list, get, events) and the operator's complete, reassign, cancel.

A task belongs to the workflow of its instance, so that is what a token's scope is checked
against; a listing for a scoped token leaves out the other workflows' tasks.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from daytwo import HumanTask, InvalidInput, TaskEvent, TaskNotFound, TaskStatus
from daytwo._instance_pages import MAX_PAGE
from daytwo.api._auth import Caller, operator, viewer
from daytwo.api._context import ApiContext
from daytwo.api._models import Body
from daytwo.api.routes._common import Api, scoped_instance
from daytwo.api.routes._instances import Reasoned

__all__ = ["router"]

router = APIRouter(prefix="/tasks", tags=["tasks"])


def _visible(api: ApiContext, caller: Caller, tasks: list[HumanTask]) -> list[HumanTask]:
    """The tasks of ``tasks`` whose instance's workflow the token may see."""
    if caller.token.workflows is None:
        return tasks
    workflows: dict[str, str] = {}
    for task in tasks:
        if task.instance_id not in workflows:
            workflows[task.instance_id] = api.client.workflow_of(task.instance_id)
    return [task for task in tasks if caller.token.sees(workflows[task.instance_id])]


@router.get("", response_model=list[HumanTask])
def list_tasks(
    api: Api,
    caller: viewer,
    status: TaskStatus | None = None,
    all_tasks: Annotated[bool, Query(alias="all")] = False,
    assignee: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> list[HumanTask]:
    """Tasks, oldest first: open ones unless ``status`` (one status) or ``all`` (every
    status, as ``daytwo task list --all``); ``assignee``: only this person or role."""
    if all_tasks and status is not None:
        raise InvalidInput("give status= or all=true, not both (all means every status)")
    wanted = None if all_tasks else (status or TaskStatus.OPEN)
    # A scoped token's tasks are a subset: read more rows until ``limit`` of them are seen
    # or the store has no more (the store knows tasks, not their instances' workflows).
    asked = limit
    while True:
        found = api.client.tasks.list(status=wanted, assignee=assignee, limit=asked)
        seen = _visible(api, caller, found)
        if len(seen) >= limit or len(found) < asked:
            return seen[:limit]
        asked *= 4


def _may_act_on(api: ApiContext, caller: Caller, task_id: str) -> None:
    """Refuse (403) a task of a workflow outside the token's scope. An unknown task passes:
    the action itself refuses it, and audits the refusal."""
    try:
        task = api.client.tasks.get(task_id)
    except TaskNotFound:
        return
    scoped_instance(api.client, caller, task.instance_id)


@router.get("/{task_id}", response_model=HumanTask)
def get_task(api: Api, caller: viewer, task_id: str) -> HumanTask:
    """One task, with its plan (reminders, escalations, timeout)."""
    task = api.client.tasks.get(task_id)
    scoped_instance(api.client, caller, task.instance_id)
    return task


@router.get("/{task_id}/events", response_model=list[TaskEvent])
def task_events(api: Api, caller: viewer, task_id: str) -> list[TaskEvent]:
    """What happened to the task, oldest first (``daytwo task show``'s events)."""
    task = api.client.tasks.get(task_id)
    scoped_instance(api.client, caller, task.instance_id)
    return api.client.tasks.events(task_id)


class CompleteRequest(Body):
    #: The decision the instance resumes with (any JSON value).
    result: Any = None
    reason: str | None = None


@router.post("/{task_id}/complete", response_model=HumanTask)
def complete_task(api: Api, caller: operator, task_id: str, body: CompleteRequest) -> HumanTask:
    """Complete an open task; its instance resumes with ``result``. A task that is not
    open is a 409 saying what it is now."""
    _may_act_on(api, caller, task_id)
    api.client.tasks.complete(task_id, body.result, reason=body.reason, by=caller.name)
    return api.client.tasks.get(task_id)


class ReassignRequest(Body):
    #: The new assignee: a person, or ``role:NAME``.
    assignee: str
    reason: str | None = None


@router.post("/{task_id}/reassign", response_model=HumanTask)
def reassign_task(api: Api, caller: operator, task_id: str, body: ReassignRequest) -> HumanTask:
    """Give an open task to someone else (its escalation chain goes on as planned)."""
    _may_act_on(api, caller, task_id)
    api.client.tasks.reassign(task_id, body.assignee, reason=body.reason, by=caller.name)
    return api.client.tasks.get(task_id)


@router.post("/{task_id}/cancel", response_model=HumanTask)
def cancel_task(api: Api, caller: operator, task_id: str, body: Reasoned) -> HumanTask:
    """Cancel an open task: the workflow gets daytwo.TaskCancelled."""
    _may_act_on(api, caller, task_id)
    api.client.tasks.cancel(task_id, reason=body.reason, by=caller.name)
    return api.client.tasks.get(task_id)
