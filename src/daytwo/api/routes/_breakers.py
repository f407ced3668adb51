"""Circuit breakers: list, get; set a policy (owner); force open, force close, reset
(operator). A breaker guards a dependency every workflow may call, so changing one takes an
unscoped token; reading is for any viewer."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter

from daytwo import AuditTarget, BreakerPolicy, BreakerStatus, OperatorAction
from daytwo.api._auth import operator, owner, viewer
from daytwo.api._models import Body
from daytwo.api.routes._common import Api
from daytwo.api.routes._flow import Count
from daytwo.api.routes._instances import Reasoned
from daytwo.store import AuditEntry

__all__ = ["PolicyFields", "router"]

router = APIRouter(prefix="/breakers", tags=["breakers"])

_DEFAULTS: dict[str, Any] = {
    field.name: field.default for field in dataclasses.fields(BreakerPolicy)
}


class PolicyFields(Body):
    """A :class:`~daytwo.BreakerPolicy`, field for field, with its defaults. The ranges are
    checked by BreakerPolicy itself, so a bad one is refused (and audited) with its words."""

    failure_rate: float = _DEFAULTS["failure_rate"]
    #: Judge the last N calls, or (``window_seconds``) the calls of the last N seconds.
    window: Count | None = _DEFAULTS["window"]
    window_seconds: float | None = _DEFAULTS["window_seconds"]
    minimum_calls: Count = _DEFAULTS["minimum_calls"]
    slow_call_duration: float | None = _DEFAULTS["slow_call_duration"]
    slow_call_rate: float = _DEFAULTS["slow_call_rate"]
    open_for: float = _DEFAULTS["open_for"]
    half_open_calls: Count = _DEFAULTS["half_open_calls"]


class PolicyRequest(Body):
    policy: PolicyFields
    #: Accept a dependency no step calls.
    force: bool = False
    reason: str | None = None


@router.get("", response_model=list[BreakerStatus])
def list_breakers(api: Api, caller: viewer) -> list[BreakerStatus]:
    """Every breaker: state, window, instances waiting at the circuit, policy."""
    return api.client.breakers.list()


@router.get("/{dependency}", response_model=BreakerStatus)
def get_breaker(api: Api, caller: viewer, dependency: str) -> BreakerStatus:
    """One breaker (404 names the known ones)."""
    return api.client.breakers.get(dependency)


@router.put("/{dependency}", response_model=BreakerStatus)
def set_breaker(api: Api, caller: owner, dependency: str, body: PolicyRequest) -> BreakerStatus:
    """Store the breaker's policy (created closed if new); it wins over the code's."""
    caller.unscoped("a circuit breaker")
    fields: dict[str, Any] = body.policy.model_dump()
    entry = AuditEntry(
        caller.name, OperatorAction.BREAKER_SET, AuditTarget.BREAKER, dependency, body.reason,
        fields,
    )  # fmt: skip
    # As ``daytwo breaker set`` does: a policy that BreakerPolicy refuses is audited too.
    with api.client.audit.refusals(entry):
        policy = BreakerPolicy(**fields)
    return api.client.breakers.configure(
        dependency, policy, reason=body.reason, by=caller.name, force=body.force
    )


@router.post("/{dependency}/open", response_model=BreakerStatus)
def open_breaker(api: Api, caller: operator, dependency: str, body: Reasoned) -> BreakerStatus:
    """Force the circuit open: calls wait (no attempt spent) until it is closed or reset."""
    caller.unscoped("a circuit breaker")
    return api.client.breakers.open(dependency, reason=body.reason, by=caller.name)


@router.post("/{dependency}/close", response_model=BreakerStatus)
def close_breaker(api: Api, caller: operator, dependency: str, body: Reasoned) -> BreakerStatus:
    """Force the circuit closed; the instances waiting at it continue at once."""
    caller.unscoped("a circuit breaker")
    return api.client.breakers.close(dependency, reason=body.reason, by=caller.name)


@router.post("/{dependency}/reset", response_model=BreakerStatus)
def reset_breaker(api: Api, caller: operator, dependency: str, body: Reasoned) -> BreakerStatus:
    """Closed with an empty window (out of a forced state); waiting instances continue."""
    caller.unscoped("a circuit breaker")
    return api.client.breakers.reset(dependency, reason=body.reason, by=caller.name)
