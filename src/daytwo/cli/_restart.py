"""``daytwo instance restart`` and ``daytwo instance fork``: a new instance from an ended one."""

from __future__ import annotations

from typing import Annotated

import typer

from daytwo.cli._apps import open_client
from daytwo.cli._instances import InstanceId
from daytwo.cli._options import (
    AppOption,
    ByOption,
    DatabaseOption,
    JsonOption,
    ReasonOption,
    VersionOption,
    operator,
)
from daytwo.cli._output import print_json, stdout_console

__all__ = ["fork", "restart"]

NewIdOption = Annotated[
    str | None,
    typer.Option(
        "--id",
        metavar="NEW_ID",
        help="The new instance's id (default: ID-restart-N / ID-fork-N); the same command "
        "with the same --id again returns the instance it made.",
    ),
]


def restart(
    ctx: typer.Context,
    instance_id: InstanceId,
    new_id: NewIdOption = None,
    version: VersionOption = None,
    reason: ReasonOption = None,
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Start an ended instance again from the beginning: a new instance with the same input
    (the newest version unless --version), linked to the old one."""
    client = open_client(ctx, database, app_spec, lookup=f"instance with id {instance_id!r}")
    handle = client.restart(instance_id, new_id=new_id, version=version, reason=reason,
                            by=operator(by))  # fmt: skip
    _report(client.get(handle.id).to_dict() if json_output else None, handle.id, handle.created,
            f"restart of {instance_id}")  # fmt: skip


def fork(
    ctx: typer.Context,
    instance_id: InstanceId,
    position: Annotated[
        int,
        typer.Argument(
            metavar="POSITION",
            help="The history position to fork at: the rows before it are reused "
            "(daytwo instance history ID shows them).",
        ),
    ],
    new_id: NewIdOption = None,
    version: VersionOption = None,
    reason: ReasonOption = None,
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Start an ended instance again from a history position: the new instance reuses the
    recorded results before POSITION and runs the rest."""
    client = open_client(ctx, database, app_spec, lookup=f"instance with id {instance_id!r}")
    handle = client.fork(instance_id, position, new_id=new_id, version=version, reason=reason,
                         by=operator(by))  # fmt: skip
    _report(client.get(handle.id).to_dict() if json_output else None, handle.id, handle.created,
            f"fork of {instance_id} at position {position}")  # fmt: skip


def _report(as_json: dict[str, object] | None, new_id: str, created: bool, what: str) -> None:
    if as_json is not None:
        print_json({**as_json, "created": created})
        return
    made = "started" if created else "exists already (the same request)"
    stdout_console().print(f"{new_id} ({what}) {made}; see `daytwo instance show {new_id}`")
