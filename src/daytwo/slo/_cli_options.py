"""Options the SLO commands share: where objectives come from."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from daytwo.cli import AppOption, CliError

if TYPE_CHECKING:
    from daytwo.slo import Objective

__all__ = ["AppOption", "ObjectivesOption", "gather_objectives", "require"]

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


def require(objectives: list[Objective]) -> None:
    """Refuse a command that has no objectives to work on."""
    if not objectives:
        raise CliError(
            "no objectives to evaluate: pass --app MODULE:APP whose module calls "
            "daytwo.slo.register(app, ...), or --objectives FILE.yaml"
        )
