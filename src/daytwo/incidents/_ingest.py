"""External alerts in: Alertmanager's webhook (version 4) and PagerDuty's Events API v2,
parsed into :class:`Trigger` values for :meth:`Incidents.ingest`.

The models follow the documented payloads field for field. Fields a newer sender adds are
accepted and ignored (forward compatibility); the fields the documents call required and
the enumerated values are checked, and a payload that does not fit is refused as a whole
with one line naming the field (``alerts[0].status: must be 'firing' or 'resolved'``), so
that nothing of it is stored. A PagerDuty ``routing_key`` is never copied into a trigger:
the receiver may use a daytwo token as one (``_ingest_routes.py``).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from daytwo._errors import InvalidInput
from daytwo.incidents._triggers import Trigger
from daytwo.incidents._vocabulary import AlertState, Severity, Source, TriggerAction

__all__ = [
    "AlertmanagerAlert",
    "AlertmanagerPayload",
    "EventPayload",
    "EventSeverity",
    "EventsPayload",
    "InvalidPayload",
    "alertmanager_triggers",
    "event_triggers",
    "parse_alertmanager",
    "parse_events",
]

#: The trigger kinds the severity rules match on.
ALERTMANAGER_KIND = "alertmanager"
EVENTS_KIND = "events"
#: What of an image or link is kept (their documented fields; a sender's extras are not).
_IMAGE = {"src", "href", "alt"}
_LINK = {"href", "text"}
#: Alertmanager's Go zero time: an ``endsAt`` that is not set.
_GO_ZERO_YEAR = 1
#: How label values name a severity, in either source's words (case-insensitive).
_SEVERITY_WORDS = {
    "critical": Severity.SEV1,
    "error": Severity.SEV2,
    "high": Severity.SEV2,
    "warning": Severity.SEV3,
    "info": Severity.SEV4,
    "low": Severity.SEV4,
}


_M = TypeVar("_M", bound=BaseModel)


class InvalidPayload(InvalidInput):
    """An ingest payload that does not fit its documented format (HTTP 422)."""


class EventSeverity(StrEnum):
    """PagerDuty's ``payload.severity``."""

    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class _Open(BaseModel):
    # extra="allow": a sender's newer fields must not make it fail (they are not stored).
    model_config = ConfigDict(extra="allow", populate_by_name=True)


def _moment(value: object) -> object:
    """RFC 3339 text checked here, kept as text: Alertmanager sends nanoseconds, which
    Python reads (and drops below the microsecond) but not every parser does."""
    if isinstance(value, str):
        _epoch(value)
    return value


class AlertmanagerAlert(_Open):
    """One alert of an Alertmanager notification."""

    status: AlertState
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: str  # the wire format's names (camelCase)
    endsAt: str | None = None
    generatorURL: str = ""
    #: Missing before Alertmanager 0.19: then a hash of the labels stands in.
    fingerprint: str | None = None

    check_times = field_validator("startsAt", "endsAt")(_moment)


class AlertmanagerPayload(_Open):
    """Alertmanager's webhook notification, ``version: "4"``."""

    version: Literal["4"]
    groupKey: str = Field(min_length=1, max_length=512)
    truncatedAlerts: int = Field(default=0, ge=0)
    status: AlertState
    receiver: str
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""
    alerts: list[AlertmanagerAlert] = Field(min_length=1)


class EventImage(_Open):
    src: str
    href: str | None = None
    alt: str | None = None


class EventLink(_Open):
    href: str
    text: str | None = None


class EventPayload(_Open):
    """PagerDuty's ``payload`` object (required on a trigger)."""

    summary: str = Field(min_length=1, max_length=1024)
    source: str = Field(min_length=1)
    severity: EventSeverity
    timestamp: str | None = None
    component: str | None = None
    group: str | None = None
    class_: str | None = Field(default=None, alias="class")
    #: An object in the documentation; PagerDuty also takes a string.
    custom_details: dict[str, Any] | str | None = None

    check_time = field_validator("timestamp")(_moment)


class EventsPayload(_Open):
    """A PagerDuty Events API v2 alert event (``POST /v2/enqueue``)."""

    #: Required by PagerDuty; here optional, since a bearer token may authenticate instead.
    routing_key: str | None = None
    event_action: TriggerAction
    dedup_key: str | None = Field(default=None, min_length=1, max_length=255)
    payload: EventPayload | None = None
    images: list[EventImage] = Field(default_factory=list)
    links: list[EventLink] = Field(default_factory=list)
    client: str | None = None
    client_url: str | None = None


# -- parsing ---------------------------------------------------------------------------------


def parse_alertmanager(body: object) -> AlertmanagerPayload:
    """The Alertmanager payload in ``body`` (decoded JSON), or :class:`InvalidPayload`."""
    return _validate(AlertmanagerPayload, body, "an Alertmanager webhook (version 4)")


def parse_events(body: object) -> EventsPayload:
    """The PagerDuty Events v2 event in ``body``, or :class:`InvalidPayload` (a trigger needs
    ``payload``; an acknowledge or resolve needs ``dedup_key``)."""
    event = _validate(EventsPayload, body, "a PagerDuty Events API v2 event")
    if event.event_action is TriggerAction.TRIGGER and event.payload is None:
        raise InvalidPayload("payload: is required for a trigger event (summary, source, severity)")
    if event.event_action is not TriggerAction.TRIGGER and not event.dedup_key:
        raise InvalidPayload(
            f"dedup_key: is required for {event.event_action} (the key the trigger used)"
        )
    return event


def _validate(model: type[_M], body: object, what: str) -> _M:
    if not isinstance(body, Mapping):
        raise InvalidPayload(f"body: must be a JSON object ({what})")
    try:
        return model.model_validate(body)
    except ValidationError as error:
        problems = error.errors(include_url=False, include_input=False)
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise InvalidPayload(_describe(problems[0]) + more) from None


