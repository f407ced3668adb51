"""The ingest receivers: ``POST /ingest/alertmanager`` and ``POST /ingest/events``.

Mounted at the root (``IncidentsExtension.root_routes``), since Alertmanager and PagerDuty
clients are configured with a path, behind the API's tokens with at least the operator
role. Alertmanager sends a bearer token (``http_config.authorization``); a PagerDuty client
cannot set headers, so ``/ingest/events`` also takes a daytwo token as the event's
``routing_key`` when the request has no Authorization header (checked by the same code as
a bearer token; never stored or echoed).

Each receiver validates the whole payload before it ingests anything of it (a bad one is a
422 naming the field, and nothing is stored), then hands its triggers to
:meth:`Incidents.ingest` in the payload's order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from daytwo.api import Api, Caller, Role, Unauthorized, authenticate, operator
from daytwo.incidents._extension import IncidentsExtension
from daytwo.incidents._incidents import Incidents
from daytwo.incidents._ingest import (
    AlertmanagerPayload,
    EventsPayload,
    alertmanager_triggers,
    event_triggers,
    parse_alertmanager,
    parse_events,
)
from daytwo.incidents._triggers import Trigger

__all__ = ["AlertmanagerAnswer", "EventsAnswer", "IngestedAlert", "ingest_router"]

ingest_router = APIRouter(tags=["ingest"])

_bearer = HTTPBearer(auto_error=False, description="A token from `daytwo tokens create`.")


class IngestedAlert(BaseModel):
    """What one alert did: ``opened``, ``appended``, ``alert_resolved``, ``resolved``,
    ``acknowledged`` or ``ignored`` (a resolve for a key with no open incident)."""

    outcome: str
    incident: int | None


class AlertmanagerAnswer(BaseModel):
    """The answer to an Alertmanager notification: the incidents it touched, and what each
    alert did, in the payload's order."""

    status: str = "ok"
    incidents: list[int]
    results: list[IngestedAlert]


class EventsAnswer(BaseModel):
    """PagerDuty's answer (``status``, ``message``, ``dedup_key``: the generated one for a
    trigger without), and the incident it touched."""

    status: str = "success"
    message: str = "Event processed"
    dedup_key: str
    incident: int | None = None


def _inline(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema with its ``$defs`` written in place, as an OpenAPI request
    body (the body is read as a plain object so that the 422 names the field our way)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    body = {"content": {"application/json": {"schema": resolve(schema)}}, "required": True}
    return {"requestBody": body}


def _incidents(api: Api) -> Incidents:
    # The routes are mounted only for an app with the extension (Extension.root_routes).
    return api.app.extension(IncidentsExtension).incidents


def _scoped(caller: Caller, triggers: Sequence[Trigger]) -> list[Trigger]:
    """Refuse (403) a workflow outside the token's scope before anything is ingested, and
    note the token's name (not its secret) as who delivered each alert."""
    for trigger in triggers:
        if trigger.workflow is not None:
            caller.may_see(trigger.workflow)
        else:
            caller.unscoped("an alert without a workflow")
    return [
        dataclasses.replace(trigger, details={**trigger.details, "received_by": caller.name})
        for trigger in triggers
    ]


JsonObject = Annotated[dict[str, Any], Body()]
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
#: ``?quiet=4h``: for a source that never sends a resolve, resolve its incident after this
#: long without a signal (the quiet period).
Quiet = Annotated[
    str | None,
    Query(
        pattern=r"^[1-9][0-9]{0,5}[smhd]$",
        description="Resolve the incident after this long without a signal, for a source "
        "that never sends a resolve: a number and s, m, h or d (`4h`).",
    ),
]


def _quiet(triggers: list[Trigger], quiet: str | None) -> list[Trigger]:
    if quiet is None:
        return triggers
    seconds = float(int(quiet[:-1]) * _UNITS[quiet[-1]])
    return [dataclasses.replace(trigger, quiet_after=seconds) for trigger in triggers]


@ingest_router.post(
    "/ingest/alertmanager",
    response_model=AlertmanagerAnswer,
    openapi_extra=_inline(AlertmanagerPayload),
)
def ingest_alertmanager(
    api: Api, caller: operator, body: JsonObject, quiet: Quiet = None
) -> AlertmanagerAnswer:
    """Alertmanager's webhook receiver (``webhook_configs``, payload version 4): one
    incident per ``groupKey``, one alert per ``fingerprint``; firing alerts open or append,
    resolved ones resolve (the incident with its last alert)."""
    triggers = _quiet(_scoped(caller, alertmanager_triggers(parse_alertmanager(body))), quiet)
    service = _incidents(api)
    results = [service.ingest(trigger) for trigger in triggers]
    touched: list[int] = []
    for result in results:
        if result.incident is not None and result.incident.id not in touched:
            touched.append(result.incident.id)
    return AlertmanagerAnswer(
        incidents=touched,
        results=[IngestedAlert(**result.to_json()) for result in results],
    )


@ingest_router.post(
    "/ingest/events",
    response_model=EventsAnswer,
    status_code=202,
    openapi_extra=_inline(EventsPayload),
)
def ingest_events(
    request: Request,
    api: Api,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    body: JsonObject,
    quiet: Quiet = None,
) -> EventsAnswer:
    """PagerDuty Events API v2 (``/v2/enqueue``'s alert events): ``trigger`` opens or
    appends, ``acknowledge`` acknowledges, ``resolve`` resolves, by ``dedup_key``. The token
    is the bearer token or, without an Authorization header, the ``routing_key``."""
    caller = _authenticate(request, credentials, body.get("routing_key"))
    trigger = _quiet(_scoped(caller, [event_triggers(parse_events(body))]), quiet)[0]
    result = _incidents(api).ingest(trigger)
    incident = None if result.incident is None else result.incident.id
    return EventsAnswer(dedup_key=trigger.dedup_key, incident=incident)


def _authenticate(
    request: Request, credentials: HTTPAuthorizationCredentials | None, routing_key: object
) -> Caller:
    if credentials is None and isinstance(routing_key, str) and routing_key:
        credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials=routing_key)
    try:
        return authenticate(
            request, None if credentials is None else credentials.credentials, Role.OPERATOR
        )
    except Unauthorized:
        if credentials is not None:
            raise
        raise Unauthorized(
            "this route needs a token: send Authorization: Bearer <token>, or the token as "
            "the event's routing_key (create one with daytwo tokens create --role operator)"
        ) from None
