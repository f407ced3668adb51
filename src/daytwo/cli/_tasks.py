"""The human-task inbox: ``daytwo task list | show | complete | reassign | cancel`` (older
spelling: ``daytwo tasks``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from daytwo import HumanTask, TaskStatus
from daytwo.cli._apps import open_client
from daytwo.cli._input import parse_json
from daytwo.cli._options import (
    FLAG,
    AppOption,
    ByOption,
    DatabaseOption,
    JsonOption,
    LimitOption,
    ReasonOption,
    operator,
)
from daytwo.cli._output import (
    Column,
    Row,
    abbreviate,
    print_json,
    print_table,
    short_time,
    status_text,
    stdout_console,
    timestamp,
)

__all__ = ["tasks"]

tasks = typer.Typer(
    name="tasks",
    help="The human-task inbox: list, show, complete, reassign and cancel tasks.",
    no_args_is_help=True,
)

TaskId = Annotated[
    str, typer.Argument(metavar="TASK_ID", help="The task id (see `daytwo task list`).")
]
#: ``daytwo tasks list``: on a narrow terminal the payload goes first, then the instance.
TASK_COLUMNS = (
    Column("TASK ID"),
    Column("NAME"),
    Column("INSTANCE", drop=2),
    Column("ASSIGNEE"),
    Column("STATUS"),
    Column("DUE", wrap=True, min_width=9),
    Column("NEXT", wrap=True, drop=3),
    Column("PAYLOAD", wrap=True, drop=1),
)


@tasks.command("list")
def list_tasks(
    ctx: typer.Context,
    assignee: Annotated[
        str | None,
        typer.Option(
            "--assignee", metavar="WHO", help="Only tasks assigned to this person or role."
        ),
    ] = None,
    all_tasks: Annotated[
        bool, typer.Option("--all", metavar=FLAG, help="Completed tasks too, not only open ones.")
    ] = False,
    limit: LimitOption = 100,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """List open human tasks, oldest first."""
    client = open_client(ctx, database, app_spec)
    found = client.tasks.list(
        status=None if all_tasks else TaskStatus.OPEN, assignee=assignee, limit=limit
    )
    if json_output:
        print_json([task.to_dict() for task in found])
        return
    now = datetime.now(UTC)
    rows: list[Row] = []
    for task in found:
        overdue = task.status is TaskStatus.OPEN and task.due_at is not None and task.due_at < now
        due = short_time(task.due_at)
        rows.append(
            {
                "TASK ID": task.id,
                "NAME": task.name,
                "INSTANCE": task.instance_id,
                "ASSIGNEE": task.assignee or "",
                "STATUS": status_text(task.status),
                "DUE": Text(f"{due} overdue", style="red") if overdue else due,
                "NEXT": next_action(task),
                "PAYLOAD": abbreviate(task.payload, 40),
            }
        )
    print_table(TASK_COLUMNS, rows, caption=f"{len(found)} task(s)")


@tasks.command("complete")
def complete(
    ctx: typer.Context,
    task_id: TaskId,
    result_json: Annotated[
        str | None,
        typer.Argument(
            metavar="RESULT_JSON", help="""The decision as JSON, e.g. '{"approved": true}'."""
        ),
    ] = None,
    reason: ReasonOption = None,
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Complete an open task; its instance resumes with RESULT_JSON."""
    result = parse_json(result_json, "RESULT_JSON")
    client = open_client(ctx, database, app_spec, lookup=f"human task with id {task_id!r}")
    client.tasks.complete(task_id, result, reason=reason, by=operator(by))
    if json_output:
        print_json(client.tasks.get(task_id).to_dict())
        return
    stdout_console().print(f"task {task_id} completed")


