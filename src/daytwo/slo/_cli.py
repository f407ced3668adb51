"""``daytwo slo status | alerts | stuck | evaluate``: SLOs on the command line.

Objectives come from the app (``--app MODULE:APP``, registered with
``daytwo.slo.register``) and/or YAML files (``--objectives FILE``). The group is the SLO
package's CLI plugin (``slo/cli.py``): the ``daytwo`` command loads it only when an ``slo``
command runs, so other commands do not pay for Pydantic.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from daytwo.cli import (
    FLAG,
    AppOption,
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
from daytwo.slo._cli_export import export_commands, import_commands
from daytwo.slo._cli_options import ObjectivesOption, gather_objectives, open_reader, require
from daytwo.slo._readers import StatusLine, percent, status_lines
from daytwo.slo._vocabulary import AlertStatus, Severity

if TYPE_CHECKING:
    from daytwo.slo import Alert, Objective, SloStatus, StuckInstance

__all__ = ["print_alerts", "print_status_lines", "print_statuses", "print_stuck", "slo_commands"]

slo_commands = typer.Typer(
    name="slo",
    help="Process SLOs: status, alerts, stuck instances, evaluation, export and import.",
    no_args_is_help=True,
)
slo_commands.add_typer(export_commands)
slo_commands.add_typer(import_commands)


def _burn(value: float | None) -> Text:
    if value is None:
        return Text("-", style="dim")
    style = "bold red" if value >= 6 else ("yellow" if value > 1 else "")
    return Text(f"{value:.1f}x", style=style)


#: ``daytwo slo status``: on a narrow terminal the window goes first, then the workflow,
#: then the longer burn rates (1h, the one that pages first, stays).
STATUS_COLUMNS = (
    Column("SLO"),
    Column("WORKFLOW", drop=3),
    Column("SLI"),
    Column("OBJECTIVE", wrap=True, min_width=10),
    Column("WINDOW", drop=1),
    Column("BUDGET LEFT"),
    Column("BURN 1h"),
    Column("BURN 6h", drop=4),
    Column("BURN 3d", drop=2),
    Column("ALERT", wrap=True, min_width=7),
)


def _report(lines: list[StatusLine], json_output: bool) -> None:
    if json_output:
        print_json([line.status.to_json() for line in lines])
    else:
        print_status_lines(lines)


def print_statuses(statuses: list[SloStatus], objectives: list[Objective]) -> None:
    """The SLO table of ``daytwo slo status`` for ``statuses`` of ``objectives`` (the demo)."""
    print_status_lines(status_lines(statuses, objectives))


def print_status_lines(lines: list[StatusLine]) -> None:
    """The SLO table of ``daytwo slo status``, from the database or a server.

    On a narrow terminal optional columns are left out (see :data:`STATUS_COLUMNS`) rather
    than squeezing columns to nothing; ``--json`` has everything.
    """
    rows: list[Row] = []
    for line in lines:
        status = line.status
        if status.sli is None:
            sli = Text("no data", style="dim")
        elif status.kind in ("retry_rate", "compensation_rate"):
            sli = Text(f"{status.sli:.3f}/instance")
        else:
            sli = Text(percent(status.sli, 3))
        left = Text(
            percent(status.budget_remaining, 1),
            style="bold red" if status.budget_remaining < 0 else "",
        )
        state = status.alert_state
        tone = "bold red" if "page" in state else ("yellow" if state != "ok" else "green")
        rows.append(
            {
                "SLO": status.name,
                "WORKFLOW": status.workflow + (f"@{status.version}" if status.version else ""),
                "SLI": sli,
                "OBJECTIVE": line.target,
                "WINDOW": status.window,
                "BUDGET LEFT": left,
                "BURN 1h": _burn(status.burn.get("1h")),
                "BURN 6h": _burn(status.burn.get("6h")),
                "BURN 3d": _burn(status.burn.get("3d")),
                "ALERT": Text(state, style=tone),
            }
        )
    print_table(STATUS_COLUMNS, rows, caption=f"{len(lines)} objective(s)")


@slo_commands.command("status")
def status(
    ctx: typer.Context,
    app_spec: AppOption = None,
    objectives_files: ObjectivesOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Per objective: SLI, objective, budget left, burn rates 1h/6h/3d and alert state."""
    reader = open_reader(ctx, database, app_spec, objectives_files, required=True)
    _report(reader.status(), json_output)


