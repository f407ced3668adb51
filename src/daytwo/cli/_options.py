"""Options shared by several commands."""

from __future__ import annotations

from typing import Annotated

import typer

import daytwo

__all__ = [
    "FLAG",
    "AppOption",
    "ByOption",
    "DatabaseOption",
    "JsonOption",
    "LimitOption",
    "ReasonOption",
    "ServerOption",
    "TokenOption",
    "operator",
]

#: The metavar of an on/off option: nothing (Typer would show ``<bool>``).
FLAG = ""

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        metavar="URL",
        show_default=False,
        help="Database URL; beats $DAYTWO_DATABASE, which beats the URL of the --app's App "
        "(default: sqlite:///daytwo.db). A relative SQLite path is relative to the current "
        "directory.",
    ),
]

ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server",
        envvar="DAYTWO_SERVER",
        metavar="URL",
        show_default=False,
        help="Run the command over the HTTP API of daytwo serve at URL instead of on a "
        "database (no database access needed); with --token.",
    ),
]

TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="DAYTWO_TOKEN",
        metavar="TOKEN",
        show_default=False,
        show_envvar=True,
        help="The bearer token for --server (from daytwo tokens create); prefer "
        "$DAYTWO_TOKEN, which no process list shows.",
    ),
]

AppOption = Annotated[
    str | None,
    typer.Option(
        "--app",
        envvar="DAYTWO_APP",
        metavar="MODULE:APP",
        show_default=False,
        help="Your workflow code: a module (or path/to/file.py) and its daytwo.App, e.g. "
        "orders:app; its App's database URL is used unless --database or $DAYTWO_DATABASE "
        "says otherwise.",
    ),
]

JsonOption = Annotated[
    bool,
    typer.Option("--json", metavar=FLAG, help="Print JSON (for scripts) instead of a table."),
]

#: The options a start shares with every other start (``instance start``, ``start-many``).
VersionOption = Annotated[
    str | None,
    typer.Option("--version", metavar="VERSION", help="Workflow version (default: the newest)."),
]
QueueOption = Annotated[
    str | None,
    typer.Option("--queue", metavar="QUEUE", help="Queue to wait in (default: the workflow's)."),
]
PriorityOption = Annotated[
    int | None,
    typer.Option("--priority", metavar="N", help="Lower runs first (default: the workflow's)."),
]
LimitOption = Annotated[int, typer.Option("--limit", min=1, metavar="N", help="At most this many.")]

ByOption = Annotated[
    str | None,
    typer.Option(
        "--by",
        metavar="WHO",
        help="Who does it (recorded in the audit log; default: $DAYTWO_ACTOR, else your "
        "user name).",
    ),
]
ReasonOption = Annotated[
    str | None,
    typer.Option("--reason", metavar="TEXT", help="Why (recorded in the audit log)."),
]


def operator(by: str | None) -> str:
    """Who is acting: ``--by``, else ``$DAYTWO_ACTOR``, else the OS user (see
    :func:`daytwo.resolve_actor`)."""
    return daytwo.resolve_actor(by)
