"""Flow control from the command line: queues, pauses and dependency limits.

``daytwo queue list | set``, ``daytwo workflow pause | resume`` (``workflow list`` shows
the pauses) and ``daytwo dependency list | set``, and their older spellings ``daytwo
queues``, ``pause``, ``resume``, ``pauses`` and ``dependencies``. Settings live in the
database, so every worker follows a change within a second. Names that nothing has (a
typo) are refused with the known ones unless ``--force`` (the check is ``FlowControl``'s,
the same as in Python).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from daytwo.cli._apps import open_client
from daytwo.cli._options import (
    FLAG,
    AppOption,
    ByOption,
    DatabaseOption,
    JsonOption,
    ReasonOption,
    operator,
)
from daytwo.cli._output import Column, duration, print_json, print_table, stdout_console

__all__ = ["dependencies", "pause", "pauses", "queues", "resume"]

queues = typer.Typer(
    name="queues",
    help="Queues: backlog, running instances and limits; change the limits.",
    no_args_is_help=True,
)
dependencies = typer.Typer(
    name="dependencies",
    help="Cluster-wide concurrency limits on calls to external dependencies.",
    no_args_is_help=True,
)

Workflow = Annotated[str, typer.Argument(metavar="WORKFLOW", help="The workflow's name.")]
StepOption = Annotated[
    str | None,
    typer.Option(
        "--step", metavar="STEP", help="Pause just this step: instances reaching it wait there."
    ),
]
Unlimited = "no limit"
ForceOption = Annotated[
    bool,
    typer.Option(
        "--force",
        metavar=FLAG,
        help="Accept a name that no worker registration, instance, setting or --app knows "
        "(e.g. before the workers that have it start).",
    ),
]


def _limit(value: int | float | None) -> str:
    return Unlimited if value is None else f"{value:g}"


QUEUE_COLUMNS = (
    Column("QUEUE"),
    Column("RUNNABLE"),
    Column("RUNNING"),
    Column("OLDEST WAIT"),
    Column("CONCURRENCY"),
    Column("PER WORKER", drop=1),
    Column("RATE", wrap=True, min_width=8),
)


@queues.command("list")
def list_queues(
    ctx: typer.Context,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Every queue with work or limits: runnable backlog, running, oldest wait, limits."""
    client = open_client(ctx, database, app_spec)
    rows = client.flow.queue_status()
    if json_output:
        print_json(rows)
        return
    cells = [
        {
            "QUEUE": row["name"],
            "RUNNABLE": str(row["runnable"]),
            "RUNNING": str(row["running"]),
            "OLDEST WAIT": duration(row["oldest_runnable_seconds"]),
            "CONCURRENCY": _limit(row["concurrency"]),
            "PER WORKER": _limit(row["worker_concurrency"]),
            "RATE": f"{row['rate_limit']} per {duration(row['rate_period'])}"
            if row["rate_limit"] is not None
            else Unlimited,
        }
        for row in rows
    ]
    print_table(QUEUE_COLUMNS, cells, caption=f"{len(rows)} queue(s)")


@queues.command("set")
def set_queue(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="QUEUE", help="The queue's name.")],
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            min=1,
            metavar="N",
            help="At most this many running, cluster-wide.",
        ),
    ] = None,
    worker_concurrency: Annotated[
        int | None,
        typer.Option(
            "--worker-concurrency",
            min=1,
            metavar="N",
            help="At most this many per worker process.",
        ),
    ] = None,
    rate: Annotated[
        int | None,
        typer.Option("--rate", min=1, metavar="N", help="At most this many starts per --per."),
    ] = None,
    per: Annotated[
        float | None,
        typer.Option("--per", min=0.001, metavar="SECONDS", help="The rate limit's period."),
    ] = None,
    force: ForceOption = False,
    reason: ReasonOption = None,
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Set a queue's limits (an option left out means no such limit)."""
    client = open_client(ctx, database, app_spec)
    settings = client.flow.set_queue(
        name,
        concurrency=concurrency,
        worker_concurrency=worker_concurrency,
        rate_limit=rate,
        rate_period=per,
        force=force,
        reason=reason,
        by=operator(by),
    )
    if json_output:
        print_json(settings.to_dict())
        return
    stdout_console().print(
        f"queue {name}: concurrency {_limit(settings.concurrency)}, per worker "
        f"{_limit(settings.worker_concurrency)}, rate "
        + (f"{rate} per {per:g} s" if rate is not None and per is not None else Unlimited)
    )


