"""Options shared by several commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["AppOption", "DatabaseOption", "JsonOption", "ObjectivesOption"]

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
