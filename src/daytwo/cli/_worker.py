"""``daytwo worker MODULE:APP``: run instances until SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from daytwo.cli._apps import database_option, load_app
from daytwo.cli._errors import CliError
from daytwo.cli._options import DatabaseOption
from daytwo.cli._output import stderr_console

__all__ = ["worker"]


def worker(
    ctx: typer.Context,
    app_spec: Annotated[
        str | None,
        typer.Argument(
            metavar="MODULE:APP",
            envvar="DAYTWO_APP",
            show_default=False,
            help="Your workflow code: the module and its daytwo.App, e.g. examples.orders:app.",
        ),
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, help="Instances run at once.")
    ] = 8,
    lease_seconds: Annotated[
        float,
        typer.Option(
            "--lease-seconds",
            min=0.1,
            help="How long a claim lasts without a heartbeat (another worker takes over "
            "after this long if this one dies).",
        ),
    ] = 30.0,
    poll_interval: Annotated[
        float,
        typer.Option(
            "--poll-interval",
            min=0.01,
            help="Seconds between checks for work started by other processes.",
        ),
    ] = 0.25,
    shutdown_grace: Annotated[
        float,
        typer.Option(
            "--shutdown-grace",
            min=0,
            help="Seconds running instances get to finish after SIGTERM before their leases "
            "are given back.",
        ),
    ] = 30.0,
    queue: Annotated[
        list[str] | None,
        typer.Option("--queue", help="Serve this queue (repeatable; default: the default queue)."),
    ] = None,
    database: DatabaseOption = None,
) -> None:
    """Run the app's instances until SIGTERM or Ctrl-C, then stop gracefully.

    On stop it claims nothing new, lets running instances reach their next durable point
    and gives back the leases of those that do not.
    """
    app = load_app(app_spec, database_option(ctx, database))
    workflows = sorted(f"{name} {version}" for name, version in app.registry.pairs())
    if not workflows:
        raise CliError(f"{app_spec} has no workflows; declare them with @app.workflow()")
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    runner = app.worker(
        concurrency=concurrency,
        lease_seconds=lease_seconds,
        poll_interval=poll_interval,
        shutdown_grace=shutdown_grace,
        queues=queue or ["default"],
    )
    notes = stderr_console()
    notes.print(
        f"worker {runner.id}: {', '.join(workflows)} on {app.database_url} "
        f"(queues {', '.join(runner.queues)}, concurrency {concurrency}); "
        "stop with Ctrl-C or SIGTERM"
    )
    try:
        runner.run()
    finally:
        app.close()
