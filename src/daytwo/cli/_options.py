"""Options shared by several commands."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from daytwo.cli._errors import CliError

if TYPE_CHECKING:
    from daytwo.slo import Objective

__all__ = ["AppOption", "DatabaseOption", "JsonOption", "ObjectivesOption", "gather_objectives"]

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        metavar="URL",
        show_default=False,
        help="Database URL (env: DAYTWO_DATABASE; default: sqlite:///daytwo.db).",
    ),
]

AppOption = Annotated[
    str | None,
    typer.Option(
        "--app",
        envvar="DAYTWO_APP",
        metavar="MODULE:APP",
        show_default=False,
        help="Your workflow code: the module and its daytwo.App, e.g. examples.orders:app.",
    ),
]

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON (for scripts) instead of a table.")
]

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
