"""``daytwo metrics serve``: Prometheus ``/metrics`` read from the store at each scrape.

A plain prometheus_client HTTP server, not a FastAPI app: the endpoint is one read-only
route that Prometheus polls, prometheus_client already serves it (content negotiation,
OpenMetrics, gzip) from a daemon thread, and it keeps the command free of an ASGI server.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Annotated

import typer

from daytwo.cli import CliError, DatabaseOption, client_app, stderr_console
from daytwo.slo._cli_options import AppOption, ObjectivesOption, gather_objectives
from daytwo.slo._extension import LOOPBACK, SloExtension, every_collector
from daytwo.store import display_url

__all__ = ["HostOption", "metrics_commands"]

metrics_commands = typer.Typer(
    name="metrics",
    help="Prometheus metrics of instances and SLOs, read from the database at each scrape.",
    no_args_is_help=True,
)

PortOption = Annotated[
    int,
    typer.Option(
        "--port", min=0, max=65535, metavar="PORT", help="TCP port of /metrics (0: any free)."
    ),
]
HostOption = Annotated[
    str,
    typer.Option(
        "--host",
        "--address",
        metavar="HOST",
        help="Address to listen on (default: loopback only; 0.0.0.0 for every interface).",
    ),
]


@metrics_commands.command("serve")
def serve(
    ctx: typer.Context,
    app_spec: AppOption = None,
    objectives_files: ObjectivesOption = None,
    port: PortOption = 9464,
    address: HostOption = LOOPBACK,
    database: DatabaseOption = None,
) -> None:
    """Serve http://HOST:PORT/metrics until Ctrl-C or SIGTERM.

    Every process serving /metrics reports the same cluster-wide values (they come from the
    database), so Prometheus needs to scrape only one of them. Listens on loopback unless
    --host says otherwise.
    """
    from daytwo.slo._metrics import MetricsService

    app = client_app(ctx, database, app_spec)
    objectives = gather_objectives(app, objectives_files)
    extension = app.extension(SloExtension)
    extension.add(*objectives)
    service = MetricsService(every_collector(app), port, address)
    try:
        service.run_once()
    except OSError as exc:
        raise CliError(f"cannot listen on {address}:{port}: {exc.strerror}") from None
    assert service.server is not None  # run_once() started it or raised
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    stderr_console().print(
        f"serving http://{address}:{service.server.server_port}/metrics for "
        f"{display_url(app.database_url)} "
        f"({len(objectives)} objective(s)); stop with Ctrl-C or SIGTERM"
    )
    sys.stderr.flush()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        service.close()
        app.close()