@slo_commands.command("evaluate")
def evaluate(
    ctx: typer.Context,
    app_spec: AppOption = None,
    objectives_files: ObjectivesOption = None,
    webhooks: Annotated[
        list[str] | None,
        typer.Option("--webhook", metavar="URL", help="POST alert changes here (repeatable)."),
    ] = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Evaluate once: record the SLIs, fire and resolve alerts, deliver them (log, webhooks)."""
    from daytwo import slo

    app = client_app(ctx, database, app_spec)
    objectives = gather_objectives(app, objectives_files)
    require(objectives)
    try:
        sinks: list[slo.AlertSink] = [slo.WebhookSink(url) for url in webhooks or []]
    except ValueError as exc:
        raise CliError(str(exc)) from None
    evaluator = slo.Evaluator.for_app(app, objectives, sinks=[slo.LogSink(), *sinks])
    _report(status_lines(evaluator.evaluate(), objectives), json_output)


@slo_commands.command("alerts")
def alerts(
    ctx: typer.Context,
    all_alerts: Annotated[
        bool,
        typer.Option("--all", metavar=FLAG, help="Resolved alerts too, not only firing ones."),
    ] = False,
    objective: Annotated[
        str | None,
        typer.Option("--objective", metavar="SLO", help="Only this objective's alerts."),
    ] = None,
    limit: LimitOption = 100,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Alerts raised by SLO evaluation, newest first (firing ones unless --all)."""
    reader = open_reader(ctx, database, app_spec, None)
    found = reader.alerts(resolved=all_alerts, objective=objective, limit=limit)
    if json_output:
        print_json([a.to_json() for a in found])
    else:
        print_alerts(found, resolved=all_alerts)


def print_alerts(found: list[Alert], *, resolved: bool) -> None:
    """The table of ``daytwo slo alerts`` (``resolved``: with the RESOLVED column)."""
    rows: list[Row] = [
        {
            "SEVERITY": Text(
                alert.severity, style="bold red" if alert.severity == Severity.PAGE else "yellow"
            ),
            "STATUS": Text(
                alert.status, style="red" if alert.status == AlertStatus.FIRING else "green"
            ),
            "KEY": alert.dedup_key,
            "FIRED": short_time(_time(alert.fired_at)),
            "RESOLVED": short_time(_time(alert.resolved_at)),
            "SUMMARY": alert.summary,
            "RUNBOOK": alert.runbook or "",
        }
        for alert in found
    ]
    columns = ALERT_COLUMNS if resolved else [c for c in ALERT_COLUMNS if c.header != "RESOLVED"]
    print_table(columns, rows, caption=f"{len(found)} alert(s)")


#: ``daytwo slo alerts``: the summary is what a person reads, so it keeps room to wrap
#: (words, not letters, per line); the runbook goes first on a narrow terminal, then the
#: status (``--all`` only), then the key.
ALERT_COLUMNS = (
    Column("SEVERITY"),
    Column("STATUS", drop=3),
    Column("KEY", drop=4),
    Column("FIRED"),
    Column("RESOLVED", drop=2),
    Column("SUMMARY", wrap=True, min_width=30),
    Column("RUNBOOK", wrap=True, drop=1),
)


@slo_commands.command("stuck")
def stuck(
    ctx: typer.Context,
    app_spec: AppOption = None,
    objectives_files: ObjectivesOption = None,
    workflow: Annotated[
        str | None,
        typer.Option("--workflow", metavar="WORKFLOW", help="Only this workflow's instances."),
    ] = None,
    limit: LimitOption = 100,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Stuck instances: state, time in it, threshold and why (longest stuck first)."""
    reader = open_reader(ctx, database, app_spec, objectives_files)
    found = reader.stuck(workflow=workflow, limit=limit)
    if json_output:
        print_json([s.to_json() for s in found])
    else:
        print_stuck(found)


def print_stuck(found: list[StuckInstance]) -> None:
    """The table of ``daytwo slo stuck``."""
    rows: list[Row] = [
        {
            "INSTANCE": item.instance_id,
            "WORKFLOW": f"{item.workflow} {item.version}",
            "STATE": item.state,
            "IN STATE": duration(item.time_in_state),
            "THRESHOLD": duration(item.threshold) if item.threshold is not None else "-",
            "REASON": item.reason,
        }
        for item in found
    ]
    print_table(STUCK_COLUMNS, rows, caption=f"{len(found)} stuck instance(s)")


#: ``daytwo slo stuck``: the workflow goes first on a narrow terminal, then the threshold
#: (the reason says it too).
STUCK_COLUMNS = (
    Column("INSTANCE"),
    Column("WORKFLOW", drop=1),
    Column("STATE", wrap=True),
    Column("IN STATE"),
    Column("THRESHOLD", drop=2),
    Column("REASON", wrap=True, min_width=20),
)


def _time(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)
