"""The SLO package's HTTP routes (``/v1/slo/...``), brought by :meth:`SloExtension.routes`.

Each route is what a ``daytwo slo`` command prints, from the same :class:`SloReader`
(``_readers.py``) over the objectives registered on the server's app; a token limited to
some workflows sees only their objectives, alerts and stuck instances. Any viewer may read.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from daytwo.api import Api, viewer
from daytwo.slo._alerts import Alert
from daytwo.slo._extension import extension_of
from daytwo.slo._readers import SloReader, StatusLine
from daytwo.slo._results import RuleResult, SloStatus
from daytwo.slo._stuck import StuckInstance

__all__ = ["ObjectiveStatus", "router"]

#: Most records one request returns (``limit``).
MAX_LIMIT = 1000

router = APIRouter(prefix="/slo", tags=["slo"])


class ObjectiveStatus(BaseModel):
    """One objective now: its SLI, error budget, burn rates and alert state (the fields of
    :class:`daytwo.slo.SloStatus`, with ``target`` and ``alert_state`` spelled out)."""

    name: str
    workflow: str
    version: str | None
    kind: str
    objective: float | None
    #: The objective in words, as ``daytwo slo status`` shows it (``99.0% within 5m``).
    target: str
    budget: float
    window: str
    definition_version: int
    evaluated_at: float
    window_start: float
    good: float
    bad: float
    valid: float
    sli: float | None
    budget_total: float
    budget_consumed: float
    budget_remaining: float
    #: Burn rate per window (``1h``, ``6h``, ``3d``); None: no events in it.
    burn: dict[str, float | None]
    rules: list[RuleResult]
    no_data: bool
    runbook: str | None
    #: ``ok``, ``no data``, ``firing (page)``, ``firing (page, ticket)``...
    alert_state: str
    alerts: list[Alert]
    sample: tuple[float, float] | None = None
    last_event_at: float | None = None
    active_instances: int | None = None

    @classmethod
    def of(cls, line: StatusLine) -> ObjectiveStatus:
        """The answer for one line of ``daytwo slo status``."""
        status = line.status
        fields = {f.name: getattr(status, f.name) for f in dataclasses.fields(status)}
        return cls(**fields, target=line.target, alert_state=status.alert_state)

    def line(self) -> StatusLine:
        """Back into the line ``daytwo slo status`` prints (``daytwo --server``)."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(SloStatus)}
        return StatusLine(SloStatus(**fields), self.target)


Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="At most this many.")]


def _reader(api: Api, workflows: tuple[str, ...] | None) -> SloReader:
    extension = extension_of(api.app)
    # The routes are mounted only for an app with the extension (Extension.routes).
    assert extension is not None
    return SloReader(api.app, extension.objectives, workflows=workflows)


@router.get("/status", response_model=list[ObjectiveStatus])
def slo_status(api: Api, caller: viewer) -> list[ObjectiveStatus]:
    """Per objective: SLI, objective, budget left, burn rates and alert state, measured now
    (``daytwo slo status``); the alert state is the one the last evaluation recorded."""
    return [ObjectiveStatus.of(line) for line in _reader(api, caller.token.workflows).status()]


@router.get("/alerts", response_model=list[Alert])
def slo_alerts(
    api: Api,
    caller: viewer,
    resolved: Annotated[
        bool, Query(alias="all", description="Resolved alerts too, not only firing ones.")
    ] = False,
    objective: Annotated[str | None, Query(description="Only this objective's alerts.")] = None,
    limit: Limit = 100,
) -> list[Alert]:
    """Alerts raised by SLO evaluation, newest first: firing ones unless ``all``
    (``daytwo slo alerts``)."""
    reader = _reader(api, caller.token.workflows)
    if objective is not None:
        known = extension_of(api.app)
        for defined in known.objectives if known is not None else ():
            if defined.name == objective:
                caller.may_see(defined.workflow)
    return reader.alerts(resolved=resolved, objective=objective, limit=limit)


@router.get("/stuck", response_model=list[StuckInstance])
def slo_stuck(
    api: Api,
    caller: viewer,
    workflow: Annotated[str | None, Query(description="Only this workflow's instances.")] = None,
    limit: Limit = 100,
) -> list[StuckInstance]:
    """Stuck instances: state, time in it, threshold and why, longest stuck first
    (``daytwo slo stuck``)."""
    if workflow is not None:
        caller.may_see(workflow)
    return _reader(api, caller.token.workflows).stuck(workflow=workflow, limit=limit)
