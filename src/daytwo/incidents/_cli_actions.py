"""The actions of ``daytwo incidents``: ``open | ack | reassign | note | severity | stage |
resolve | reopen``.

Each is one call of the :class:`~daytwo.incidents.Incidents` service, or of its
``--server`` twin (``_cli_remote.py``), printing the incident as it now is; ``_cli.py``
adds them to the ``daytwo incidents`` group, after the read commands.
"""

from __future__ import annotations

from typing import Annotated

import typer

from daytwo.cli import FLAG, AppOption, ByOption, CliError, DatabaseOption, JsonOption
from daytwo.incidents._cli_common import NumberArgument, ReasonOption, done, service_for
from daytwo.incidents._vocabulary import Severity, Stage

__all__ = ["action_commands"]

#: Merged into ``incidents_commands`` (a group without a name adds its commands).
action_commands = typer.Typer()


def _labels(given: list[str] | None) -> dict[str, str]:
    labels: dict[str, str] = {}
    for item in given or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CliError(f"--label {item!r} is not KEY=VALUE; give e.g. --label region=eu")
        labels[key.strip()] = value
    return labels


@action_commands.command("open")
def open_incident(
    ctx: typer.Context,
    title: Annotated[str, typer.Argument(metavar="TITLE", help="What is wrong, in a line.")],
    severity: Annotated[
        Severity | None,
        typer.Option("--severity", help="Default: what the ownership registry says (or SEV3)."),
    ] = None,
    workflow: Annotated[
        str | None, typer.Option("--workflow", metavar="WORKFLOW", help="The workflow it is about.")
    ] = None,
    dependency: Annotated[
        str | None,
        typer.Option("--dependency", metavar="NAME", help="The dependency it is about."),
    ] = None,
    assignee: Annotated[
        str | None, typer.Option("--assignee", metavar="WHO", help="Who handles it.")
    ] = None,
    label: Annotated[
        list[str] | None, typer.Option("--label", metavar="KEY=VALUE", help="Repeatable.")
    ] = None,
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Open an incident by hand (it resolves only when someone resolves it)."""
    labels = _labels(label)
    made = service_for(ctx, database, app_spec).open(
        title, severity=severity, workflow=workflow, dependency=dependency, assignee=assignee,
        labels=labels, by=by,
    )  # fmt: skip
    done(made, json_output, f"opened, {made.severity}, assigned to {made.assignee or 'nobody'}")


@action_commands.command("ack")
def acknowledge(
    ctx: typer.Context,
    number: NumberArgument,
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Acknowledge: someone is on it (the paging stops; MTTA ends here)."""
    made = service_for(ctx, database, app_spec).acknowledge(number, by=by)
    done(made, json_output, f"acknowledged by {made.acknowledged_by}")


@action_commands.command("reassign")
def reassign(
    ctx: typer.Context,
    number: NumberArgument,
    to: Annotated[str, typer.Argument(metavar="TO", help="The person or team.")],
    reason: ReasonOption = None,
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Hand the incident to a person or team."""
    made = service_for(ctx, database, app_spec).reassign(number, to, reason=reason, by=by)
    done(made, json_output, f"assigned to {made.assignee}")


@action_commands.command("note")
def note(
    ctx: typer.Context,
    number: NumberArgument,
    text: Annotated[str, typer.Argument(metavar="TEXT", help="What was tried or seen.")],
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Add a note to the incident's timeline."""
    made = service_for(ctx, database, app_spec).note(number, text, by=by)
    done(made, json_output, "note added")


@action_commands.command("severity")
def set_severity(
    ctx: typer.Context,
    number: NumberArgument,
    severity: Annotated[Severity, typer.Argument(metavar="SEVn", help="SEV1 (worst) to SEV4.")],
    reason: Annotated[
        str, typer.Option("--reason", metavar="TEXT", help="Why (required; in the timeline).")
    ],
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Change an open incident's severity (the reason is required)."""
    made = service_for(ctx, database, app_spec).set_severity(number, severity, reason=reason, by=by)
    done(made, json_output, f"severity now {made.severity}")


@action_commands.command("stage")
def stage(
    ctx: typer.Context,
    number: NumberArgument,
    to: Annotated[Stage, typer.Argument(metavar="STAGE", help="The stage to move on to.")],
    note_text: Annotated[
        str | None, typer.Option("--note", metavar="TEXT", help="In the timeline.")
    ] = None,
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Move the incident on to STAGE: triage, contain, diagnose, resolve, recover or review.

    Stages only go forward; recover and review come once the incident is resolved.
    """
    made = service_for(ctx, database, app_spec).advance(number, to, note=note_text, by=by)
    done(made, json_output, f"stage now {made.stage}")


@action_commands.command("resolve")
def resolve(
    ctx: typer.Context,
    number: NumberArgument,
    reason: ReasonOption = None,
    force: Annotated[
        bool,
        typer.Option("--force", metavar=FLAG, help="Resolve even while an alert still fires."),
    ] = False,
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Resolve the incident (refused while an alert of it still fires, unless --force)."""
    made = service_for(ctx, database, app_spec).resolve(number, reason=reason, force=force, by=by)
    done(made, json_output, f"resolved by {made.resolved_by}")


@action_commands.command("reopen")
def reopen(
    ctx: typer.Context,
    number: NumberArgument,
    reason: ReasonOption = None,
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Reopen a resolved incident (triggered again, back at its stage before resolve)."""
    made = service_for(ctx, database, app_spec).reopen(number, reason=reason, by=by)
    done(made, json_output, f"reopened, stage {made.stage}")
