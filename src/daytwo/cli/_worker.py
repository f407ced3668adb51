"""``daytwo worker MODULE:APP``: run instances until SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from daytwo.cli._apps import explicit_database, load_app
from daytwo.cli._errors import CliError
from daytwo.cli._options import DatabaseOption, ObjectivesOption, gather_objectives
from daytwo.cli._output import stderr_console
from daytwo.store._database import display_url

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
    objectives_files: ObjectivesOption = None,
    slo_interval: Annotated[
        float,
        typer.Option(
            "--slo-interval",
            min=1,
            metavar="SECONDS",
            help="Seconds between SLO evaluations (one evaluator at a time per database).",
        ),
    ] = 60.0,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            min=0,
            max=65535,
            metavar="PORT",
            show_default=False,
            help="Also serve Prometheus /metrics on this port (see daytwo metrics serve).",
        ),
    ] = None,
    metrics_host: Annotated[
        str,
        typer.Option(
            "--metrics-host",
            metavar="HOST",
            help="Address of /metrics (default: loopback only; 0.0.0.0 for every interface).",
        ),
    ] = "127.0.0.1",
    database: DatabaseOption = None,
) -> None:
    """Run the app's instances until SIGTERM or Ctrl-C, then stop gracefully.

    On stop it claims nothing new, lets running instances reach their next durable point
    and gives back the leases of those that do not.
    """
    app = load_app(app_spec, explicit_database(ctx, database))
    workflows = sorted(f"{name} {version}" for name, version in app.registry.pairs())
    if not workflows:
        raise CliError(f"{app_spec} has no workflows; declare them with @app.workflow()")
    configure_logging()
    app.store  # noqa: B018 -- open it now: a database problem ends the command before it starts
    objectives = _objectives(app, objectives_files, metrics_port is not None)
    services = _slo_services(app, objectives, slo_interval)
    evaluating = f"; SLO evaluation every {slo_interval:g} s" if services else ""
    if metrics_port is not None:
        from daytwo.cli._metrics import metrics_service

        services.append(metrics_service(app, objectives or [], metrics_port, metrics_host))
        evaluating += f"; /metrics on {metrics_host}:{metrics_port}"
    runner = app.worker(
        concurrency=concurrency,
        lease_seconds=lease_seconds,
        poll_interval=poll_interval,
        shutdown_grace=shutdown_grace,
        queues=queue or ["default"],
        services=services,
    )
    notes = stderr_console()
    notes.print(
        f"worker {runner.id}: {', '.join(workflows)} on {display_url(app.database_url)} "
        f"(queues {', '.join(runner.queues)}, concurrency {concurrency}{evaluating}); "
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


def _objectives(app: Any, files: list[Path] | None, metrics: bool) -> list[Any] | None:
    """The objectives of the app and of ``files``; None when nothing needs ``daytwo.slo``.

    An app that never imported ``daytwo.slo`` has no objectives, so without files or a
    metrics port Pydantic is not loaded.
    """
    if not files and not metrics and "daytwo.slo" not in sys.modules:
        return None
    return gather_objectives(app, files)


def _slo_services(app: Any, objectives: list[Any] | None, interval: float) -> list[Any]:
    """The SLO evaluator service and its alert deliveries, when there are objectives."""
    if not objectives:
        return []
    from daytwo import slo

    sinks = [slo.LogSink(), *slo.alert_sinks_for(app)]
    evaluator = slo.Evaluator.for_app(app, objectives, sinks=sinks)
    # The durable sinks' outbox deliveries (webhooks) run beside it, retrying.
    return [slo.EvaluatorService(evaluator, interval=interval), *evaluator.deliveries]
