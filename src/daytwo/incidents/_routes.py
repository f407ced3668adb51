"""The incidents package's HTTP routes (``/v1/incidents/...``), brought by
:meth:`IncidentsExtension.routes`.

Each route is one :class:`~daytwo.incidents.Incidents` call (the one implementation of
every action; the CLI calls the same): any viewer reads, an operator acts, and the person
who acts is the token's name. A token limited to some workflows sees only the incidents of
those workflows; one about no workflow (or the whole report) needs an unscoped token.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from daytwo._errors import InvalidInput
from daytwo._moments import parse_moment
from daytwo.api import Api, Caller, operator, viewer
from daytwo.incidents._incidents import Incidents
from daytwo.incidents._queries import IncidentFilter
from daytwo.incidents._records import Incident, IncidentAlert, TimelineEntry
from daytwo.incidents._report import incident_report
from daytwo.incidents._vocabulary import IncidentStatus, Severity, Source, Stage

__all__ = [
    "AffectedInstances",
    "IncidentModel",
    "IncidentPage",
    "NoteRequest",
    "OpenRequest",
    "PercentilesModel",
    "ReasonRequest",
    "ReassignRequest",
    "ReportModel",
    "ResolveRequest",
    "SeverityRequest",
    "StageRequest",
    "router",
]

#: Most incidents (or affected instances) one request returns.
MAX_LIMIT = 1000

router = APIRouter(prefix="/incidents", tags=["incidents"])


class _Body(BaseModel):
    # As daytwo.api's Body: a misspelt field is a 422 naming it, never ignored.
    model_config = ConfigDict(extra="forbid")


class IncidentModel(BaseModel):
    """One incident (the fields of :class:`daytwo.incidents.Incident`, with MTTA/MTTR)."""

    id: int
    title: str
    status: IncidentStatus
    severity: Severity
    stage: Stage
    impact: str | None
    urgency: str | None
    source: Source
    kind: str
    dedup_key: str | None
    workflow: str | None
    dependency: str | None
    assignee: str | None
    ownership_version: int | None
    labels: dict[str, str]
    #: Each stage reached, and when.
    stages: dict[Stage, float]
    opened_at: float
    opened_by: str
    acknowledged_at: float | None
    acknowledged_by: str | None
    resolved_at: float | None
    resolved_by: str | None
    last_signal_at: float
    quiet_after: float | None
    #: Alerts of it still firing.
    firing: int
    time_to_acknowledge: float | None
    time_to_resolve: float | None

    @classmethod
    def of(cls, incident: Incident) -> IncidentModel:
        return cls.model_validate(incident.to_json())

    def incident(self) -> Incident:
        """Back into the record (``daytwo --server incidents ...``)."""
        fields = self.model_dump(exclude={"time_to_acknowledge", "time_to_resolve"})
        fields["stages"] = dict(self.stages)
        return Incident(**fields)


class IncidentPage(BaseModel):
    """Incidents, newest first; ``next`` is the ``before`` of the following page (None on
    the last one)."""

    items: list[IncidentModel]
    next: int | None = None


class AffectedInstances(BaseModel):
    """The instances an incident is about (named by its alerts, then its workflow's that
    went wrong while it was open), newest first, at most ``limit``."""

    incident: int
    instances: list[str]
    count: int
    #: True when there may be more than ``limit``.
    truncated: bool


class PercentilesModel(BaseModel):
    count: int
    p50: float | None
    p90: float | None
    p95: float | None
    max: float | None
    mean: float | None


class ReportModel(BaseModel):
    """``daytwo incidents report``: counts, MTTA/MTTR (seconds, nearest-rank percentiles),
    mean time per stage, and error budget consumed per objective during incidents."""

    since: float
    until: float
    total: int
    by_severity: dict[str, int]
    by_status: dict[str, int]
    by_workflow: dict[str, int]
    by_dependency: dict[str, int]
    mtta: PercentilesModel
    mttr: PercentilesModel
    time_per_stage: dict[str, float]
    budget_consumed: dict[str, float]
    percentile_method: str


class OpenRequest(_Body):
    title: str
    #: Default: what the ownership registry (or the default assessor) says.
    severity: Severity | None = None
    workflow: str | None = None
    dependency: str | None = None
    assignee: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class ReassignRequest(_Body):
    to: str
    reason: str | None = None


class NoteRequest(_Body):
    text: str


class SeverityRequest(_Body):
    severity: Severity
    reason: str


class StageRequest(_Body):
    stage: Stage
    note: str | None = None


class ResolveRequest(_Body):
    reason: str | None = None
    #: Resolve even while an alert of it still fires (else 409).
    force: bool = False


class ReasonRequest(_Body):
    reason: str | None = None


Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="At most this many.")]


def _service(api: Api) -> Incidents:
    return Incidents.for_app(api.app)


def _moment(api: Api, text: str | None, what: str) -> float | None:
    if text is None:
        return None
    try:
        return parse_moment(text, api.app.clock.now(), what)
    except (ValueError, OverflowError) as exc:
        raise InvalidInput(str(exc)) from None


def _may_see(caller: Caller, workflow: str | None, what: str) -> None:
    """403 for an incident outside the token's scope (one about no workflow belongs to
    every workflow, so it needs an unscoped token)."""
    if workflow is not None:
        caller.may_see(workflow)
    else:
        caller.unscoped(what)


def _visible(api: Api, caller: Caller, number: int) -> Incident:
    incident = _service(api).get(number)
    _may_see(caller, incident.workflow, f"incident #{number}")
    return incident


@router.get("", response_model=IncidentPage)
def list_incidents(
    api: Api,
    caller: viewer,
    status: Annotated[
        list[IncidentStatus] | None,
        Query(description="Only these statuses (repeatable); default: the open ones."),
    ] = None,
    all_incidents: Annotated[
        bool, Query(alias="all", description="Every status, resolved ones too.")
    ] = False,
    workflow: str | None = None,
    dependency: str | None = None,
    severity: Severity | None = None,
    assignee: str | None = None,
    since: Annotated[
        str | None, Query(description="Opened from: 7d ago, or an ISO 8601 UTC date/time.")
    ] = None,
    until: Annotated[str | None, Query(description="Opened before (as since).")] = None,
    before: Annotated[
        int | None, Query(ge=1, description="Incidents numbered below this: the previous next.")
    ] = None,
    limit: Limit = 100,
) -> IncidentPage:
    """Incidents, newest first, filtered as ``daytwo incidents list``."""
    if workflow is not None:
        caller.may_see(workflow)
    statuses = status or (
        None if all_incidents else [IncidentStatus.TRIGGERED, IncidentStatus.ACKNOWLEDGED]
    )
    where = IncidentFilter(
        statuses=statuses, workflow=workflow, dependency=dependency, severity=severity,
        assignee=assignee, since=_moment(api, since, "since"), until=_moment(api, until, "until"),
        before_id=before, limit=limit,
    )  # fmt: skip
    found = _service(api).list(where)
    following = found[-1].id if len(found) == limit else None
    scope = caller.token
    shown = [i for i in found if scope.workflows is None or (i.workflow and scope.sees(i.workflow))]
    return IncidentPage(items=[IncidentModel.of(i) for i in shown], next=following)


@router.get("/report", response_model=ReportModel)
def report(
    api: Api,
    caller: viewer,
    since: Annotated[str, Query(description="From: 30d ago, or an ISO 8601 UTC date/time.")] = (
        "30d"
    ),
    until: Annotated[str | None, Query(description="Before (default: now).")] = None,
) -> dict[str, Any]:
    """Counts by severity, status, workflow and dependency; MTTA and MTTR percentiles; mean
    time per stage; error budget consumed during incidents (``daytwo incidents report``)."""
    caller.unscoped("the incident report")
    start = _moment(api, since, "since")
    assert start is not None
    made = incident_report(
        _service(api), start, _moment(api, until, "until"), now=api.app.clock.now()
    )
    return made.to_json()


@router.get("/{number}", response_model=IncidentModel)
def show(api: Api, caller: viewer, number: int) -> IncidentModel:
    """One incident (``daytwo incidents show``)."""
    return IncidentModel.of(_visible(api, caller, number))


@router.get("/{number}/timeline", response_model=list[TimelineEntry])
def timeline(api: Api, caller: viewer, number: int) -> list[TimelineEntry]:
    """Its timeline, with the audit rows of operator actions on what it affects."""
    _visible(api, caller, number)
    return _service(api).timeline(number)


@router.get("/{number}/alerts", response_model=list[IncidentAlert])
def alerts(api: Api, caller: viewer, number: int) -> list[IncidentAlert]:
    """Its alerts, firing and resolved."""
    _visible(api, caller, number)
    return _service(api).alerts(number)


@router.get("/{number}/affected", response_model=AffectedInstances)
def affected(api: Api, caller: viewer, number: int, limit: Limit = MAX_LIMIT) -> AffectedInstances:
    """The instances it is about (``daytwo incidents affected``)."""
    _visible(api, caller, number)
    found = _service(api).affected_instances(number, limit)
    return AffectedInstances(
        incident=number, instances=found, count=len(found), truncated=len(found) >= limit
    )


@router.post("", response_model=IncidentModel, status_code=201)
def open_incident(api: Api, caller: operator, body: OpenRequest) -> IncidentModel:
    """Open an incident by hand (``daytwo incidents open``)."""
    _may_see(caller, body.workflow, "an incident about no workflow")
    made = _service(api).open(
        body.title, severity=body.severity, workflow=body.workflow, dependency=body.dependency,
        assignee=body.assignee, labels=body.labels, by=caller.name,
    )  # fmt: skip
    return IncidentModel.of(made)


@router.post("/{number}/acknowledge", response_model=IncidentModel)
def acknowledge(api: Api, caller: operator, number: int) -> IncidentModel:
    """Someone is on it (409 unless it is triggered)."""
    _visible(api, caller, number)
    return IncidentModel.of(_service(api).acknowledge(number, by=caller.name))


@router.post("/{number}/reassign", response_model=IncidentModel)
def reassign(api: Api, caller: operator, number: int, body: ReassignRequest) -> IncidentModel:
    """Hand it to a person or team."""
    _visible(api, caller, number)
    made = _service(api).reassign(number, body.to, reason=body.reason, by=caller.name)
    return IncidentModel.of(made)


@router.post("/{number}/notes", response_model=IncidentModel)
def note(api: Api, caller: operator, number: int, body: NoteRequest) -> IncidentModel:
    """Add a note to its timeline (422 for an empty one)."""
    _visible(api, caller, number)
    return IncidentModel.of(_service(api).note(number, body.text, by=caller.name))


@router.post("/{number}/severity", response_model=IncidentModel)
def set_severity(api: Api, caller: operator, number: int, body: SeverityRequest) -> IncidentModel:
    """Change its severity; the reason is required."""
    _visible(api, caller, number)
    made = _service(api).set_severity(number, body.severity, reason=body.reason, by=caller.name)
    return IncidentModel.of(made)


@router.post("/{number}/stage", response_model=IncidentModel)
def stage(api: Api, caller: operator, number: int, body: StageRequest) -> IncidentModel:
    """Move it on to a stage (stages only go forward: 409 otherwise)."""
    _visible(api, caller, number)
    made = _service(api).advance(number, body.stage, note=body.note, by=caller.name)
    return IncidentModel.of(made)


@router.post("/{number}/resolve", response_model=IncidentModel)
def resolve(api: Api, caller: operator, number: int, body: ResolveRequest) -> IncidentModel:
    """Resolve it; 409 while an alert of it still fires, unless ``force``."""
    _visible(api, caller, number)
    made = _service(api).resolve(number, reason=body.reason, force=body.force, by=caller.name)
    return IncidentModel.of(made)


@router.post("/{number}/reopen", response_model=IncidentModel)
def reopen(api: Api, caller: operator, number: int, body: ReasonRequest) -> IncidentModel:
    """Reopen a resolved incident (409 for an open one)."""
    _visible(api, caller, number)
    return IncidentModel.of(_service(api).reopen(number, reason=body.reason, by=caller.name))
