"""Options the SLO commands share: where objectives come from, and where the commands read
(the database, or the server with ``daytwo --server``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from daytwo.cli import AppOption, CliError, client_app

if TYPE_CHECKING:
    from daytwo.slo import Objective
    from daytwo.slo._readers import SloSource

__all__ = ["AppOption", "ObjectivesOption", "gather_objectives", "open_reader", "require"]

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


def open_reader(
    ctx: typer.Context,
    database: str | None,
    app_spec: str | None,
    files: list[Path] | None,
    *,
    required: bool = False,
) -> SloSource:
    """What ``daytwo slo status | alerts | stuck`` read: the database with the objectives
    of ``--app`` and ``--objectives`` (``required``: refuse to go on without any), or,
    with ``--server``, the server's routes over the objectives registered on its app."""
    from daytwo.slo._cli_remote import RemoteSlo, remote_client_of
    from daytwo.slo._readers import SloReader

    app = client_app(ctx, database, app_spec, remote=True)
    remote = remote_client_of(app)
    if remote is not None:
        if files:
            raise CliError(
                "--objectives cannot be used with --server: the server reports the objectives "
                "registered on its app (daytwo serve --app MODULE:APP); drop --objectives, or "
                "run the command where the database is reachable"
            )
        return RemoteSlo(remote, required=required)
    objectives = gather_objectives(app, files)
    if required:
        require(objectives)
    return SloReader(app, objectives)
