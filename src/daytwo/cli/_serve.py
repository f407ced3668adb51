"""``daytwo serve``: the HTTP API (``daytwo.api``) for an app's database."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from daytwo.cli._apps import client_app, explicit_database, load_app
from daytwo.cli._options import FLAG, AppOption, DatabaseOption
from daytwo.cli._output import stderr_console
from daytwo.cli._plugins import configure_serve
from daytwo.cli._worker import configure_logging
from daytwo.store import display_url

if TYPE_CHECKING:
    import uvicorn

__all__ = ["serve"]


def serve(
    ctx: typer.Context,
    app_spec: AppOption = None,
    host: Annotated[
        str,
        typer.Option(
            "--host",
            metavar="ADDRESS",
            help="Address to listen on (default: loopback only; put a TLS-terminating proxy "
            "in front to expose it).",
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, metavar="PORT", help="Port (0: any free).")
    ] = 8080,
    worker: Annotated[
        bool,
        typer.Option(
            "--worker", metavar=FLAG, help="Also run a worker of the app in this process."
        ),
    ] = False,
    concurrency: Annotated[
        int,
        typer.Option("--concurrency", min=1, metavar="N", help="With --worker: instances at once."),
    ] = 8,
    max_body: Annotated[
        int,
        typer.Option(
            "--max-body", min=1, metavar="BYTES", help="Largest request body accepted (413 above)."
        ),
    ] = 1024 * 1024,
    database: DatabaseOption = None,
) -> None:
    """Serve the HTTP API (everything the CLI does, behind tokens) until Ctrl-C or SIGTERM.

    Requests need a bearer token from `daytwo tokens create`; /healthz and /readyz do not.
    The OpenAPI document is at /openapi.json.
    """
    from daytwo.api import serve as run

    if worker:
        app = load_app(app_spec, explicit_database(ctx, database))
    else:
        app = client_app(ctx, database, app_spec)
    configure_serve(app)
    configure_logging()

    def started(server: uvicorn.Server) -> None:
        bound = [s.getsockname() for s in (server.servers[0].sockets if server.servers else [])]
        where = ", ".join(f"http://{a[0]}:{a[1]}" for a in bound) or f"{host}:{port}"
        running = " and a worker" if worker else ""
        stderr_console().print(
            f"daytwo API{running} on {where} for {display_url(app.database_url)}; "
            "stop with Ctrl-C or SIGTERM", highlight=False,
        )  # fmt: skip

    options: dict[str, Any] | None = {"concurrency": concurrency} if worker else None
    try:
        run(app, host=host, port=port, worker=options, max_body=max_body, started=started)
    finally:
        app.close()
