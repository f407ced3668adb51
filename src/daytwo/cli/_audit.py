"""The audit log: ``daytwo audit list``."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from daytwo import AuditOutcome, AuditTarget
from daytwo._moments import MOMENT_HELP, parse_moment
from daytwo.cli._apps import open_client
from daytwo.cli._errors import CliError
from daytwo.cli._options import AppOption, DatabaseOption, JsonOption, LimitOption
from daytwo.cli._output import Column, Row, print_json, print_table, short_time

__all__ = ["list_audit"]

AUDIT_COLUMNS = (
    Column("ID"),
    Column("AT"),
    Column("WHO"),
    Column("ACTION"),
    Column("TARGET", wrap=True),
    Column("OUTCOME"),
    Column("REASON", wrap=True, drop=1),
    Column("DETAIL", wrap=True, drop=2),
)


def _moment(text: str | None, option: str) -> float | None:
    if text is None:
        return None
    try:
        return parse_moment(text, time.time(), option)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def list_audit(
    ctx: typer.Context,
    action: Annotated[
        str | None,
        typer.Option(
            "--action",
            metavar="ACTION",
            help="Only this action (instance.retry), or a family (instance).",
        ),
    ] = None,
    by: Annotated[
        str | None, typer.Option("--by", metavar="WHO", help="Only actions of this actor.")
    ] = None,
    target: Annotated[
        str | None,
        typer.Option("--target", metavar="ID", help="Only actions on this instance, task or name."),
    ] = None,
    target_kind: Annotated[
        AuditTarget | None,
        typer.Option("--target-kind", help="Only actions on this kind of target."),
    ] = None,
    outcome: Annotated[
        AuditOutcome | None, typer.Option("--outcome", help="Only actions that ended so.")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", metavar="WHEN", help=f"From: {MOMENT_HELP}.")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", metavar="WHEN", help=f"Before: {MOMENT_HELP}.")
    ] = None,
    limit: LimitOption = 100,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """List operator actions, newest first: who did what to which instances, why, and how it
    ended (refused actions included)."""
    since_at, until_at = _moment(since, "--since"), _moment(until, "--until")
    client = open_client(ctx, database, app_spec)
    records = client.audit.list(
        action=action,
        actor=by,
        target=target,
        target_kind=target_kind,
        outcome=outcome,
        since=since_at,
        until=until_at,
        limit=limit,
    )
    if json_output:
        print_json([record.to_dict() for record in records])
        return
    rows: list[Row] = []
    for record in records:
        where = record.target
        if record.count is not None:
            where = f"{where} ({record.count} instance(s))"
        rows.append(
            {
                "ID": str(record.id),
                "AT": short_time(record.at),
                "WHO": record.actor,
                "ACTION": record.action,
                "TARGET": where,
                "OUTCOME": str(record.outcome),
                "REASON": record.reason or "",
                "DETAIL": record.detail or "",
            }
        )
    print_table(AUDIT_COLUMNS, rows, caption=f"{len(records)} action(s)")
