"""The operator actions on one instance (retry, skip, resume, abort, terminate, wake,
restart, fork), why it is where it is (explain), and many starts in one commit.

Each action route is the Client method of the same name with ``by=`` the token's name:
the Client checks the instance's state (a refusal is a 409 :class:`NotRunnable`) and writes
the audit row itself, a refusal included. The scope check comes first; an id that names no
instance is left to the Client, so that its refusal is audited as it is locally.
"""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Response

from daytwo._client import Client
from daytwo._errors import InstanceNotFound
from daytwo._explain import Explanation
from daytwo._handles import InstanceHandle
from daytwo._records import Instance
from daytwo.api._auth import Caller, operator, viewer
from daytwo.api._models import Body
from daytwo.api._vocabulary import ApiAction
from daytwo.api.routes._common import Api, scoped_instance
from daytwo.api.routes._instances import Reasoned, Started
from daytwo.store import AuditEntry, AuditTarget

__all__ = ["router"]

router = APIRouter(tags=["actions"])

#: How many created ids the audit row of a start-many names (the count is exact).
_AUDITED_IDS = 20


def _in_scope(api: Api, caller: Caller, instance_id: str) -> None:
    """403 for an instance outside the token's scope. An unknown id belongs to no
    workflow, so it reveals nothing: the Client refuses it (404) and audits the refusal."""
    with contextlib.suppress(InstanceNotFound):
        scoped_instance(api.client, caller, instance_id)


def _action(verb: str, summary: str) -> None:
    """Register ``POST /instances/{id}/{verb}``: the Client's ``verb`` with a reason."""
    act: Callable[..., Instance] = getattr(Client, verb)

    def route(api: Api, caller: operator, instance_id: str, body: Reasoned) -> Instance:
        _in_scope(api, caller, instance_id)
        found: Instance = act(api.client, instance_id, reason=body.reason, by=caller.name)
        return found

    route.__name__ = verb
    route.__doc__ = summary
    router.post(f"/instances/{{instance_id}}/{verb}", response_model=Instance)(route)


_action(
    "retry",
    "Run the parked step again now with a fresh retry budget, or end a retry backoff now "
    "(same idempotency key). 409 in any other state.",
)
_action(
    "resume",
    "Continue a parked instance from its parked step under the code deployed now. 409 "
    "unless it is parked.",
)
_action(
    "abort",
    "End with compensation: a parked instance compensates now, a running or waiting one at "
    "its next durable point.",
)
_action("terminate", "End an active instance now, TERMINATED, without compensation.")
_action(
    "wake",
    "Skip the rest of a timed wait now (a timer fires, a backoff retries, a signal wait "
    "times out). 409 for a wait only for an event.",
)


class SkipRequest(Body):
    """The step's result, recorded as supplied by the token's holder."""

    result: Any
    reason: str | None = None


@router.post("/instances/{instance_id}/skip", response_model=Instance)
def skip(api: Api, caller: operator, instance_id: str, body: SkipRequest) -> Instance:
    """Record the parked (or backing-off) step as completed with ``result``; the instance
    runs on from the next step. 409 in any other state."""
    _in_scope(api, caller, instance_id)
    return api.client.skip(instance_id, body.result, reason=body.reason, by=caller.name)


class RestartRequest(Body):
    """``new_id`` makes the request idempotent: the same one again answers the instance it
    made (200, ``created`` false)."""

    new_id: str | None = None
    #: The version to run (default: the newest one a worker serves).
    version: str | None = None
    reason: str | None = None


class ForkRequest(RestartRequest):
    #: The history position to fork at: the rows before it are reused.
    position: int


_MADE: dict[int | str, dict[str, Any]] = {
    200: {"model": Started, "description": "The given new_id was made before."}
}


def _made(handle: InstanceHandle, response: Response) -> Started:
    response.status_code = 201 if handle.created else 200
    return Started(id=handle.id, created=handle.created)


@router.post(
    "/instances/{instance_id}/restart", response_model=Started, status_code=201, responses=_MADE
)
def restart(
    api: Api, caller: operator, instance_id: str, body: RestartRequest, response: Response
) -> Started:
    """A new instance of an ended one's workflow with the same input, linked to it (201).
    409 while the instance is active."""
    _in_scope(api, caller, instance_id)
    handle = api.client.restart(
        instance_id, new_id=body.new_id, version=body.version, reason=body.reason,
        by=caller.name,
    )  # fmt: skip
    return _made(handle, response)


@router.post(
    "/instances/{instance_id}/fork", response_model=Started, status_code=201, responses=_MADE
)
def fork(
    api: Api, caller: operator, instance_id: str, body: ForkRequest, response: Response
) -> Started:
    """As restart, but the new instance reuses the recorded results before ``position``.
    409 while the instance is active; 422 for a position past its history."""
    _in_scope(api, caller, instance_id)
    handle = api.client.fork(
        instance_id, body.position, new_id=body.new_id, version=body.version,
        reason=body.reason, by=caller.name,
    )  # fmt: skip
    return _made(handle, response)


@router.get("/instances/{instance_id}/explain", response_model=Explanation)
def explain(api: Api, caller: viewer, instance_id: str) -> Explanation:
    """What the instance waits for and why, and the operator actions that apply now."""
    scoped_instance(api.client, caller, instance_id)
    return api.client.explain(instance_id)


class StartManyRequest(Body):
    """One instance per input, all in one commit; ``ids`` (one per input) makes each start
    idempotent as a single start is."""

    workflow: str
    inputs: list[Any]
    ids: list[str] | None = None
    version: str | None = None
    queue: str | None = None
    priority: int | None = None
    #: Each instance's deadline, in seconds from now.
    timeout: float | None = None


@router.post(
    "/instances:start-many", response_model=list[Started], status_code=201,
    responses={200: {"model": list[Started], "description": "Every id was started before."}},
)  # fmt: skip
def start_many(
    api: Api, caller: operator, body: StartManyRequest, response: Response
) -> builtins.list[Started]:
    """Start one instance per input in one commit (201; 200 when every id existed). All or
    nothing: an input the workflow cannot take, or an id started otherwise (409), stores
    none of them. Audited in one row (the count and the first ids created)."""
    caller.may_see(body.workflow)
    handles = api.client.start_many(
        body.workflow, body.inputs, ids=body.ids, version=body.version, queue=body.queue,
        priority=body.priority, timeout=body.timeout,
    )  # fmt: skip
    created = [handle.id for handle in handles if handle.created]
    if created:
        # One row per request, not per instance: an import of thousands is one decision.
        entry = AuditEntry(
            caller.name, ApiAction.START, AuditTarget.WORKFLOW, body.workflow,
            params={"ids": created[:_AUDITED_IDS], "requested": len(handles)},
            count=len(created),
        )  # fmt: skip
        api.client.store.record_audit(entry, api.client.clock.now())
    else:
        response.status_code = 200
    return [Started(id=handle.id, created=handle.created) for handle in handles]
