"""``daytwo worker MODULE:APP``: run instances until SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
import time
from typing import Annotated

import typer

from daytwo.cli._apps import explicit_database, load_app
from daytwo.cli._errors import CliError
from daytwo.cli._options import DatabaseOption
from daytwo.cli._output import stderr_console
from daytwo.cli._plugins import configure_worker
from daytwo.store import display_url

__all__ = ["configure_logging", "worker"]


def worker(
    ctx: typer.Context,
    app_spec: Annotated[
        str | None,
        typer.Argument(
            metavar="MODULE:APP",
            envvar="DAYTWO_APP",
            show_default=False,
            help="Your workflow code: a module (or path/to/file.py) and its daytwo.App, e.g. "
            "orders:app.",
        ),
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, metavar="N", help="Instances run at once.")
    ] = 8,
    lease_seconds: Annotated[
        float,
        typer.Option(
            "--lease-seconds",
            min=0.1,
            metavar="SECONDS",
            help="How long a claim lasts without a heartbeat (another worker takes over "
            "after this long if this one dies).",
        ),
    ] = 30.0,
    poll_interval: Annotated[
        float,
        typer.Option(
            "--poll-interval",
            min=0.01,
            metavar="SECONDS",
            help="Seconds between checks for work started by other processes.",
        ),
    ] = 0.25,
    shutdown_grace: Annotated[
        float,
        typer.Option(
            "--shutdown-grace",
            min=0,
            metavar="SECONDS",
            help="Seconds running instances get to finish after SIGTERM before their leases "
            "are given back.",
        ),
    ] = 30.0,
    queue: Annotated[
        list[str] | None,
        typer.Option(
            "--queue",
            metavar="QUEUE",
            help="Serve this queue (repeatable; default: the default queue).",
        ),
    ] = None,
    database: DatabaseOption = None,
) -> None:
    """Run the app's instances until SIGTERM or Ctrl-C, then stop gracefully.

    On stop it claims nothing new, lets running instances reach their next durable point
    and gives back the leases of those that do not. Installed operations packages add
    their options (the SLO package: --objectives, --slo-interval, --metrics-port).
    """
    app = load_app(app_spec, explicit_database(ctx, database))
    workflows = sorted(f"{name} {version}" for name, version in app.registry.pairs())
    if not workflows:
        raise CliError(f"{app_spec} has no workflows; declare them with @app.workflow()")
    configure_logging()
    app.store  # noqa: B018 -- open it now: a database problem ends the command before it starts
    notes = configure_worker(ctx, app)
    runner = app.worker(
        concurrency=concurrency,
        lease_seconds=lease_seconds,
        poll_interval=poll_interval,
        shutdown_grace=shutdown_grace,
        queues=queue or ["default"],
    )
    extras = "".join(f"; {note}" for note in notes)
    stderr_console().print(
        f"worker {runner.id}: {', '.join(workflows)} on {display_url(app.database_url)} "
        f"(queues {', '.join(runner.queues)}, concurrency {concurrency}{extras}); "
        "stop with Ctrl-C or SIGTERM"
    )
    try:
        runner.run()
    finally:
        app.close()


def configure_logging() -> None:
    """INFO and above on stderr, times in UTC like everything else the CLI shows."""
    handler = logging.StreamHandler()
    formatter = logging.Formatter(
        "%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"
    )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    logging.basicConfig(level=logging.INFO, handlers=[handler])
