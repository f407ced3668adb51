"""``daytwo incidents list | show | open | ack | reassign | note | severity | stage | resolve
| reopen | timeline | affected | report``: the group, and its read commands.

Every command is one call of the :class:`~daytwo.incidents.Incidents` service (the one
implementation of each action), on the database, or with ``daytwo --server URL`` on the
server's (``_cli_remote.py``: the same calls over ``/v1/incidents``, who acts being the
token's name). Errors end through the CLI's one error map: an unknown incident is "not
found" (3), resolving one that still fires or an action its state does not allow is "not
allowed" (5), bad input is 2.

The actions (``open`` to ``reopen``) are in ``_cli_actions.py``, what the commands share
(the service, the ``N`` argument, the printing) in ``_cli_common.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from daytwo._moments import MOMENT_HELP, parse_moment
from daytwo.cli import (
    FLAG,
    AppOption,
    CliError,
    Column,
    DatabaseOption,
    JsonOption,
    LimitOption,
    print_json,
    print_table,
)
from daytwo.incidents._cli_actions import action_commands
from daytwo.incidents._cli_common import (
    INCIDENT_COLUMNS,
    SHOWN_AFFECTED,
    TIMELINE_COLUMNS,
    NumberArgument,
    incident_row,
    print_incident,
    service_for,
    stdout,
    timeline_rows,
)
from daytwo.incidents._cli_remote import RemoteIncidents
from daytwo.incidents._incidents import Incidents
from daytwo.incidents._queries import IncidentFilter
from daytwo.incidents._report import IncidentReport, incident_report
from daytwo.incidents._vocabulary import IncidentStatus, Severity

__all__ = ["incidents_commands"]

incidents_commands = typer.Typer(
    name="incidents",
    help="Incidents: list, show, open, acknowledge, reassign, note, change severity or stage, "
    "resolve, reopen; their timelines, affected instances, and the report (MTTA, MTTR).",
    no_args_is_help=True,
)


def _moment(text: str | None, option: str, now: float) -> float | None:
    if text is None:
        return None
    try:
        return parse_moment(text, now, option)
    except (ValueError, OverflowError) as exc:
        raise CliError(str(exc)) from None


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
    service = service_for(ctx, database, app_spec)
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
    print_table(INCIDENT_COLUMNS, [incident_row(i) for i in found], caption=f"{len(found)} {what}")


@incidents_commands.command("show")
def show(
    ctx: typer.Context,
    number: NumberArgument,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Show one incident: what and whose it is, its alerts, times, affected instances, timeline.

    Times: MTTA, MTTR and time per stage. Affected instances: the first 20, and how many.
    """
    service = service_for(ctx, database, app_spec)
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
    print_incident(incident, alerts, affected, entries, stages)


@incidents_commands.command("timeline")
def timeline(
    ctx: typer.Context,
    number: NumberArgument,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """An incident's timeline, with the operator actions on what it affects merged in."""
    entries = service_for(ctx, database, app_spec).timeline(number)
    if json_output:
        print_json([e.to_json() for e in entries])
        return
    print_table(TIMELINE_COLUMNS, timeline_rows(entries), caption=f"{len(entries)} event(s)")


@incidents_commands.command("affected")
def affected(
    ctx: typer.Context,
    number: NumberArgument,
    limit: LimitOption = 1000,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """The instances an incident is about, newest first.

    Those its alerts name, then those of its workflow that went wrong while it was open.
    """
    found = service_for(ctx, database, app_spec).affected_instances(number, limit)
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
    """Counts, MTTA and MTTR percentiles, mean time per stage, error budget used in incidents.

    Counts by severity, status, workflow and dependency; the percentiles are nearest-rank.
    """
    service = service_for(ctx, database, app_spec)
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
    out = stdout()
    for part in made.renderables():
        out.print(part)


# -- acting: the actions' commands, listed after these -----------------------------------

incidents_commands.add_typer(action_commands)
