"""What the ``daytwo incidents`` commands share: the service a command works on, the
``N`` argument and ``--reason`` option, and how incidents, alerts and timelines print.

The read commands are in ``_cli.py``, the actions in ``_cli_actions.py``.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from daytwo.cli import Column, Row, client_app, duration, print_json, print_table, short_time
from daytwo.incidents._cli_remote import RemoteIncidents
from daytwo.incidents._incidents import Incidents
from daytwo.incidents._records import Incident, IncidentAlert, TimelineEntry
from daytwo.incidents._vocabulary import AlertState, IncidentStatus, Severity, Stage

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "INCIDENT_COLUMNS",
    "SHOWN_AFFECTED",
    "TIMELINE_COLUMNS",
    "NumberArgument",
    "ReasonOption",
    "Service",
    "done",
    "incident_row",
    "print_incident",
    "service_for",
    "stdout",
    "timeline_rows",
]

#: How many affected instances ``show`` lists (``affected`` lists them all).
SHOWN_AFFECTED = 20

NumberArgument = Annotated[int, typer.Argument(metavar="N", help="The incident's number.")]
ReasonOption = Annotated[
    str | None, typer.Option("--reason", metavar="TEXT", help="Why (in the timeline and audit).")
]

INCIDENT_COLUMNS = (
    Column("#"),
    Column("SEVERITY"),
    Column("STATUS"),
    Column("STAGE", drop=3),
    Column("OPENED"),
    Column("WORKFLOW", drop=2),
    Column("ASSIGNEE", drop=1),
    Column("FIRING", drop=4),
    Column("TITLE", wrap=True, min_width=20),
)
ALERT_COLUMNS = (
    Column("ALERT"),
    Column("STATE"),
    Column("SOURCE", drop=2),
    Column("COUNT", drop=1),
    Column("FIRST"),
    Column("LAST", drop=3),
    Column("SUMMARY", wrap=True, min_width=20),
)
TIMELINE_COLUMNS = (
    Column("AT"),
    Column("KIND"),
    Column("WHO", drop=1),
    Column("WHAT", wrap=True, min_width=30),
)

Service = Incidents | RemoteIncidents


def service_for(ctx: typer.Context, database: str | None, app_spec: str | None) -> Service:
    """The incidents the command works on: the database's, or the server's (``--server``)."""
    app = client_app(ctx, database, app_spec, remote=True)
    if "daytwo.api" in sys.modules:  # only --server imports it (a local command does not)
        from daytwo.api import RemoteClient

        if isinstance(app.client, RemoteClient):
            return RemoteIncidents(app.client)
    return Incidents.for_app(app)


def _when(moment: float | None) -> str:
    return short_time(None if moment is None else datetime.fromtimestamp(moment, UTC))


def _severity(severity: Severity) -> Text:
    style = {Severity.SEV1: "bold red", Severity.SEV2: "red", Severity.SEV3: "yellow"}
    return Text(str(severity), style=style.get(severity, ""))


def _status(status: IncidentStatus) -> Text:
    style = {IncidentStatus.TRIGGERED: "bold red", IncidentStatus.ACKNOWLEDGED: "yellow"}
    return Text(str(status), style=style.get(status, "green"))


def incident_row(incident: Incident) -> Row:
    return {
        "#": str(incident.id),
        "SEVERITY": _severity(incident.severity),
        "STATUS": _status(incident.status),
        "STAGE": str(incident.stage),
        "OPENED": _when(incident.opened_at),
        "WORKFLOW": incident.workflow or "",
        "ASSIGNEE": incident.assignee or "",
        "FIRING": str(incident.firing),
        "TITLE": incident.title,
    }


def _alert_rows(alerts: list[IncidentAlert]) -> list[Row]:
    return [
        {
            "ALERT": alert.alert_key,
            "STATE": Text(
                str(alert.state), style="red" if alert.state is AlertState.FIRING else "green"
            ),
            "SOURCE": str(alert.source),
            "COUNT": str(alert.count),
            "FIRST": _when(alert.first_at),
            "LAST": _when(alert.last_at),
            "SUMMARY": alert.summary,
        }
        for alert in alerts
    ]


def timeline_rows(entries: list[TimelineEntry]) -> list[Row]:
    return [
        {"AT": _when(e.at), "KIND": str(e.kind), "WHO": e.actor, "WHAT": e.text} for e in entries
    ]


def print_incident(
    incident: Incident,
    alerts: list[IncidentAlert],
    affected: list[str],
    entries: list[TimelineEntry],
    stages: dict[Stage, float],
) -> None:
    """What ``daytwo incidents show`` prints without ``--json``."""
    out = stdout()
    out.print(Text(f"#{incident.id} {incident.title}", style="bold"))
    out.print(
        Text.assemble(
            _severity(incident.severity),
            " ",
            _status(incident.status),
            f", stage {incident.stage}; assignee {incident.assignee or 'nobody'}",
        )
    )
    about = [f"source {incident.source} ({incident.kind})"]
    if incident.workflow:
        about.append(f"workflow {incident.workflow}")
    if incident.dependency:
        about.append(f"dependency {incident.dependency}")
    if incident.labels:
        about.append("labels " + ", ".join(f"{k}={v}" for k, v in incident.labels.items()))
    out.print("; ".join(about))
    out.print(
        f"opened {_when(incident.opened_at)} by {incident.opened_by}; "
        f"MTTA {duration(incident.time_to_acknowledge) or '-'}, "
        f"MTTR {duration(incident.time_to_resolve) or '-'}"
    )
    out.print("time per stage: " + ", ".join(f"{s} {duration(t)}" for s, t in stages.items()))
    print_table(ALERT_COLUMNS, _alert_rows(alerts), caption=f"{len(alerts)} alert(s)", console=out)
    if affected:
        shown = ", ".join(affected[:SHOWN_AFFECTED])
        more = (
            f" (+{len(affected) - SHOWN_AFFECTED} more)" if len(affected) > SHOWN_AFFECTED else ""
        )
        out.print(f"affected instances ({len(affected)}): {shown}{more}")
    else:
        out.print("affected instances: none known")
    print_table(
        TIMELINE_COLUMNS, timeline_rows(entries), caption=f"{len(entries)} event(s)", console=out
    )


def done(incident: Incident, json_output: bool, said: str) -> None:
    """What an action prints: the incident as it now is (``--json``), or what was done."""
    if json_output:
        print_json(incident.to_json())
        return
    stdout().print(f"incident #{incident.id}: {said}")


def stdout() -> Console:
    from rich.console import Console

    return Console(file=sys.stdout, markup=False, emoji=False, highlight=False)
