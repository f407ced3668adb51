"""``daytwo purge``: delete ended instances before a moment (a dry run unless --yes)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from daytwo import PurgeReport
from daytwo._moments import MOMENT_HELP
from daytwo.cli._apps import open_client
from daytwo.cli._errors import CliError
from daytwo.cli._options import (
    FLAG,
    AppOption,
    ByOption,
    DatabaseOption,
    JsonOption,
    ReasonOption,
    operator,
)
from daytwo.cli._output import (
    Column,
    print_json,
    print_table,
    short_time,
    stderr_console,
    stdout_console,
)
from daytwo.store import DEFAULT_BATCH, PurgeRun

__all__ = ["purge"]

PURGE_COLUMNS = (Column("WORKFLOW"), Column("ENDED"), Column("OLDEST"), Column("NEWEST"))


def purge(
    ctx: typer.Context,
    before: Annotated[
        str,
        typer.Option(
            "--before", metavar="WHEN", help=f"Instances that ended before this: {MOMENT_HELP}."
        ),
    ],
    workflow: Annotated[
        str | None, typer.Option("--workflow", metavar="NAME", help="Only this workflow.")
    ] = None,
    archive: Annotated[
        Path | None,
        typer.Option(
            "--archive",
            metavar="DIR",
            help="Write each batch to a gzip JSON Lines file in DIR before deleting it.",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", metavar=FLAG, help="Only count what would go (the default)."),
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", metavar=FLAG, help="Delete them, in batches.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", metavar=FLAG, help="Accept a workflow name nothing knows."),
    ] = False,
    batch: Annotated[
        int, typer.Option("--batch", min=1, metavar="N", help="Instances per transaction.")
    ] = DEFAULT_BATCH,
    reason: ReasonOption = None,
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Delete ended instances (with their history, attempts, transitions, signals and
    tasks) that finished before --before; active instances are never touched. Without
    --yes it only counts them."""
    if dry_run and yes:
        raise CliError("give --dry-run or --yes, not both")
    client = open_client(ctx, database, app_spec)
    total = 0

    def progress(run: PurgeRun) -> None:
        stderr_console().print(f"purged {run.deleted} of {total} ...", highlight=False)

    report = client.purge(
        before, workflow=workflow, force=force, dry_run=True, reason=reason, by=operator(by)
    )
    total = report.count
    if yes:  # also when nothing matched: the attempt is audited
        report = client.purge(
            before, workflow=workflow, archive_dir=archive, dry_run=False, force=force,
            batch=batch, reason=reason, by=operator(by),
            progress=None if json_output else progress,
        )  # fmt: skip
    if json_output:
        print_json(report.to_dict())
        return
    _print(report, yes)


def _print(report: PurgeReport, yes: bool) -> None:
    before = short_time(report.before)
    scope = f"workflow {report.workflow}" if report.workflow else "all workflows"
    if not report.count:
        stdout_console().print(f"no instance of {scope} ended before {before}; nothing to purge")
        return
    rows = [
        {
            "WORKFLOW": w.workflow,
            "ENDED": str(w.count),
            "OLDEST": short_time(w.oldest),
            "NEWEST": short_time(w.newest),
        }
        for w in report.selected
    ]
    print_table(PURGE_COLUMNS, rows, caption=f"{report.count} ended instance(s) before {before}")
    console = stdout_console()
    if not yes:
        console.print("dry run: nothing deleted; run again with --yes to delete them")
        return
    line = f"purged {report.deleted} ended instance(s) of {scope}"
    if report.archives:
        line += f"; archived in {len(report.archives)} file(s) under {report.archives[0].parent}"
    console.print(line, highlight=False)
