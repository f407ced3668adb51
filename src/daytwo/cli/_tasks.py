"""The human-task inbox: ``daytwo task list | complete | reassign`` (older spelling:
``daytwo tasks``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.text import Text

from daytwo import TaskStatus
from daytwo.cli._apps import open_client
from daytwo.cli._input import parse_json
from daytwo.cli._options import (
    FLAG,
    AppOption,
    ByOption,
    DatabaseOption,
    JsonOption,
    LimitOption,
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
)

__all__ = ["tasks"]

tasks = typer.Typer(
    name="tasks",
    help="The human-task inbox: list, complete and reassign tasks.",
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
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Complete an open task; its instance resumes with RESULT_JSON."""
    result = parse_json(result_json, "RESULT_JSON")
    client = open_client(ctx, database, app_spec, lookup=f"human task with id {task_id!r}")
    client.tasks.complete(task_id, result, by=operator(by))
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
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Give an open task to someone else."""
    client = open_client(ctx, database, app_spec, lookup=f"human task with id {task_id!r}")
    client.tasks.reassign(task_id, assignee, by=operator(by))
    if json_output:
        print_json(client.tasks.get(task_id).to_dict())
        return
    stdout_console().print(f"task {task_id} reassigned to {assignee}")
