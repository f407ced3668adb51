"""Instances: list (keyset pages), get, history, attempts, transitions; start (idempotent
on its id), signal, cancel. The operator actions on one instance are in ``_actions.py``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from daytwo._instance_pages import MAX_PAGE
from daytwo._records import Attempt, HistoryEvent, Instance, Transition
from daytwo.api._auth import operator, viewer
from daytwo.api._models import Body, Page
from daytwo.api._vocabulary import ApiAction
from daytwo.api.routes._common import Api, record, scoped_instance
from daytwo.store import OperatorAction

__all__ = ["router"]

router = APIRouter(prefix="/instances", tags=["instances"])


@router.get("", response_model=Page[Instance])
def list_instances(
    api: Api,
    caller: viewer,
    workflow: str | None = None,
    status: Annotated[list[str] | None, Query()] = None,
    state: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    after: str | None = None,
) -> Page[Instance]:
    """Instances, newest first, filtered by workflow, status (repeat it for several) and
    state; ``after``: the ``next`` of the previous page."""
    if workflow is not None:
        caller.may_see(workflow)
    found = api.client.page(
        workflow=workflow, status=status, state=state, limit=limit, after=after,
        workflows=caller.token.workflows,
    )  # fmt: skip
    return Page[Instance](items=found.items, next=found.next)


class StartRequest(Body):
    """A start by workflow name; the same ``id`` again is the same start (idempotent)."""

    workflow: str
    input: Any = None
    id: str | None = None
    version: str | None = None
    queue: str | None = None
    priority: int | None = None
    #: The instance's deadline, in seconds from now.
    timeout: float | None = None


class Started(Body):
    id: str
    #: False: an instance with this id existed (the same start, not repeated).
    created: bool


@router.post(
    "", response_model=Started, status_code=201,
    responses={200: {"model": Started, "description": "The id was started before."}},
)  # fmt: skip
def start(api: Api, caller: operator, body: StartRequest, response: Response) -> Started:
    """Durably start an instance (201); an ``id`` that exists with the same workflow and
    input is the same start (200), with another one a 409."""
    caller.may_see(body.workflow)
    handle = api.client.start(
        body.workflow, body.input, id=body.id, version=body.version, queue=body.queue,
        priority=body.priority, timeout=body.timeout,
    )  # fmt: skip
    if handle.created:
        record(api, caller, ApiAction.START, handle.id, workflow=body.workflow)
    else:
        response.status_code = 200
    return Started(id=handle.id, created=handle.created)


@router.get("/{instance_id}", response_model=Instance)
def get_instance(api: Api, caller: viewer, instance_id: str) -> Instance:
    """One instance, with its links, parent and children."""
    scoped_instance(api.client, caller, instance_id)
    return api.client.get(instance_id)


@router.get("/{instance_id}/history", response_model=list[HistoryEvent])
def history(api: Api, caller: viewer, instance_id: str) -> list[HistoryEvent]:
    """The instance's recorded operations, in order."""
    scoped_instance(api.client, caller, instance_id)
    return api.client.history(instance_id)


@router.get("/{instance_id}/attempts", response_model=list[Attempt])
def attempts(api: Api, caller: viewer, instance_id: str) -> list[Attempt]:
    """The instance's failed step attempts."""
    scoped_instance(api.client, caller, instance_id)
    return api.client.attempts(instance_id)


@router.get("/{instance_id}/transitions", response_model=list[Transition])
def transitions(api: Api, caller: viewer, instance_id: str) -> list[Transition]:
    """The instance's state transitions, in order."""
    scoped_instance(api.client, caller, instance_id)
    return api.client.transitions(instance_id)


class SignalRequest(Body):
    name: str
    payload: Any = None


@router.post("/{instance_id}/signals", status_code=202, response_model=None)
def signal(api: Api, caller: operator, instance_id: str, body: SignalRequest) -> None:
    """Deliver a signal; the instance gets it when it waits for ``name`` (202)."""
    scoped_instance(api.client, caller, instance_id)
    api.client.signal(instance_id, body.name, body.payload, sent_by=caller.name)
    record(api, caller, OperatorAction.SIGNAL, instance_id, name=body.name)


class Reasoned(Body):
    """An action's audit fields (who acts is the token's name)."""

    reason: str | None = None


@router.post("/{instance_id}/cancel", status_code=202, response_model=None)
def cancel(api: Api, caller: operator, instance_id: str, body: Reasoned) -> None:
    """Cancel an active instance: it stops at its next durable point and compensates."""
    scoped_instance(api.client, caller, instance_id)
    api.client.cancel(instance_id, body.reason or "cancelled by operator", by=caller.name)
