"""Options shared by several commands."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from daytwo.cli._errors import CliError

if TYPE_CHECKING:
    from daytwo.slo import Objective

__all__ = [
    "FLAG",
    "AppOption",
    "ByOption",
    "DatabaseOption",
    "JsonOption",
    "LimitOption",
    "ObjectivesOption",
    "gather_objectives",
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

LimitOption = Annotated[int, typer.Option("--limit", min=1, metavar="N", help="At most this many.")]

ByOption = Annotated[
    str | None,
    typer.Option("--by", metavar="WHO", help="Who does it (recorded; default: your user name)."),
]


def operator(by: str | None) -> str | None:
    """Who is acting: ``--by``, else the user running the command (``$USER``), else None."""
    if by:
        return by
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no $USER and a uid without a passwd entry (containers)
        return None


ObjectivesOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--objectives",
        metavar="FILE.yaml",
        show_default=False,
        help="YAML file with objectives (repeatable); added to those registered on --app.",
    ),
]


def gather_objectives(app: Any, files: list[Path] | None) -> list[Objective]:
    """The objectives registered on ``app`` (None: no app) and those of ``--objectives``
    files; a name defined twice is refused."""
    from daytwo import slo

    objectives = [] if app is None else slo.objectives_for(app)
    for file in files or []:
        objectives += slo.load_objectives(file)
    names = [o.name for o in objectives]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise CliError(
            f"objective {repeated[0]!r} is defined more than once (app and/or files); "
            "give each objective its own name"
        )
    return objectives
