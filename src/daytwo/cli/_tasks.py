"""The human-task inbox: ``daytwo tasks list | complete | reassign``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.text import Text

from daytwo.cli._apps import client_app, database_option
from daytwo.cli._input import parse_json
from daytwo.cli._options import DatabaseOption, JsonOption
from daytwo.cli._output import (
    abbreviate,
    new_table,
    print_json,
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
    str, typer.Argument(metavar="TASK_ID", help="The task id (see `daytwo tasks list`).")
]
By = Annotated[str | None, typer.Option("--by", help="Who does it (recorded).")]


@tasks.command("list")
def list_tasks(
    ctx: typer.Context,
    assignee: Annotated[
        str | None, typer.Option("--assignee", help="Only tasks assigned to this person or role.")
    ] = None,
    all_tasks: Annotated[
        bool, typer.Option("--all", help="Completed tasks too, not only open ones.")
    ] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 100,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """List open human tasks, oldest first."""
    app = client_app(database_option(ctx, database))
    found = app.tasks.list(status=None if all_tasks else "open", assignee=assignee, limit=limit)
    if json_output:
        print_json([task.to_dict() for task in found])
        return
    table = new_table(
        None,
        *("TASK ID", "NAME", "INSTANCE", "ASSIGNEE", "STATUS", "DUE", "PAYLOAD"),
        keep=("TASK ID", "STATUS", "DUE"),
    )
    now = datetime.now(UTC)
    for task in found:
        overdue = task.status == "open" and task.due_at is not None and task.due_at < now
        due = short_time(task.due_at)
        table.add_row(
            task.id,
            task.name,
            task.instance_id,
            task.assignee or "",
            status_text(task.status),
            Text(f"{due} overdue", style="red") if overdue else due,
            abbreviate(task.payload, 40),
        )
    table.caption = f"{len(found)} task(s)"
    stdout_console().print(table)


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
    by: By = None,
    database: DatabaseOption = None,
) -> None:
    """Complete an open task; its instance resumes with RESULT_JSON."""
    result = parse_json(result_json, "RESULT_JSON")
    app = client_app(database_option(ctx, database))
    app.tasks.complete(task_id, result, by=by)
    stdout_console().print(f"task {task_id} completed")


@tasks.command("reassign")
def reassign(
    ctx: typer.Context,
    task_id: TaskId,
    assignee: Annotated[str, typer.Argument(help="The new assignee (a person or role:NAME).")],
    by: By = None,
    database: DatabaseOption = None,
) -> None:
    """Give an open task to someone else."""
    app = client_app(database_option(ctx, database))
    app.tasks.reassign(task_id, assignee, by=by)
    stdout_console().print(f"task {task_id} reassigned to {assignee}")
