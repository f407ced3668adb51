"""The SLO package's command line: ``daytwo slo ...``, ``daytwo metrics serve`` and the
``daytwo worker`` options that set the app's :class:`~daytwo.slo.SloExtension`.

``plugin`` is named in the ``daytwo.cli`` entry-point group (see ``daytwo.cli.CliPlugin``);
this module is the template the next packages' CLIs follow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from daytwo.cli import CliPlugin
from daytwo.slo._cli import print_statuses, slo_commands
from daytwo.slo._cli_metrics import metrics_commands
from daytwo.slo._cli_options import gather_objectives
from daytwo.slo._extension import LOOPBACK, SloExtension

if TYPE_CHECKING:
    from daytwo.app import App

__all__ = ["plugin", "print_statuses"]


def worker_options(
    slo_objectives: Annotated[
        list[Path] | None,
        typer.Option(
            "--objectives",
            metavar="FILE.yaml",
            show_default=False,
            help="YAML file with objectives (repeatable); added to those registered on the app.",
        ),
    ] = None,
    slo_interval: Annotated[
        float,
        typer.Option(
            "--slo-interval",
            min=1,
            metavar="SECONDS",
            help="Seconds between SLO evaluations (one evaluator at a time per database).",
        ),
    ] = 60.0,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            min=0,
            max=65535,
            metavar="PORT",
            show_default=False,
            help="Also serve Prometheus /metrics on this port (see daytwo metrics serve).",
        ),
    ] = None,
    metrics_host: Annotated[
        str,
        typer.Option(
            "--metrics-host",
            metavar="HOST",
            help="Address of /metrics (default: loopback only; 0.0.0.0 for every interface).",
        ),
    ] = LOOPBACK,
) -> None:
    """The options the SLO package adds to ``daytwo worker``."""


def configure_worker(app: App, values: Mapping[str, Any]) -> Sequence[str]:
    """Apply ``daytwo worker``'s SLO options to the app's SLO extension.

    An app without objectives, files or a metrics port gets no extension (and its worker
    no evaluator).
    """
    files = list(values.get("slo_objectives") or ())
    port = values.get("metrics_port")
    interval = float(values.get("slo_interval") or 60.0)
    host = str(values.get("metrics_host") or LOOPBACK)
    objectives = gather_objectives(app, files)
    if not objectives and port is None:
        return []
    extension = app.extension(SloExtension)
    extension.add(*objectives)
    extension.interval = interval
    notes = [f"SLO evaluation every {interval:g} s"] if objectives else []
    if port is not None:
        extension.metrics_port, extension.metrics_host = int(port), host
        notes.append(f"/metrics on {host}:{port}")
    return notes


plugin = CliPlugin(
    groups=[slo_commands, metrics_commands],
    worker_options=worker_options,
    configure_worker=configure_worker,
)
