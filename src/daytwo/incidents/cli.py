"""The incidents package's command line: ``daytwo incidents ...``, ``daytwo owners ...``,
the ``daytwo worker --ownership FILE`` option, and the extension on ``daytwo serve``
(named in the ``daytwo.cli`` entry-point group, see ``daytwo.cli.CliPlugin``).

Every worker and every API server gets the app's :class:`IncidentsExtension` (added with
its defaults when the app has none): incidents are part of daytwo, not an option, so an
SLO alert becomes an incident wherever a worker runs, and ``daytwo serve`` without
``--app`` serves ``/v1/incidents`` and the ingest receivers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from daytwo.cli import CliPlugin
from daytwo.incidents._cli import incidents_commands
from daytwo.incidents._cli_owners import owners_commands
from daytwo.incidents._extension import IncidentsExtension
from daytwo.store import resolve_actor

if TYPE_CHECKING:
    from daytwo.app import App

__all__ = ["plugin"]


def worker_options(
    incidents_ownership: Annotated[
        Path | None,
        typer.Option(
            "--ownership",
            metavar="FILE.yaml",
            show_default=False,
            help="Apply this ownership.yaml at start (as `daytwo owners apply`; the same "
            "file again changes nothing).",
        ),
    ] = None,
) -> None:
    """The options the incidents package adds to ``daytwo worker``."""


def configure_worker(app: App, values: Mapping[str, Any]) -> Sequence[str]:
    """Add the extension, apply ``--ownership``, warn of workflows without an owner."""
    from daytwo.incidents._ownership import load_ownership
    from daytwo.incidents._registry import apply

    extension = app.extension(IncidentsExtension)
    notes = ["incidents on"]
    file = values.get("incidents_ownership")
    if file is not None:
        version, _ = apply(app.store, load_ownership(file), source=str(file),
                           by=resolve_actor(None), now=app.clock.now())  # fmt: skip
        notes = [f"incidents on (ownership version {version})"]
    # The worker's services warn of workflows without an owner (``app.worker()`` too).
    extension.register()
    return notes


def configure_serve(app: App) -> Sequence[str]:
    """Serve ``/v1/incidents``, ``/v1/owners`` and ``/ingest/...`` for any app."""
    app.extension(IncidentsExtension)
    return []


plugin = CliPlugin(
    groups=(incidents_commands, owners_commands),
    worker_options=worker_options,
    configure_worker=configure_worker,
    configure_serve=configure_serve,
)
