"""``daytwo --server URL incidents ...``: the same records and actions, over HTTP.

:class:`RemoteIncidents` has the methods of :class:`~daytwo.incidents.Incidents` that the
commands call; each is a request to the server's ``/v1/incidents/...`` routes (which call
the same service there, with the token's name as who acts), parsed back into the same
records, so the commands print the same and end with the same exit codes.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import daytwo
from daytwo.cli import CliError
from daytwo.incidents._errors import IncidentNotFound, IncidentStillFiring, InvalidIncidentChange
from daytwo.incidents._records import Incident, IncidentAlert, TimelineEntry
from daytwo.incidents._report import IncidentReport
from daytwo.incidents._vocabulary import IncidentStatus, Severity, Stage

if TYPE_CHECKING:
    from daytwo.api import RemoteClient

__all__ = ["RemoteIncidents"]


class RemoteIncidents:
    """The incidents of a daytwo API server (``daytwo serve`` of an app with them)."""

    def __init__(self, client: RemoteClient) -> None:
        from daytwo.api import register_remote_errors

        # The server names these errors by class: raise them again here (same exit codes).
        register_remote_errors(IncidentNotFound, IncidentStillFiring, InvalidIncidentChange)
        self.client = client

    def _call(self, method: str, path: str, into: Any, **options: Any) -> Any:
        try:
            return self.client.call(method, f"/incidents{path}", into, **options)
        except daytwo.DaytwoError as exc:
            if type(exc) is daytwo.DaytwoError and str(exc) == "Not Found":
                raise CliError(
                    f"the server at {self.client.database_url} serves no incident routes; "
                    "upgrade it to a daytwo with the incidents package"
                ) from None
            raise

    def _incident(self, method: str, path: str, **options: Any) -> Incident:
        from daytwo.incidents._routes import IncidentModel

        found: IncidentModel = self._call(method, path, IncidentModel, **options)
        return found.incident()

    # -- reads ----------------------------------------------------------------------------

    def get(self, number: int) -> Incident:
        return self._incident("GET", f"/{number}")

    def list_page(
        self,
        *,
        statuses: builtins.list[IncidentStatus] | None,
        all_incidents: bool,
        workflow: str | None,
        severity: Severity | None,
        since: str | None,
        limit: int,
    ) -> builtins.list[Incident]:
        from daytwo.incidents._routes import IncidentPage

        params = {
            "status": [str(s) for s in statuses] if statuses else None,
            "all": True if all_incidents else None,
            "workflow": workflow,
            "severity": None if severity is None else str(severity),
            "since": since,
            "limit": limit,
        }
        page: IncidentPage = self._call("GET", "", IncidentPage, params=params)
        return [item.incident() for item in page.items]

    def alerts(self, number: int) -> builtins.list[IncidentAlert]:
        found: builtins.list[IncidentAlert] = self._call(
            "GET", f"/{number}/alerts", builtins.list[IncidentAlert]
        )
        return found

    def timeline(self, number: int) -> builtins.list[TimelineEntry]:
        found: builtins.list[TimelineEntry] = self._call(
            "GET", f"/{number}/timeline", builtins.list[TimelineEntry]
        )
        return found

    def affected_instances(self, number: int, limit: int = 1000) -> builtins.list[str]:
        found: dict[str, Any] = self._call(
            "GET", f"/{number}/affected", dict, params={"limit": limit}
        )
        return [str(i) for i in found["instances"]]

    def report(self, since: str, until: str | None) -> IncidentReport:
        found: dict[str, Any] = self._call(
            "GET", "/report", dict, params={"since": since, "until": until}
        )
        return IncidentReport.from_json(found)

    # -- what people do (who acts is the token's name) ---------------------------------------

    def open(
        self,
        title: str,
        *,
        severity: Severity | None = None,
        workflow: str | None = None,
        dependency: str | None = None,
        assignee: str | None = None,
        labels: Mapping[str, str] | None = None,
        by: str | None = None,
    ) -> Incident:
        body = {
            "title": title, "severity": None if severity is None else str(severity),
            "workflow": workflow, "dependency": dependency, "assignee": assignee,
            "labels": dict(labels or {}),
        }  # fmt: skip
        return self._incident("POST", "", json=body)

    def acknowledge(self, number: int, *, by: str | None = None) -> Incident:
        return self._incident("POST", f"/{number}/acknowledge")

    def reassign(
        self, number: int, to: str, *, reason: str | None = None, by: str | None = None
    ) -> Incident:
        return self._incident("POST", f"/{number}/reassign", json={"to": to, "reason": reason})

    def note(self, number: int, text: str, *, by: str | None = None) -> Incident:
        return self._incident("POST", f"/{number}/notes", json={"text": text})

    def set_severity(
        self, number: int, severity: Severity, *, reason: str, by: str | None = None
    ) -> Incident:
        body = {"severity": str(severity), "reason": reason}
        return self._incident("POST", f"/{number}/severity", json=body)

    def advance(
        self, number: int, stage: Stage, *, note: str | None = None, by: str | None = None
    ) -> Incident:
        return self._incident("POST", f"/{number}/stage", json={"stage": str(stage), "note": note})

    def resolve(
        self, number: int, *, reason: str | None = None, force: bool = False, by: str | None = None
    ) -> Incident:
        body = {"reason": reason, "force": force}
        return self._incident("POST", f"/{number}/resolve", json=body)

    def reopen(self, number: int, *, reason: str | None = None, by: str | None = None) -> Incident:
        return self._incident("POST", f"/{number}/reopen", json={"reason": reason})
