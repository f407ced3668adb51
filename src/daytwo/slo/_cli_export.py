"""``daytwo slo export | import``: objectives as Prometheus rules or OpenSLO, and back."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from daytwo.cli import CliError, JsonOption, load_app, print_json
from daytwo.slo._cli_options import AppOption, ObjectivesOption, gather_objectives, require

if TYPE_CHECKING:
    from daytwo.slo import Objective

__all__ = ["export_commands", "import_commands"]

export_commands = typer.Typer(
    name="export",
    help="Write the objectives as Prometheus rules or OpenSLO documents.",
    no_args_is_help=True,
)
import_commands = typer.Typer(
    name="import",
    help="Read objectives from other formats (prints daytwo's YAML definitions).",
    no_args_is_help=True,
)


def _definitions(app_spec: str | None, files: list[Path] | None) -> list[Objective]:
    """Objectives of --app and --objectives, without opening the database."""
    objectives = gather_objectives(load_app(app_spec, None) if app_spec else None, files)
    require(objectives)
    return objectives


def _write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot write {str(output)!r}: {exc.strerror}") from None


OutputOption = Annotated[
    Path | None,
    typer.Option(
        "--output", "-o", metavar="FILE", show_default=False, help="Write here, not stdout."
    ),
]


@export_commands.command("prometheus-rules")
def export_prometheus_rules(
    app_spec: AppOption = None,
    objectives_files: ObjectivesOption = None,
    output: OutputOption = None,
) -> None:
    """Recording and alerting rules equivalent to the engine's evaluation (for promtool).

    Built on the series of `daytwo metrics serve`; load the file with Prometheus's
    rule_files setting.
    """
    from daytwo.slo._promrules import prometheus_rules_yaml

    _export(prometheus_rules_yaml, app_spec, objectives_files, output)


@export_commands.command("openslo")
def export_openslo(
    app_spec: AppOption = None,
    objectives_files: ObjectivesOption = None,
    output: OutputOption = None,
) -> None:
    """OpenSLO openslo/v1 documents: a Service per workflow, SLI, SLO, AlertPolicy each."""
    from daytwo.slo._openslo import openslo_yaml

    _export(openslo_yaml, app_spec, objectives_files, output)


def _export(
    render: Callable[[list[Objective]], str],
    app_spec: str | None,
    objectives_files: list[Path] | None,
    output: Path | None,
) -> None:
    """Render the objectives with ``render``; what it cannot express is a one-line error."""
    objectives = _definitions(app_spec, objectives_files)
    try:
        text = render(objectives)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    _write(text, output)


@import_commands.command("openslo")
def import_openslo(
    file: Annotated[Path, typer.Argument(metavar="FILE.yaml", help="OpenSLO documents.")],
    output: OutputOption = None,
    json_output: JsonOption = False,
) -> None:
    """Read openslo/v1 documents; print them as daytwo objectives (YAML, or --json)."""
    from daytwo.slo._openslo import load_openslo
    from daytwo.slo._promrules import dump_yaml

    objectives = load_openslo(file)
    specs = [o.model_dump(mode="json", exclude_none=True) for o in objectives]
    if json_output:
        print_json(specs)
        return
    _write(dump_yaml({"objectives": specs}), output)
