"""Operator actions on one instance: ``daytwo instance retry|skip|resume|abort|terminate|wake``.

Each command is the Client method of the same name (``daytwo/_actions.py``): checked against
the instance's state (a refusal exits 5 and names what would work), audited with ``--by``
and ``--reason``, and printing the instance after the change (``--json``: its record).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

import daytwo
from daytwo.cli._apps import open_client
from daytwo.cli._input import parse_json
from daytwo.cli._instances import InstanceId
from daytwo.cli._options import (
    AppOption,
    ByOption,
    DatabaseOption,
    JsonOption,
    ReasonOption,
    operator,
)
from daytwo.cli._output import print_json, stdout_console

__all__ = ["abort", "resume", "retry", "skip", "terminate", "wake"]

#: A Client action: (client, instance id, reason, actor) -> the instance after it.
_Action = Callable[[daytwo.Client, str, str | None, str], daytwo.Instance]


def _act(
    ctx: typer.Context,
    instance_id: str,
    reason: str | None,
    by: str | None,
    app_spec: str | None,
    database: str | None,
    json_output: bool,
    action: _Action,
    done: str,
) -> None:
    client = open_client(ctx, database, app_spec, lookup=f"instance with id {instance_id!r}")
    instance = action(client, instance_id, reason, operator(by))
    if json_output:
        print_json(instance.to_dict())
        return
    stdout_console().print(
        f"{instance_id}: {done}; now {instance.status} in state {instance.state!r} (see "
        f"`daytwo instance show {instance_id}`)"
    )


def retry(
    ctx: typer.Context,
    instance_id: InstanceId,
    reason: ReasonOption = None,
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Run a parked step again now (a fresh retry budget), or end a retry backoff now; same
    idempotency key."""
    _act(ctx, instance_id, reason, by, app_spec, database, json_output,
         lambda c, i, r, b: c.retry(i, reason=r, by=b), "the step runs again now")  # fmt: skip


def skip(
    ctx: typer.Context,
    instance_id: InstanceId,
    result_json: Annotated[
        str,
        typer.Argument(
            metavar="RESULT_JSON", help="""The step's result as JSON, e.g. '{"receipt": "r-1"}'."""
        ),
    ],
    reason: ReasonOption = None,
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Complete a parked (or backing-off) step with RESULT_JSON, recorded as supplied by you;
    the instance runs on from the next step."""
    result = parse_json(result_json, "RESULT_JSON")
    _act(ctx, instance_id, reason, by, app_spec, database, json_output,
         lambda c, i, r, b: c.skip(i, result, reason=r, by=b),
         "the step is recorded as completed with your result")  # fmt: skip


def resume(
    ctx: typer.Context,
    instance_id: InstanceId,
    reason: ReasonOption = None,
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Continue a parked instance from its parked step, under the code deployed now."""
    _act(ctx, instance_id, reason, by, app_spec, database, json_output,
         lambda c, i, r, b: c.resume(i, reason=r, by=b), "resumed at its parked step")  # fmt: skip


def abort(
    ctx: typer.Context,
    instance_id: InstanceId,
    reason: ReasonOption = None,
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """End with compensation: a parked instance compensates now, a running or waiting one
    at its next durable point."""
    _act(ctx, instance_id, reason, by, app_spec, database, json_output,
         lambda c, i, r, b: c.abort(i, reason=r, by=b),
         "aborted; its completed steps are compensated")  # fmt: skip


def terminate(
    ctx: typer.Context,
    instance_id: InstanceId,
    reason: ReasonOption = None,
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """End an active instance now, TERMINATED, without compensation."""
    _act(ctx, instance_id, reason, by, app_spec, database, json_output,
         lambda c, i, r, b: c.terminate(i, reason=r, by=b),
         "terminated; nothing was compensated")  # fmt: skip


def wake(
    ctx: typer.Context,
    instance_id: InstanceId,
    reason: ReasonOption = None,
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Skip the rest of a timed wait now: a timer fires, a backoff retries, a signal
    timeout passes."""
    _act(ctx, instance_id, reason, by, app_spec, database, json_output,
         lambda c, i, r, b: c.wake(i, reason=r, by=b), "woken")  # fmt: skip