def pause(
    ctx: typer.Context,
    workflow: Workflow,
    step: StepOption = None,
    reason: Annotated[
        str | None,
        typer.Option("--reason", metavar="TEXT", help="Why (shown to others, and audited)."),
    ] = None,
    by: ByOption = None,
    force: ForceOption = False,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Stop starting new instances of WORKFLOW (running ones go on), or pause one --step.

    New starts stop at once (claims read the pauses); a paused step holds instances that
    reach it within a second (workers' settings snapshot).
    """
    client = open_client(ctx, database, app_spec)
    client.flow.pause(workflow, step, reason=reason, by=operator(by), force=force)
    if json_output:
        print_json(_pause_of(client.flow.list_pauses(), workflow, step))
        return
    what = f"step {step} of {workflow}" if step else f"new starts of {workflow}"
    undo = f"daytwo workflow resume {workflow}" + (f" --step {step}" if step else "")
    stdout_console().print(f"paused {what}; undo with `{undo}`")


def resume(
    ctx: typer.Context,
    workflow: Workflow,
    step: StepOption = None,
    reason: ReasonOption = None,
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Lift a pause; instances held at a paused step continue."""
    client = open_client(ctx, database, app_spec)
    released = client.flow.resume(workflow, step, reason=reason, by=operator(by))
    if json_output:
        print_json({"workflow": workflow, "step": step, "released": released if step else None})
        return
    what = f"step {step} of {workflow}" if step else f"new starts of {workflow}"
    stdout_console().print(
        f"resumed {what}" + (f"; {released} instance(s) continue" if step else "")
    )


def _pause_of(rows: list[dict[str, Any]], workflow: str, step: str | None) -> dict[str, Any]:
    """The stored pause of ``workflow`` (at ``step``), as ``pauses --json`` shows it."""
    return next(r for r in rows if r["workflow"] == workflow and (r["step"] or None) == step)


PAUSE_COLUMNS = (
    Column("WORKFLOW"),
    Column("STEP"),
    Column("HELD"),
    Column("REASON", wrap=True),
    Column("BY", drop=1),
)


def pauses(
    ctx: typer.Context,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Pauses in force and how many instances each one holds."""
    client = open_client(ctx, database, app_spec)
    rows = client.flow.list_pauses()
    if json_output:
        print_json(rows)
        return
    cells = [
        {
            "WORKFLOW": row["workflow"],
            "STEP": row["step"] or "(new starts)",
            "HELD": str(row["held"]),
            "REASON": row["reason"] or "",
            "BY": row["paused_by"] or "",
        }
        for row in rows
    ]
    print_table(PAUSE_COLUMNS, cells, caption=f"{len(rows)} pause(s)")


DEPENDENCY_COLUMNS = (Column("DEPENDENCY"), Column("CONCURRENCY"), Column("IN FLIGHT"))


@dependencies.command("list")
def list_dependencies(
    ctx: typer.Context,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Limited dependencies: limit and calls in flight now."""
    client = open_client(ctx, database, app_spec)
    rows = client.flow.dependency_status()
    if json_output:
        print_json(rows)
        return
    cells = [
        {
            "DEPENDENCY": row["name"],
            "CONCURRENCY": str(row["concurrency"]),
            "IN FLIGHT": str(row["in_flight"]),
        }
        for row in rows
    ]
    caption = f"{len(rows)} limited dependenc{'y' if len(rows) == 1 else 'ies'}"
    print_table(DEPENDENCY_COLUMNS, cells, caption=caption)


@dependencies.command("set")
def set_dependency(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(metavar="DEPENDENCY", help="As in @app.step(dependency=).")
    ],
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            min=1,
            metavar="N",
            help="At most this many calls at once, cluster-wide.",
        ),
    ] = None,
    unlimited: Annotated[
        bool, typer.Option("--unlimited", metavar=FLAG, help="Remove the limit.")
    ] = False,
    force: ForceOption = False,
    reason: ReasonOption = None,
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Limit concurrent calls to DEPENDENCY across all workers (or remove the limit)."""
    if (concurrency is None) == (not unlimited):
        raise typer.BadParameter("give either --concurrency N or --unlimited")
    client = open_client(ctx, database, app_spec)
    client.flow.set_dependency_limit(
        name,
        None if unlimited else concurrency,
        force=force,
        reason=reason,
        by=operator(by),
    )
    if json_output:
        print_json({"name": name, "concurrency": None if unlimited else concurrency})
        return
    stdout_console().print(
        f"dependency {name}: " + ("no limit" if unlimited else f"at most {concurrency} at once")
    )
