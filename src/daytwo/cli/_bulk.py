"""``daytwo bulk ACTION [selection] --dry-run|--yes``, ``daytwo bulk list``, ``daytwo bulk show``.

One subcommand per bulk action (``daytwo._bulk.ACTIONS``: a new action gets its command
here by itself), all with the same selection options. ``--dry-run`` is the default and
prints the count and the first ids; ``--yes`` starts the job and follows it with a
progress bar (Ctrl-C stops following, never the job).
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import daytwo
from daytwo._bulk import ACTIONS, BulkJob, BulkPreview, BulkProgress
from daytwo._moments import MOMENT_HELP, parse_moment
from daytwo.cli._apps import open_client
from daytwo.cli._errors import CliError, Group
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
from daytwo.cli._output import Column, Row, print_json, print_table, short_time, stdout_console

__all__ = ["bulk"]

#: The verbs of the group that are not actions.
_VERBS = ("list", "show")


def _action_names() -> list[str]:
    return [action.value.removeprefix("instance.") for action in ACTIONS]


class BulkGroup(Group):
    """``daytwo bulk``: an unknown action is a one-line error naming the known ones."""

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is None:
            raise CliError(
                f"unknown bulk action {cmd_name!r}; use one of {', '.join(_action_names())} "
                f"(or {', '.join(_VERBS)} to see jobs)"
            )
        return command


bulk = typer.Typer(
    name="bulk",
    cls=BulkGroup,
    no_args_is_help=True,
    help="Act on many instances at once, selected by a query: "
    + ", ".join(_action_names())
    + " (a dry run unless --yes); list and show the jobs.",
)


def _moment(text: str | None, option: str) -> float | None:
    if text is None:
        return None
    try:
        return parse_moment(text, time.time(), option)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def _when(option: str, what: str) -> Any:
    forms = MOMENT_HELP if option == "--started-before" else "as for --started-before"
    return typer.Option(option, metavar="WHEN", help=f"{what}: {forms}.")


def _act(action: str) -> Any:
    def command(
        ctx: typer.Context,
        workflow: Annotated[
            str | None, typer.Option("--workflow", metavar="WORKFLOW", help="Of this workflow.")
        ] = None,
        version: Annotated[
            str | None, typer.Option("--version", metavar="VERSION", help="Of this version.")
        ] = None,
        statuses: Annotated[
            list[str] | None,
            typer.Option("--status", metavar="STATUS", help="In this status (repeatable)."),
        ] = None,
        state: Annotated[
            str | None, typer.Option("--state", metavar="STATE", help="In this state label.")
        ] = None,
        step: Annotated[
            str | None,
            typer.Option(
                "--step",
                metavar="STEP",
                help="At this step (running, retrying, parked or paused there).",
            ),
        ] = None,
        dependency: Annotated[
            str | None,
            typer.Option(
                "--dependency", metavar="NAME", help="At a step that calls this dependency."
            ),
        ] = None,
        started_before: Annotated[str | None, _when("--started-before", "Started before")] = None,
        started_after: Annotated[str | None, _when("--started-after", "Started at or after")] = (
            None
        ),
        entered_before: Annotated[
            str | None, _when("--entered-before", "Entered their state before")
        ] = None,
        entered_after: Annotated[
            str | None, _when("--entered-after", "Entered their state at or after")
        ] = None,
        error: Annotated[
            str | None,
            typer.Option(
                "--error",
                metavar="TEXT",
                help="Whose error (or pending step's last error) contains TEXT.",
            ),
        ] = None,
        every: Annotated[
            bool, typer.Option("--all", metavar=FLAG, help="Select every instance (no filter).")
        ] = False,
        result: Annotated[
            str | None,
            typer.Option("--result", metavar="JSON", help="The step's result (skip only)."),
        ] = None,
        to_version: Annotated[
            str | None,
            typer.Option(
                "--to-version",
                metavar="VERSION",
                help="The version to restart on (restart only; default: newest).",
            ),
        ] = None,
        rate: Annotated[
            float | None,
            typer.Option("--rate", metavar="N", help="Instances per second (default 50)."),
        ] = None,
        batch_size: Annotated[
            int | None,
            typer.Option(
                "--batch-size",
                metavar="N",
                help="Instances per batch (default: the rate, at most 500).",
            ),
        ] = None,
        yes: Annotated[
            bool,
            typer.Option(
                "--yes/--dry-run",
                metavar=FLAG,
                help="Act (--yes), or only show what would be acted on (the default).",
            ),
        ] = False,
        reason: ReasonOption = None,
        by: ByOption = None,
        app_spec: AppOption = None,
        json_output: JsonOption = False,
        database: DatabaseOption = None,
    ) -> None:
        params: dict[str, Any] = {}
        if result is not None:
            params["result"] = parse_json(result, "--result")
        if to_version is not None:
            params["version"] = to_version
        selection = daytwo.Selection(
            workflow=workflow,
            version=version,
            status=tuple(statuses) if statuses else None,
            state=state,
            step=step,
            dependency=dependency,
            started_before=_moment(started_before, "--started-before"),
            started_after=_moment(started_after, "--started-after"),
            entered_before=_moment(entered_before, "--entered-before"),
            entered_after=_moment(entered_after, "--entered-after"),
            error=error,
            all=every,
        )
        client = open_client(ctx, database, app_spec)
        outcome = client.bulk(action, selection, params or None, dry_run=not yes, rate=rate,
                              batch_size=batch_size, reason=reason, by=operator(by))  # fmt: skip
        if isinstance(outcome, BulkPreview):
            _print_preview(outcome, json_output)
        elif json_output:
            print_json(outcome.progress().to_dict())
        else:
            _follow(outcome)

    command.__doc__ = (
        f"{action.capitalize()} every instance the selection holds (a dry run unless --yes)."
    )
    return command


for _name in _action_names():
    bulk.command(_name)(_act(_name))


def _print_preview(preview: BulkPreview, json_output: bool) -> None:
    if json_output:
        print_json(preview.to_dict())
        return
    verb = preview.action.value.removeprefix("instance.")
    shown = ", ".join(preview.first_ids)
    more = ", ..." if preview.count > len(preview.first_ids) else ""
    listing = f": {shown}{more}" if preview.first_ids else ""
    stdout_console().print(
        f"would {verb} {preview.count} instance(s){listing}\n"
        "dry run: nothing changed; add --yes to act"
    )


def _follow(job: BulkJob) -> None:
    console = stdout_console()
    progress = job.progress()
    console.print(f"bulk job {job.id} started: {progress.selected} instance(s) to "
                  f"{progress.action.removeprefix('instance.')}")  # fmt: skip
    columns = (
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[counts]}"), TimeElapsedColumn(),
    )  # fmt: skip
    try:
        with Progress(*columns, console=console, transient=False) as bar:
            task = bar.add_task(job.id, total=progress.selected, counts="")
            while True:
                bar.update(task, completed=_acted(progress), counts=_counts(progress))
                if progress.finished:
                    break
                time.sleep(0.5)
                progress = job.progress()
    except KeyboardInterrupt:
        console.print(f"stopped following; the job goes on: daytwo bulk show {job.id}")
        return
    console.print(f"bulk job {job.id} {progress.status}: {_counts(progress)}")


def _acted(progress: BulkProgress) -> int:
    return progress.done + progress.refused + progress.failed


def _counts(progress: BulkProgress) -> str:
    return (
        f"{progress.done} done, {progress.refused} refused, {progress.failed} failed, "
        f"{progress.pending} pending"
    )


JOB_COLUMNS = (
    Column("JOB"),
    Column("ACTION"),
    Column("STATUS"),
    Column("PROGRESS", wrap=True),
    Column("STARTED", drop=3),
    Column("WHO", drop=2),
    Column("REASON", wrap=True, drop=1),
)


@bulk.command("list")
def list_jobs(
    ctx: typer.Context,
    limit: LimitOption = 50,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """List bulk jobs, newest first, with their progress."""
    client = open_client(ctx, database, app_spec)
    jobs = client.bulk_jobs(limit)
    if json_output:
        print_json([job.to_dict() for job in jobs])
        return
    rows: list[Row] = [
        {
            "JOB": job.id,
            "ACTION": job.action.removeprefix("instance."),
            "STATUS": str(job.status),
            "PROGRESS": f"{_acted(job)}/{job.selected} ({job.refused} refused, "
            f"{job.failed} failed)",
            "STARTED": short_time(job.created_at),
            "WHO": job.actor,
            "REASON": job.reason or "",
        }
        for job in jobs
    ]
    print_table(JOB_COLUMNS, rows, caption=f"{len(jobs)} job(s)")


@bulk.command("show")
def show_job(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(metavar="JOB", help="The bulk job's id.")],
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Show one bulk job: its selection, its progress, and the instances it refused or
    failed on."""
    client = open_client(ctx, database, app_spec)
    job = client.bulk_job(job_id)
    problems = [
        item
        for outcome in ("refused", "failed")
        for item in client.bulk_items(job_id, outcome, limit=20)
    ]
    if json_output:
        print_json({**job.to_dict(), "problems": problems})
        return
    console = stdout_console()
    console.print(f"[bold]{job.id}[/bold]  {job.action}  {job.status}")
    console.print(f"selection: {job.selection}  params: {job.params or {}}")
    console.print(f"by {job.actor} at {short_time(job.created_at)}; reason: {job.reason or '-'}")
    console.print(f"rate {job.rate:g}/s in batches of {job.batch_size}")
    console.print(f"{job.selected} selected: {_counts(job)}")
    for item in problems:
        console.print(f"  {item['instance_id']}: {item['outcome']}: {item['detail'] or ''}")
