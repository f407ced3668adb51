"""``daytwo workflow list``: the workflows the workers registered, and their pauses.

What a Client can start by name (and with which version, queue and priority), whether a
live worker runs each version now, and what is paused: the place to look before ``daytwo
instance start WORKFLOW`` without ``--app``, and after ``daytwo workflow pause``.
"""

from __future__ import annotations

from typing import Any

import typer

from daytwo.cli._apps import open_client
from daytwo.cli._options import AppOption, DatabaseOption, JsonOption
from daytwo.cli._output import Column, Row, print_json, print_table

__all__ = ["list_workflows"]

#: On a narrow terminal the priority goes first, then whether it is served.
WORKFLOW_COLUMNS = (
    Column("WORKFLOW"),
    Column("VERSION"),
    Column("QUEUE"),
    Column("PRIORITY", drop=1),
    Column("LIVE WORKER", drop=2),
    Column("PAUSED", wrap=True),
)


def list_workflows(
    ctx: typer.Context,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Workflow versions the workers registered (newest first), and the pauses in force."""
    client = open_client(ctx, database, app_spec)
    registered = client.workflows()
    pauses = client.flow.list_pauses()
    by_workflow: dict[str, list[dict[str, Any]]] = {}
    for pause in pauses:
        by_workflow.setdefault(pause["workflow"], []).append(pause)
    entries: list[dict[str, Any]] = [
        {**workflow.to_dict(), "pauses": by_workflow.get(workflow.name, [])}
        for workflow in registered
    ]
    names = {workflow.name for workflow in registered}
    entries += [  # paused, but no worker registered it (paused with --force, say)
        {"name": name, "version": None, "queue": None, "priority": None, "live": False,
         "pauses": held}
        for name, held in sorted(by_workflow.items()) if name not in names
    ]  # fmt: skip
    if json_output:
        print_json(entries)
        return
    rows: list[Row] = [
        {
            "WORKFLOW": entry["name"],
            "VERSION": entry["version"] or "",
            "QUEUE": entry["queue"] or "",
            "PRIORITY": "" if entry["priority"] is None else str(entry["priority"]),
            "LIVE WORKER": "yes" if entry["live"] else "no",
            "PAUSED": "; ".join(_pause_text(pause) for pause in entry["pauses"]),
        }
        for entry in entries
    ]
    print_table(WORKFLOW_COLUMNS, rows, caption=f"{len(registered)} registered version(s)")


def _pause_text(pause: dict[str, Any]) -> str:
    what = f"step {pause['step']}" if pause["step"] else "new starts"
    why = f": {pause['reason']}" if pause["reason"] else ""
    return f"{what} ({pause['held']} held){why}"