def _describe(problem: Mapping[str, Any]) -> str:
    """One pydantic problem as ``field.path[0].name: what it must be``."""
    path = ""
    for part in problem.get("loc", ()):
        if isinstance(part, int):
            path += f"[{part}]"
        elif part not in ("str", "dict[str,any]") or not path:
            # A union's member names (``str``) are pydantic's, not the payload's.
            path += f".{part}" if path else str(part)
    kind = problem.get("type", "")
    ctx = problem.get("ctx") or {}
    messages = {
        "missing": "is required",
        "enum": f"must be {ctx.get('expected', 'one of the documented values')}",
        "literal_error": f"must be {ctx.get('expected', 'the documented value')}",
        "string_type": "must be a string",
        "dict_type": "must be an object",
        "model_type": "must be an object",
        "model_attributes_type": "must be an object",
        "list_type": "must be a list",
        "int_type": "must be a whole number",
        "int_parsing": "must be a whole number",
        "string_too_short": "must not be empty",
        "string_too_long": f"must be at most {ctx.get('max_length')} characters",
        "too_short": f"must have at least {ctx.get('min_length')} item(s)",
        "greater_than_equal": f"must be at least {ctx.get('ge')}",
    }
    message = messages.get(kind) or str(problem.get("msg", "is invalid")).removeprefix(
        "Value error, "
    )
    return f"{path or 'body'}: {message}"


def _epoch(text: str) -> float | None:
    """An RFC 3339 time as epoch seconds (no offset: UTC); Go's zero time: None."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"must be an RFC 3339 time such as 2024-05-01T12:00:00Z (got {text[:40]!r})"
        ) from None
    if moment.year == _GO_ZERO_YEAR:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _severity(word: str | None) -> Severity | None:
    return None if word is None else _SEVERITY_WORDS.get(word.strip().lower())


def _label(labels: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = labels.get(name, "").strip()
        if value:
            return value
    return None


def _labels_hash(labels: Mapping[str, str]) -> str:
    """A stable stand-in for a fingerprint: the same labels, the same key."""
    text = json.dumps(sorted(labels.items()), separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# -- triggers --------------------------------------------------------------------------------


def alertmanager_triggers(payload: AlertmanagerPayload | object) -> list[Trigger]:
    """One trigger per alert, in the payload's order: the group's ``groupKey`` is the
    dedup key (one incident per group), the alert's ``fingerprint`` its alert key."""
    parsed = payload if isinstance(payload, AlertmanagerPayload) else parse_alertmanager(payload)
    triggers = []
    for alert in parsed.alerts:
        firing = alert.status is AlertState.FIRING
        labels = dict(alert.labels)
        annotations = alert.annotations
        key = alert.fingerprint or _labels_hash(labels)
        summary = (
            _label(annotations, "summary", "description")
            or _label(labels, "alertname")
            or f"alert {key}"
        )
        details: dict[str, Any] = {
            "receiver": parsed.receiver,
            "generatorURL": alert.generatorURL,
            "externalURL": parsed.externalURL,
            "annotations": dict(annotations),
        }
        if parsed.truncatedAlerts:
            details["truncatedAlerts"] = parsed.truncatedAlerts
        moment = alert.startsAt if firing else alert.endsAt
        triggers.append(
            Trigger(
                source=Source.ALERTMANAGER,
                dedup_key=parsed.groupKey,
                alert_key=key,
                action=TriggerAction.TRIGGER if firing else TriggerAction.RESOLVE,
                summary=summary,
                kind=ALERTMANAGER_KIND,
                labels=labels,
                # daytwo_workflow first: a plain "workflow" label may mean something else.
                workflow=_label(labels, "daytwo_workflow", "workflow"),
                dependency=_label(labels, "daytwo_dependency", "dependency"),
                severity_hint=_severity(labels.get("severity")),
                at=None if moment is None else _epoch(moment),
                details=details,
            )
        )
    return triggers


def event_triggers(payload: EventsPayload | object) -> Trigger:
    """The trigger of one PagerDuty event; a trigger without ``dedup_key`` gets a new one
    (as PagerDuty does: the answer returns it). The routing key is left out."""
    event = payload if isinstance(payload, EventsPayload) else parse_events(payload)
    body = event.payload
    dedup_key = event.dedup_key or uuid.uuid4().hex
    labels: dict[str, str] = {}
    details: dict[str, Any] = {}
    custom: Mapping[str, Any] = {}
    if body is not None:
        fields = {"source": body.source, "component": body.component, "group": body.group,
                  "class": body.class_}  # fmt: skip
        labels = {name: value for name, value in fields.items() if value}
        details = {"severity": str(body.severity), **labels}
        if body.custom_details is not None:
            details["custom_details"] = body.custom_details
        if isinstance(body.custom_details, Mapping):
            custom = body.custom_details
    for name in ("client", "client_url"):
        if getattr(event, name):
            details[name] = getattr(event, name)
    if event.images:
        details["images"] = [i.model_dump(include=_IMAGE, exclude_none=True) for i in event.images]
    if event.links:
        details["links"] = [k.model_dump(include=_LINK, exclude_none=True) for k in event.links]
    return Trigger(
        source=Source.EVENTS,
        dedup_key=dedup_key,
        action=event.event_action,
        summary=body.summary if body is not None else dedup_key,
        kind=EVENTS_KIND,
        labels=labels,
        workflow=_text(custom.get("workflow")),
        dependency=_text(custom.get("dependency")),
        severity_hint=None if body is None else _severity(str(body.severity)),
        at=None if body is None or body.timestamp is None else _epoch(body.timestamp),
        details=details,
    )


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None