@tasks.command("reassign")
def reassign(
    ctx: typer.Context,
    task_id: TaskId,
    assignee: Annotated[
        str, typer.Argument(metavar="WHO", help="The new assignee (a person or role:NAME).")
    ],
    reason: ReasonOption = None,
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Give an open task to someone else (its escalation chain goes on as planned)."""
    client = open_client(ctx, database, app_spec, lookup=f"human task with id {task_id!r}")
    client.tasks.reassign(task_id, assignee, reason=reason, by=operator(by))
    if json_output:
        print_json(client.tasks.get(task_id).to_dict())
        return
    stdout_console().print(f"task {task_id} reassigned to {assignee}")


@tasks.command("cancel")
def cancel_task(
    ctx: typer.Context,
    task_id: TaskId,
    reason: ReasonOption = None,
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Cancel an open task; the workflow gets daytwo.TaskCancelled (it handles it, or the
    instance fails and compensates)."""
    client = open_client(ctx, database, app_spec, lookup=f"human task with id {task_id!r}")
    client.tasks.cancel(task_id, reason=reason, by=operator(by))
    if json_output:
        print_json(client.tasks.get(task_id).to_dict())
        return
    stdout_console().print(f"task {task_id} cancelled")


@tasks.command("show")
def show_task(
    ctx: typer.Context,
    task_id: TaskId,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Show one task: its assignee, due time, plan (reminders, escalations, timeout) and
    what happened to it."""
    client = open_client(ctx, database, app_spec, lookup=f"human task with id {task_id!r}")
    task = client.tasks.get(task_id)
    events = client.tasks.events(task_id)
    if json_output:
        print_json({**task.to_dict(), "events": [event.to_dict() for event in events]})
        return
    out = stdout_console()
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    rows: list[tuple[str, Any]] = [
        ("id", task.id),
        ("name", task.name),
        ("instance", task.instance_id),
        ("assignee", task.assignee or "(nobody)"),
        ("status", status_text(task.status)),
        ("created", timestamp(task.created_at)),
        ("due", timestamp(task.due_at) or None),
        ("timeout", timestamp(task.timeout_at) or None),
        ("next", next_action(task) or None),
        ("closed", timestamp(task.completed_at) or None),
        ("by", task.completed_by),
        ("reason", task.closed_reason),
        ("payload", abbreviate(task.payload, 2000)),
        ("result", abbreviate(task.result, 2000) if task.result is not None else None),
    ]
    for label, value in rows:
        if value is not None:
            grid.add_row(label, value)
    out.print(grid)
    if task.steps:
        pending = "" if task.status is TaskStatus.OPEN else "never"
        plan = [
            {
                "AT": timestamp(step.at),
                "STEP": str(step.kind),
                "DETAIL": step.label,
                "TAKEN": "yes" if step.done else pending,
            }
            for step in task.steps
        ]
        print_table(PLAN_COLUMNS, plan, title="plan")
    history = [
        {
            "AT": timestamp(event.at),
            "EVENT": str(event.kind),
            "BY": event.actor or "",
            "ASSIGNEE": _assignees(event.from_assignee, event.to_assignee),
            "DETAIL": event.detail or "",
        }
        for event in events
    ]
    print_table(EVENT_COLUMNS, history, title="events")


PLAN_COLUMNS = (Column("AT"), Column("STEP"), Column("DETAIL", wrap=True), Column("TAKEN"))
EVENT_COLUMNS = (
    Column("AT"),
    Column("EVENT"),
    Column("BY"),
    Column("ASSIGNEE", wrap=True),
    Column("DETAIL", wrap=True, drop=1),
)


def next_action(task: HumanTask) -> str:
    """The next thing the plan does to an open task: its next step, else its timeout."""
    if task.status is not TaskStatus.OPEN:
        return ""
    step = task.next_step
    if step is not None:
        what = f"escalate to {step.assignee}" if step.assignee else "remind"
        return f"{what} {short_time(step.at)}"
    if task.timeout_at is not None:
        return f"timeout {short_time(task.timeout_at)}"
    return ""


def _assignees(before: str | None, after: str | None) -> str:
    if before and after:
        return f"{before} -> {after}"
    return after or before or ""
