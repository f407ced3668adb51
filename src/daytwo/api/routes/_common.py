"""What the route modules share: the context dependency and audit of API-only actions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends

from daytwo._client import Client
from daytwo.api._auth import Caller, context
from daytwo.api._context import ApiContext
from daytwo.store import AuditEntry, AuditTarget

__all__ = ["Api", "record", "scoped_instance"]

#: The API's context, as a route parameter.
Api = Annotated[ApiContext, Depends(context)]


def record(api: ApiContext, caller: Caller, action: str, target: str, **params: Any) -> None:
    """Audit an action that the Client does not audit itself (a start over HTTP)."""
    entry = AuditEntry(caller.name, action, AuditTarget.INSTANCE, target, params=params or None)
    api.client.store.record_audit(entry, api.client.clock.now())


def scoped_instance(client: Client, caller: Caller, instance_id: str) -> str:
    """The workflow of the instance ``instance_id`` after checking the caller may see it
    (404 if there is no such instance, 403 outside the token's scope)."""
    workflow = client.workflow_of(instance_id)
    caller.may_see(workflow)
    return workflow
