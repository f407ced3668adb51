"""Durable schedules: ``daytwo schedules list | show | pause | resume | trigger``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from daytwo import ScheduleView
from daytwo.cli._apps import open_client
from daytwo.cli._options import (
    AppOption,
    ByOption,
    DatabaseOption,
    JsonOption,
    ReasonOption,
)
from daytwo.cli._output import Column, Row, print_json, print_table, stdout_console

__all__ = [
    "list_schedules",
    "pause_schedule",
    "resume_schedule",
    "show_schedule",
    "trigger_schedule",
]

NameArgument = Annotated[
    str, typer.Argument(metavar="NAME", help="As in @app.schedule(name=); default the workflow.")
]

SCHEDULE_COLUMNS = (
    Column("SCHEDULE"),
    Column("WHEN", wrap=True),
    Column("NEXT RUN"),
    Column("NEXT RUN (UTC)", drop=2),
    Column("LAST RUN", drop=1),
    Column("LAST STATUS"),
    Column("STATE", wrap=True),
    Column("WORKFLOW", drop=3),
)
TICK_COLUMNS = (
    Column("TICK (UTC)"),
    Column("OUTCOME"),
    Column("COUNT"),
    Column("INSTANCE", wrap=True),
    Column("DETAIL", wrap=True, drop=1),
)


def _local(moment: float | None, view: ScheduleView) -> str:
    if moment is None:
        return ""
    return datetime.fromtimestamp(moment, view.cadence.zone).strftime("%Y-%m-%d %H:%M %Z")


def _utc(moment: float | None) -> str:
    if moment is None:
        return ""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _state(view: ScheduleView) -> str:
    if view.orphaned:
        return "orphaned (no longer declared in code)"
    if view.paused:
        return f"paused by {view.paused_by or 'unknown'}: {view.paused_reason or 'no reason'}"
    return "active"


def _row(view: ScheduleView) -> Row:
    return {
        "SCHEDULE": view.name,
        "WORKFLOW": f"{view.workflow} {view.version}",
        "WHEN": view.cadence.describe(),
        "NEXT RUN": "" if view.orphaned or view.paused else _local(view.next_run_at, view),
        "NEXT RUN (UTC)": "" if view.orphaned or view.paused else _utc(view.next_run_at),
        "LAST RUN": _local(view.last_tick_at, view),
        "LAST STATUS": view.last_status or "",
        "STATE": _state(view),
    }


def list_schedules(
    ctx: typer.Context,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """List the schedules: cadence and policies, next run (in the schedule's time zone and
    UTC), last run and its instance's status, paused or orphaned."""
    views = open_client(ctx, database, app_spec).schedules.list()
    if json_output:
        print_json([view.to_dict() for view in views])
        return
    print_table(
        SCHEDULE_COLUMNS, [_row(view) for view in views], caption=f"{len(views)} schedule(s)"
    )


def show_schedule(
    ctx: typer.Context,
    name: NameArgument,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Show one schedule and its recent ticks (started, skipped, missed, triggered)."""
    view = open_client(ctx, database, app_spec).schedules.get(name)
    if json_output:
        print_json(view.to_dict())
        return
    print_table(SCHEDULE_COLUMNS, [_row(view)])
    stdout_console().print(
        f"workflow {view.workflow} {view.version}, queue {view.queue}; catch-up "
        f"{view.catch_up} (at most {view.max_catch_up}), overlap {view.overlap}"
    )
    ticks = [
        {
            "TICK (UTC)": _utc(tick.tick_at),
            "OUTCOME": str(tick.outcome),
            "COUNT": str(tick.count),
            "INSTANCE": tick.instance_id or "",
            "DETAIL": tick.detail or "",
        }
        for tick in view.ticks
    ]
    print_table(TICK_COLUMNS, ticks, caption=f"{len(ticks)} recent tick(s)")


def _print(view: ScheduleView, json_output: bool, said: str) -> None:
    if json_output:
        print_json(view.to_dict())
        return
    stdout_console().print(f"schedule {view.name}: {said}")


def pause_schedule(
    ctx: typer.Context,
    name: NameArgument,
    reason: ReasonOption = None,
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Pause NAME: its ticks start nothing until it is resumed (instances running go on)."""
    view = open_client(ctx, database, app_spec).schedules.pause(name, reason=reason, by=by)
    _print(view, json_output, "paused")


def resume_schedule(
    ctx: typer.Context,
    name: NameArgument,
    reason: ReasonOption = None,
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Resume NAME from its first tick after now (the ticks of the pause are not caught up)."""
    view = open_client(ctx, database, app_spec).schedules.resume(name, reason=reason, by=by)
    _print(view, json_output, f"resumed; next run {_local(view.next_run_at, view)}")


def trigger_schedule(
    ctx: typer.Context,
    name: NameArgument,
    key: Annotated[
        str | None,
        typer.Option("--key", metavar="KEY", help="Idempotency key: the same key starts once."),
    ] = None,
    reason: ReasonOption = None,
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Start one instance of NAME now, outside its cadence (paused or not)."""
    handle = open_client(ctx, database, app_spec).schedules.trigger(
        name, reason=reason, by=by, key=key
    )
    if json_output:
        print_json({"schedule": name, "instance_id": handle.id, "created": handle.created})
        return
    said = "started" if handle.created else "already started (same --key)"
    stdout_console().print(f"schedule {name}: {said} instance {handle.id}")
