"""``daytwo worker MODULE:APP``: run instances until SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from daytwo.cli._apps import database_option, load_app
from daytwo.cli._errors import CliError
from daytwo.cli._options import DatabaseOption, ObjectivesOption
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
    objectives_files: ObjectivesOption = None,
    slo_interval: Annotated[
        float,
        typer.Option(
            "--slo-interval",
            min=1,
            help="Seconds between SLO evaluations (one evaluator at a time per database).",
        ),
    ] = 60.0,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            min=0,
            max=65535,
            show_default=False,
            help="Also serve Prometheus /metrics on this port (see daytwo metrics serve).",
        ),
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
    services = _slo_services(app, objectives_files, slo_interval)
    if metrics_port is not None:
        from daytwo.cli._metrics import metrics_service

        services.append(metrics_service(app, objectives_files, metrics_port, "0.0.0.0"))
    runner = app.worker(
        concurrency=concurrency,
        lease_seconds=lease_seconds,
        poll_interval=poll_interval,
        shutdown_grace=shutdown_grace,
        queues=queue or ["default"],
        services=services,
    )
    notes = stderr_console()
    evaluating = (
        f"; SLO evaluation every {slo_interval:g} s"
        if any(s.name == "slo-evaluator" for s in services)
        else ""
    )
    if metrics_port is not None:
        evaluating += f"; /metrics on port {metrics_port}"
    notes.print(
        f"worker {runner.id}: {', '.join(workflows)} on {app.database_url} "
        f"(queues {', '.join(runner.queues)}, concurrency {concurrency}{evaluating}); "
        "stop with Ctrl-C or SIGTERM"
    )
    try:
        runner.run()
    finally:
        for service in services:
            close = getattr(service, "close", None)
            if close is not None:
                close()
        app.close()


def _slo_services(app: Any, files: list[Path] | None, interval: float) -> list[Any]:
    """The SLO evaluator service, when the app registered objectives or files name some.

    An app that never imported ``daytwo.slo`` has no objectives, so Pydantic is not loaded.
    """
    if not files and "daytwo.slo" not in sys.modules:
        return []
    from daytwo import slo

    objectives = slo.objectives_for(app)
    for file in files or []:
        objectives += slo.load_objectives(file)
    if not objectives:
        return []
    evaluator = slo.Evaluator.for_app(app, objectives, sinks=[slo.LogSink()])
    return [slo.EvaluatorService(evaluator, interval=interval)]
