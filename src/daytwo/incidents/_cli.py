"""``daytwo incidents list | show | open | ack | reassign | note | severity | stage | resolve
| reopen | timeline | affected | report``.

Every command is one call of the :class:`~daytwo.incidents.Incidents` service (the one
implementation of each action), on the database, or with ``daytwo --server URL`` on the
server's (``_cli_remote.py``: the same calls over ``/v1/incidents``, who acts being the
token's name). Errors end through the CLI's one error map: an unknown incident is "not
found" (3), resolving one that still fires or an action its state does not allow is "not
allowed" (5), bad input is 2.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from daytwo._moments import MOMENT_HELP, parse_moment
from daytwo.cli import (
    FLAG,
    AppOption,
    ByOption,
    CliError,
    Column,
    DatabaseOption,
    JsonOption,
    LimitOption,
    Row,
    client_app,
    duration,
    print_json,
    print_table,
    short_time,
)
from daytwo.incidents._cli_remote import RemoteIncidents
from daytwo.incidents._incidents import Incidents
from daytwo.incidents._queries import IncidentFilter
from daytwo.incidents._records import Incident, IncidentAlert, TimelineEntry
from daytwo.incidents._report import IncidentReport, incident_report
from daytwo.incidents._vocabulary import AlertState, IncidentStatus, Severity, Stage

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["incidents_commands"]

incidents_commands = typer.Typer(
    name="incidents",
    help="Incidents: list, show, open, acknowledge, reassign, note, change severity or stage, "
    "resolve, reopen; their timelines, affected instances, and the report (MTTA, MTTR).",
    no_args_is_help=True,
)

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


def _service(ctx: typer.Context, database: str | None, app_spec: str | None) -> Service:
    """The incidents the command works on: the database's, or the server's (``--server``)."""
    app = client_app(ctx, database, app_spec, remote=True)
    if "daytwo.api" in sys.modules:  # only --server imports it (a local command does not)
        from daytwo.api import RemoteClient

        if isinstance(app.client, RemoteClient):
            return RemoteIncidents(app.client)
    return Incidents.for_app(app)


def _moment(text: str | None, option: str, now: float) -> float | None:
    if text is None:
        return None
    try:
        return parse_moment(text, now, option)
    except (ValueError, OverflowError) as exc:
        raise CliError(str(exc)) from None


def _when(moment: float | None) -> str:
    return short_time(None if moment is None else datetime.fromtimestamp(moment, UTC))


def _severity(severity: Severity) -> Text:
    style = {Severity.SEV1: "bold red", Severity.SEV2: "red", Severity.SEV3: "yellow"}
    return Text(str(severity), style=style.get(severity, ""))


def _status(status: IncidentStatus) -> Text:
    style = {IncidentStatus.TRIGGERED: "bold red", IncidentStatus.ACKNOWLEDGED: "yellow"}
    return Text(str(status), style=style.get(status, "green"))


def _row(incident: Incident) -> Row:
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


def _labels(given: list[str] | None) -> dict[str, str]:
    labels: dict[str, str] = {}
    for item in given or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CliError(f"--label {item!r} is not KEY=VALUE; give e.g. --label region=eu")
        labels[key.strip()] = value
    return labels


# -- reading ----------------------------------------------------------------------------


@incidents_commands.command("list")
def list_incidents(
    ctx: typer.Context,
    all_incidents: Annotated[
        bool, typer.Option("--all", metavar=FLAG, help="Resolved incidents too.")
    ] = False,
    status: Annotated[
        list[IncidentStatus] | None,
        typer.Option("--status", help="Only this status (repeatable); default: the open ones."),
    ] = None,
    workflow: Annotated[
        str | None, typer.Option("--workflow", metavar="WORKFLOW", help="Only this workflow's.")
    ] = None,
    severity: Annotated[
        Severity | None, typer.Option("--severity", help="Only this severity.")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", metavar="WHEN", help=f"Opened from: {MOMENT_HELP}.")
    ] = None,
    limit: LimitOption = 100,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """List incidents, newest first (the open ones unless --all or --status)."""
    service = _service(ctx, database, app_spec)
    if isinstance(service, RemoteIncidents):
        found = service.list_page(
            statuses=status, all_incidents=all_incidents, workflow=workflow,
            severity=severity, since=since, limit=limit,
        )  # fmt: skip
    else:
        statuses = status or (
            None if all_incidents else [IncidentStatus.TRIGGERED, IncidentStatus.ACKNOWLEDGED]
        )
        where = IncidentFilter(
            statuses=statuses, workflow=workflow, severity=severity,
            since=_moment(since, "--since", service.clock.now()), limit=limit,
        )  # fmt: skip
        found = service.list(where)
    if json_output:
        print_json([incident.to_json() for incident in found])
        return
    what = "incident(s)" if all_incidents or status else "open incident(s)"
    print_table(INCIDENT_COLUMNS, [_row(i) for i in found], caption=f"{len(found)} {what}")


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


def _timeline_rows(entries: list[TimelineEntry]) -> list[Row]:
    return [
        {"AT": _when(e.at), "KIND": str(e.kind), "WHO": e.actor, "WHAT": e.text} for e in entries
    ]


@incidents_commands.command("show")
def show(
    ctx: typer.Context,
    number: NumberArgument,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Show one incident: what and whose it is, its alerts, MTTA/MTTR and time per stage,
    the affected instances (the first 20, and how many) and the timeline."""
    service = _service(ctx, database, app_spec)
    incident = service.get(number)
    alerts = service.alerts(number)
    affected = service.affected_instances(number)
    entries = service.timeline(number)
    now = service.clock.now() if isinstance(service, Incidents) else datetime.now(UTC).timestamp()
    stages = incident.time_in_stages(now)
    if json_output:
        print_json(
            {
                "incident": incident.to_json(),
                "alerts": [a.to_json() for a in alerts],
                "time_in_stages": {str(s): t for s, t in stages.items()},
                "affected": {"instances": affected[:SHOWN_AFFECTED], "count": len(affected)},
                "timeline": [e.to_json() for e in entries],
            }
        )
        return
    out = _stdout()
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
        TIMELINE_COLUMNS, _timeline_rows(entries), caption=f"{len(entries)} event(s)", console=out
    )


