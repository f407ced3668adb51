"""The ownership registry over HTTP (``/v1/owners``): what ``daytwo owners show`` and
``daytwo owners apply`` do, from the same functions.

Any viewer reads (a token limited to some workflows sees only those workflows' entries,
and every dependency's); applying a new definition needs an owner token without a
workflow scope, since the registry is everyone's.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from daytwo.api import Api, owner, viewer
from daytwo.incidents._ownership import parse_ownership
from daytwo.incidents._registry import NoOwnershipApplied, apply, latest, version_info

__all__ = ["ApplyOwnership", "OwnershipApplied", "owners_router"]

owners_router = APIRouter(prefix="/owners", tags=["owners"])


class ApplyOwnership(BaseModel):
    """An ``ownership.yaml`` to put in force."""

    model_config = ConfigDict(extra="forbid")

    #: The file's text.
    yaml: str = Field(max_length=1_000_000)
    #: Its name, for errors (``file:line``) and the version's record.
    source: str = Field(default="ownership.yaml", min_length=1, max_length=512)


class OwnershipApplied(BaseModel):
    version: int
    #: False: the definition in force already had this content.
    created: bool


@owners_router.get("")
def list_owners(api: Api, caller: viewer) -> dict[str, Any]:
    """The version in force and one line per entry (``version`` null: none applied)."""
    store = api.client.store
    current = latest(store)
    if current is None:
        return {"version": None, "entries": []}
    version, ownership = current
    entries = [
        e for e in ownership.summary()
        if e["kind"] != "workflow" or caller.token.sees(e["name"])
    ]  # fmt: skip
    return {**version_info(store, version).to_json(), "entries": entries}


@owners_router.get("/{name}")
def get_owner(api: Api, caller: viewer, name: str) -> dict[str, Any]:
    """Who is R, A, C and I for the workflow or dependency ``name`` at each severity, with
    its criticality, vendor, escalation policy and runbooks (404 names the entries)."""
    current = latest(api.client.store)
    if current is None:
        raise NoOwnershipApplied()
    version, ownership = current
    view = ownership.view(name)
    if view["kind"] == "workflow":
        caller.may_see(name)
    return {"version": version, **view}


@owners_router.post("", response_model=OwnershipApplied)
def apply_owners(api: Api, caller: owner, body: ApplyOwnership) -> OwnershipApplied:
    """Validate an ``ownership.yaml`` and put it in force (422 with ``file:line: field:
    message`` on a bad one, nothing stored); the same content again is no new version."""
    caller.unscoped("the ownership registry")
    ownership = parse_ownership(body.yaml, body.source)
    version, created = apply(
        api.client.store, ownership, source=body.source, by=caller.name,
        now=api.client.clock.now(),
    )  # fmt: skip
    return OwnershipApplied(version=version, created=created)
