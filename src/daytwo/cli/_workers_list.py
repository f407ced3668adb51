"""``daytwo workers list``: the live workers, what they serve and what they are doing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from daytwo.cli._apps import open_client
from daytwo.cli._options import FLAG, AppOption, DatabaseOption, JsonOption
from daytwo.cli._output import Column, Row, duration, print_json, print_table

__all__ = ["list_workers"]

WORKER_COLUMNS = (
    Column("WORKER"),
    Column("HOST"),
    Column("PID"),
    Column("IN FLIGHT"),
    Column("HEARTBEAT"),
    Column("QUEUES", wrap=True, drop=2),
    Column("WORKFLOWS", wrap=True, drop=1),
)


def list_workers(
    ctx: typer.Context,
    stopped: Annotated[
        bool, typer.Option("--all", metavar=FLAG, help="The latest stopped workers too.")
    ] = False,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Workers that have not stopped: host, pid, queues and workflow versions served,
    concurrency, instances in flight, last heartbeat."""
    client = open_client(ctx, database, app_spec)
    found = client.workers(stopped=stopped)
    if json_output:
        print_json([worker.to_dict() for worker in found])
        return
    now = datetime.now(UTC)
    rows: list[Row] = []
    for worker in found:
        ago = duration((now - worker.heartbeat_at).total_seconds())
        state = "stopped" if worker.stopped_at else ("" if worker.live else " (not heard from)")
        rows.append(
            {
                "WORKER": worker.id,
                "HOST": worker.host,
                "PID": str(worker.pid),
                "IN FLIGHT": f"{worker.in_flight}/{worker.concurrency}",
                "HEARTBEAT": f"{ago} ago{state}" if state != "stopped" else "stopped",
                "QUEUES": "any" if worker.queues is None else ", ".join(worker.queues),
                "WORKFLOWS": "any" if worker.workflows is None else ", ".join(worker.workflows),
            }
        )
    live = sum(worker.live for worker in found)
    print_table(WORKER_COLUMNS, rows, caption=f"{live} live worker(s)")