@incidents_commands.command("timeline")
def timeline(
    ctx: typer.Context,
    number: NumberArgument,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """An incident's timeline, with the operator actions on what it affects merged in."""
    entries = _service(ctx, database, app_spec).timeline(number)
    if json_output:
        print_json([e.to_json() for e in entries])
        return
    print_table(TIMELINE_COLUMNS, _timeline_rows(entries), caption=f"{len(entries)} event(s)")


@incidents_commands.command("affected")
def affected(
    ctx: typer.Context,
    number: NumberArgument,
    limit: LimitOption = 1000,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """The instances an incident is about, newest first: those its alerts name, then its
    workflow's that went wrong while it was open."""
    found = _service(ctx, database, app_spec).affected_instances(number, limit)
    if json_output:
        print_json({"incident": number, "instances": found, "count": len(found)})
        return
    print_table((Column("INSTANCE"),), [{"INSTANCE": i} for i in found],
                caption=f"{len(found)} affected instance(s)")  # fmt: skip


@incidents_commands.command("report")
def report(
    ctx: typer.Context,
    since: Annotated[
        str, typer.Option("--since", metavar="WHEN", help=f"Opened from: {MOMENT_HELP}.")
    ] = "30d",
    until: Annotated[
        str | None,
        typer.Option(
            "--until", metavar="WHEN", help=f"Opened before (default now): {MOMENT_HELP}."
        ),
    ] = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Counts by severity, status, workflow and dependency; MTTA and MTTR percentiles
    (nearest-rank); mean time per stage; error budget consumed during incidents."""
    service = _service(ctx, database, app_spec)
    made: IncidentReport
    if isinstance(service, RemoteIncidents):
        made = service.report(since, until)
    else:
        now = service.clock.now()
        start = _moment(since, "--since", now)
        assert start is not None
        made = incident_report(service, start, _moment(until, "--until", now), now=now)
    if json_output:
        print_json(made.to_json())
        return
    out = _stdout()
    for part in made.renderables():
        out.print(part)


# -- acting -----------------------------------------------------------------------------


def _done(incident: Incident, json_output: bool, said: str) -> None:
    if json_output:
        print_json(incident.to_json())
        return
    _stdout().print(f"incident #{incident.id}: {said}")


@incidents_commands.command("open")
def open_incident(
    ctx: typer.Context,
    title: Annotated[str, typer.Argument(metavar="TITLE", help="What is wrong, in a line.")],
    severity: Annotated[
        Severity | None,
        typer.Option("--severity", help="Default: what the ownership registry says (or SEV3)."),
    ] = None,
    workflow: Annotated[
        str | None, typer.Option("--workflow", metavar="WORKFLOW", help="The workflow it is about.")
    ] = None,
    dependency: Annotated[
        str | None,
        typer.Option("--dependency", metavar="NAME", help="The dependency it is about."),
    ] = None,
    assignee: Annotated[
        str | None, typer.Option("--assignee", metavar="WHO", help="Who handles it.")
    ] = None,
    label: Annotated[
        list[str] | None, typer.Option("--label", metavar="KEY=VALUE", help="Repeatable.")
    ] = None,
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Open an incident by hand (it resolves only when someone resolves it)."""
    labels = _labels(label)
    made = _service(ctx, database, app_spec).open(
        title, severity=severity, workflow=workflow, dependency=dependency, assignee=assignee,
        labels=labels, by=by,
    )  # fmt: skip
    _done(made, json_output, f"opened, {made.severity}, assigned to {made.assignee or 'nobody'}")


@incidents_commands.command("ack")
def acknowledge(
    ctx: typer.Context,
    number: NumberArgument,
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Acknowledge: someone is on it (the paging stops; MTTA ends here)."""
    made = _service(ctx, database, app_spec).acknowledge(number, by=by)
    _done(made, json_output, f"acknowledged by {made.acknowledged_by}")


@incidents_commands.command("reassign")
def reassign(
    ctx: typer.Context,
    number: NumberArgument,
    to: Annotated[str, typer.Argument(metavar="TO", help="The person or team.")],
    reason: ReasonOption = None,
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Hand the incident to a person or team."""
    made = _service(ctx, database, app_spec).reassign(number, to, reason=reason, by=by)
    _done(made, json_output, f"assigned to {made.assignee}")


@incidents_commands.command("note")
def note(
    ctx: typer.Context,
    number: NumberArgument,
    text: Annotated[str, typer.Argument(metavar="TEXT", help="What was tried or seen.")],
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Add a note to the incident's timeline."""
    made = _service(ctx, database, app_spec).note(number, text, by=by)
    _done(made, json_output, "note added")


@incidents_commands.command("severity")
def set_severity(
    ctx: typer.Context,
    number: NumberArgument,
    severity: Annotated[Severity, typer.Argument(metavar="SEVn", help="SEV1 (worst) to SEV4.")],
    reason: Annotated[
        str, typer.Option("--reason", metavar="TEXT", help="Why (required; in the timeline).")
    ],
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Change an open incident's severity (the reason is required)."""
    made = _service(ctx, database, app_spec).set_severity(number, severity, reason=reason, by=by)
    _done(made, json_output, f"severity now {made.severity}")


@incidents_commands.command("stage")
def stage(
    ctx: typer.Context,
    number: NumberArgument,
    to: Annotated[Stage, typer.Argument(metavar="STAGE", help="The stage to move on to.")],
    note_text: Annotated[
        str | None, typer.Option("--note", metavar="TEXT", help="In the timeline.")
    ] = None,
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Move the incident on to STAGE (triage, contain, diagnose, resolve, recover, review;
    stages only go forward)."""
    made = _service(ctx, database, app_spec).advance(number, to, note=note_text, by=by)
    _done(made, json_output, f"stage now {made.stage}")


@incidents_commands.command("resolve")
def resolve(
    ctx: typer.Context,
    number: NumberArgument,
    reason: ReasonOption = None,
    force: Annotated[
        bool,
        typer.Option("--force", metavar=FLAG, help="Resolve even while an alert still fires."),
    ] = False,
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Resolve the incident (refused while an alert of it still fires, unless --force)."""
    made = _service(ctx, database, app_spec).resolve(number, reason=reason, force=force, by=by)
    _done(made, json_output, f"resolved by {made.resolved_by}")


@incidents_commands.command("reopen")
def reopen(
    ctx: typer.Context,
    number: NumberArgument,
    reason: ReasonOption = None,
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Reopen a resolved incident (triggered again, back at its stage before resolve)."""
    made = _service(ctx, database, app_spec).reopen(number, reason=reason, by=by)
    _done(made, json_output, f"reopened, stage {made.stage}")


def _stdout() -> Console:
    from rich.console import Console

    return Console(file=sys.stdout, markup=False, emoji=False, highlight=False)
