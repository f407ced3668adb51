"""``daytwo instance start-many``: start one instance per line of a JSON Lines file, in one
commit (imports, backfills, fan-outs from a script)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer

import daytwo
from daytwo._serving import unserved_warnings_shown_elsewhere
from daytwo.cli._apps import explicit_database, load_app, open_client, over_http
from daytwo.cli._errors import CliError
from daytwo.cli._instances import unregistered
from daytwo.cli._options import (
    AppOption,
    DatabaseOption,
    JsonOption,
    PriorityOption,
    QueueOption,
    VersionOption,
)
from daytwo.cli._output import print_json, stderr_console
from daytwo.store import display_url

__all__ = ["start_many"]


def start_many(
    ctx: typer.Context,
    workflow: Annotated[
        str, typer.Argument(metavar="WORKFLOW", help="Name of the workflow to start.")
    ],
    inputs_file: Annotated[
        str,
        typer.Argument(
            metavar="FILE",
            help="JSON Lines: one input per line ('-' reads standard input).",
        ),
    ],
    id_key: Annotated[
        str | None,
        typer.Option(
            "--id-key",
            metavar="KEY",
            help="Take each instance's id from this key of its input (an object): starting "
            "the file again starts nothing twice.",
        ),
    ] = None,
    app_spec: AppOption = None,
    version: VersionOption = None,
    queue: QueueOption = None,
    priority: PriorityOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Start one instance per line of FILE, all in one commit; print how many.

    All or nothing: a line that is not JSON, an input the workflow cannot take (checked
    with --app) or an id started with another input stores none of them. With --json,
    print each instance's id and whether this command created it.
    """
    inputs = _read_inputs(inputs_file)
    ids = None if id_key is None else [_id_of(value, id_key, n) for n, value in inputs]
    values = [value for _, value in inputs]
    options: dict[str, Any] = {"ids": ids, "version": version, "queue": queue,
                               "priority": priority}  # fmt: skip
    with unserved_warnings_shown_elsewhere():
        if app_spec and not over_http(ctx):
            source: daytwo.App | daytwo.Client = load_app(
                app_spec, explicit_database(ctx, database)
            )
        else:
            source = open_client(ctx, database)
        try:
            handles = source.start_many(workflow, values, **options)
        except daytwo.WorkflowNotFound as exc:
            raise unregistered(exc, workflow, "the instances") from None
    created = sum(handle.created for handle in handles)
    where = display_url(source.database_url)
    stderr_console().print(
        f"started {created} instance(s) of {workflow} in {where}"
        + (f"; {len(handles) - created} existed already" if created < len(handles) else "")
    )
    if json_output:
        print_json([{"id": h.id, "created": h.created} for h in handles])
    else:
        print(created, flush=True)


def _read_inputs(path: str) -> list[tuple[int, Any]]:
    """(line number, input) for each non-blank line of the file (or stdin for ``-``)."""
    if path == "-":
        return list(_parsed(sys.stdin, "<stdin>"))
    try:
        with Path(path).open(encoding="utf-8") as file:
            return list(_parsed(file, path))
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise CliError(
            f"cannot read {path!r}: {exc.strerror}; give a JSON Lines file, one input per "
            "line, or '-' for standard input"
        ) from None


def _parsed(lines: TextIO, name: str) -> Iterator[tuple[int, Any]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line.rstrip("\r\n"))
        except json.JSONDecodeError as exc:
            raise CliError(
                f"{name}:{number}: not valid JSON ({exc.msg} at column {exc.colno}); each line "
                """must be one JSON value, e.g. {"total": 10}; nothing was started"""
            ) from None


def _id_of(value: Any, key: str, line: int) -> str:
    found = value.get(key) if isinstance(value, dict) else None
    if not isinstance(found, str | int) or isinstance(found, bool) or found == "":
        raise CliError(
            f"line {line}: the input has no {key!r} to use as its id (--id-key {key}); give "
            "every line that key with a string or integer value; nothing was started"
        )
    return str(found)
