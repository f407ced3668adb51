"""Commands on instances: start, status, list, history, signal, cancel."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

import daytwo
from daytwo.cli._apps import client_app, explicit_database, load_app
from daytwo.cli._errors import CliError, ExitCode
from daytwo.cli._input import parse_json
from daytwo.cli._options import (
    FLAG,
    AppOption,
    ByOption,
    DatabaseOption,
    JsonOption,
    LimitOption,
    operator,
)
from daytwo.cli._output import (
    Column,
    Row,
    abbreviate,
    duration,
    fit_table,
    print_json,
    print_table,
    short_time,
    status_text,
    stderr_console,
    stdout_console,
    timestamp,
)
from daytwo.store._database import display_url

__all__ = ["cancel", "history", "list_instances", "signal", "start", "status"]

InstanceId = Annotated[str, typer.Argument(metavar="ID", help="The instance id.")]


def start(
    ctx: typer.Context,
    workflow: Annotated[
        str, typer.Argument(metavar="WORKFLOW", help="Name of the workflow to start.")
    ],
    input_json: Annotated[
        str | None,
        typer.Argument(metavar="INPUT_JSON", help="""The input as JSON, e.g. '{"total": 10}'."""),
    ] = None,
    app_spec: AppOption = None,
    instance_id: Annotated[
        str | None,
        typer.Option(
            "--id", metavar="ID", help="Instance id; starting an existing id starts nothing new."
        ),
    ] = None,
    version: Annotated[
        str | None,
        typer.Option(
            "--version", metavar="VERSION", help="Workflow version (default: the newest)."
        ),
    ] = None,
    queue: Annotated[
        str | None,
        typer.Option(
            "--queue", metavar="QUEUE", help="Queue to wait in (default: the workflow's)."
        ),
    ] = None,
    priority: Annotated[
        int | None,
        typer.Option("--priority", metavar="N", help="Lower runs first (default: the workflow's)."),
    ] = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait", metavar=FLAG, help="Wait until a worker finishes it; print its output."
        ),
    ] = False,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            min=0,
            metavar="SECONDS",
            help="Give up waiting after this (exit 7; the instance goes on).",
        ),
    ] = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Start an instance of a workflow; print its id.

    A worker (`daytwo worker MODULE:APP`) runs it. With --wait, also print its output
    once it ends (exit code 1 if it ends other than SUCCEEDED, 7 if --timeout passes first).
    """
    value = parse_json(input_json, "INPUT_JSON")
    app = load_app(app_spec, explicit_database(ctx, database))
    handle = app.start(
        workflow, value, id=instance_id, version=version, queue=queue, priority=priority
    )
    instance = handle.status()
    notes = stderr_console()
    if handle.created:
        notes.print(
            f"started instance {instance.id} of {instance.workflow} {instance.version} "
            f"in {display_url(app.database_url)}"
        )
    else:
        notes.print(
            f"instance {instance.id} already exists ({instance.status}); it was not started again"
        )
    if not json_output:
        print(instance.id, flush=True)
    elif not wait:
        print_json({**instance.to_dict(), "created": handle.created})
    if wait:
        _wait_and_print(app, handle, timeout, json_output)


def _wait_and_print(
    app: daytwo.App, handle: daytwo.InstanceHandle, timeout: float | None, json_output: bool
) -> None:
    """Print the output (or, with --json, the ended instance); fail unless it SUCCEEDED."""
    try:
        output = handle.result(timeout=timeout)
    except TimeoutError as exc:
        raise CliError(f"{exc}; it goes on durably", ExitCode.TIMEOUT) from None
    finally:
        if json_output:
            print_json({**app.get(handle.id).to_dict(), "created": handle.created})
    if not json_output:
        print_json(output)


def status(
    ctx: typer.Context,
    instance_id: InstanceId,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Show one instance: status, state, what it waits for, input, output, error."""
    app = client_app(ctx, database, app_spec, lookup=f"instance with id {instance_id!r}")
    instance = app.get(instance_id)
    if json_output:
        print_json(instance.to_dict())
        return
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    rows: list[tuple[str, Any]] = [
        ("id", instance.id),
        ("workflow", f"{instance.workflow} (version {instance.version})"),
        ("status", status_text(instance.status)),
        ("state", f"{instance.state} since {timestamp(instance.state_entered_at)}"),
        ("waiting for", waiting_for(instance)),
        ("attempt", str(instance.attempt) if instance.attempt else None),
        ("leased by", instance.lease_owner),
        ("cancel reason", instance.cancel_reason),
        ("created", timestamp(instance.created_at)),
        ("updated", timestamp(instance.updated_at)),
        ("finished", timestamp(instance.finished_at) or None),
        ("queue", f"{instance.queue} (priority {instance.priority})"),
        ("input", abbreviate(instance.input, 2000)),
        ("output", abbreviate(instance.output, 2000) or None),
        ("error", _error_text(instance.error) or None),
    ]
    for label, value in rows:
        if value is not None:
            table.add_row(label, value)
    stdout_console().print(table)


def list_instances(
    ctx: typer.Context,
    workflow: Annotated[
        str | None,
        typer.Option("--workflow", metavar="WORKFLOW", help="Only instances of this workflow."),
    ] = None,
    statuses: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            metavar="STATUS",
            help="Only instances in this status (repeat for several): RUNNABLE, RUNNING, "
            "WAITING, SUCCEEDED, FAILED, COMPENSATED, COMPENSATION_FAILED, CANCELLED, "
            "INCOMPATIBLE.",
        ),
    ] = None,
    state: Annotated[
        str | None,
        typer.Option("--state", metavar="STATE", help="Only instances in this state label."),
    ] = None,
    limit: LimitOption = 100,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """List instances, newest first."""
    app = client_app(ctx, database, app_spec)
    instances = app.list(workflow=workflow, status=statuses or None, state=state, limit=limit)
    if json_output:
        print_json([instance.to_dict() for instance in instances])
        return
    now = datetime.now(UTC)
    rows: list[Row] = [
        {
            "ID": instance.id,
            "WORKFLOW": f"{instance.workflow} {instance.version}",
            "STATUS": status_text(instance.status),
            "STATE": instance.state,
            "IN STATE": duration((now - instance.state_entered_at).total_seconds())
            if instance.finished_at is None
            else "",
            "WAITING FOR": waiting_for(instance) or "",
            "CREATED": short_time(instance.created_at),
        }
        for instance in instances
    ]
    more = " (limit reached; raise --limit to see more)" if len(instances) == limit else ""
    print_table(
        LIST_COLUMNS,
        rows,
        caption=f"{len(instances)} instance(s) in {display_url(app.database_url)}{more}",
    )


#: ``daytwo list``: on a narrow terminal the creation time goes first, then the time in
#: state; what an instance waits for is the last to go (a long workflow name puts its
#: version on a second line).
LIST_COLUMNS = (
    Column("ID"),
    Column("WORKFLOW", wrap=True, min_width=1),
    Column("STATUS"),
    Column("STATE", wrap=True),
    Column("IN STATE", drop=2),
    Column("WAITING FOR", wrap=True, drop=3),
    Column("CREATED", drop=1),
)


def waiting_for(instance: daytwo.Instance) -> str | None:
    """What the instance waits for, its wake-up time shown like every other time."""
    text = instance.waiting_for
    if text and instance.wake_at is not None:
        text = text.replace(instance.wake_at.isoformat(), timestamp(instance.wake_at))
    return text


def history(
    ctx: typer.Context,
    instance_id: InstanceId,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Show what an instance did: its history, failed attempts and state transitions."""
    app = client_app(ctx, database, app_spec, lookup=f"instance with id {instance_id!r}")
    instance = app.get(instance_id)
    events = app.history(instance_id)
    attempts = app.attempts(instance_id)
    transitions = app.transitions(instance_id)
    if json_output:
        print_json(
            {
                "instance": instance.to_dict(),
                "history": [event.to_dict() for event in events],
                "attempts": [attempt.to_dict() for attempt in attempts],
                "transitions": [transition.to_dict() for transition in transitions],
            }
        )
        return
    console = stdout_console()
    console.print(
        Text(instance.id, style="bold"),
        f" {instance.workflow} {instance.version} ",
        status_text(instance.status),
        f"  state {instance.state}",
    )
    width = console.width
    console.print(_history_table(events, width))
    if attempts:
        console.print(_attempts_table(attempts, width))
    console.print(_transitions_table(transitions, width, active=instance.finished_at is None))


HISTORY_COLUMNS = (
    Column("#"),
    Column("KIND", drop=2),
    Column("NAME"),
    Column("OUTCOME"),
    Column("TRY", drop=3),
    Column("AT"),
    Column("TOOK", drop=1),
    Column("RESULT / ERROR", wrap=True),
)


def _history_table(events: list[daytwo.HistoryEvent], width: int) -> Table:
    rows: list[Row] = []
    for event in events:
        took = (event.finished_at - event.started_at).total_seconds()
        outcome = event.outcome
        style = "red" if outcome in ("failed", "timed_out") else ""
        rows.append(
            {
                "#": str(event.seq),
                "KIND": event.kind,
                "NAME": event.name,
                "OUTCOME": Text(outcome, style=style),
                "TRY": str(event.attempt),
                "AT": short_time(event.started_at),
                "TOOK": duration(took),
                "RESULT / ERROR": _error_text(event.error)
                if event.error
                else abbreviate(event.result, 50),
            }
        )
    caption = None if events else "nothing recorded yet"
    return fit_table(HISTORY_COLUMNS, rows, width=width, title="History", caption=caption)


ATTEMPT_COLUMNS = (
    Column("#", drop=1),
    Column("STEP"),
    Column("ATTEMPT"),
    Column("FAILED AT"),
    Column("ERROR", wrap=True),
    Column("RETRY AT"),
)


def _attempts_table(attempts: list[daytwo.Attempt], width: int) -> Table:
    rows: list[Row] = [
        {
            "#": str(attempt.seq),
            "STEP": attempt.name,
            "ATTEMPT": str(attempt.attempt),
            "FAILED AT": short_time(attempt.finished_at),
            "ERROR": _error_text(attempt.error),
            "RETRY AT": short_time(attempt.retry_at) or "no retry",
        }
        for attempt in attempts
    ]
    return fit_table(ATTEMPT_COLUMNS, rows, width=width, title="Failed attempts")


TRANSITION_COLUMNS = (Column("AT"), Column("STATE"), Column("STATUS"), Column("TIME IN STATE"))


def _transitions_table(transitions: list[daytwo.Transition], width: int, *, active: bool) -> Table:
    now = datetime.now(UTC)
    rows: list[Row] = []
    for index, transition in enumerate(transitions):
        if index + 1 < len(transitions):
            spent = duration((transitions[index + 1].at - transition.at).total_seconds())
        else:
            spent = f"{duration((now - transition.at).total_seconds())} so far" if active else ""
        rows.append(
            {
                "AT": short_time(transition.at),
                "STATE": transition.to_state,
                "STATUS": status_text(transition.status),
                "TIME IN STATE": spent,
            }
        )
    return fit_table(TRANSITION_COLUMNS, rows, width=width, title="State transitions")


def _error_text(error: dict[str, Any] | None) -> str:
    if not error:
        return ""
    text = f"{error.get('type', 'Error')}: {error.get('message', '')}"
    compensation = error.get("compensation_error")
    if isinstance(compensation, dict):
        text += f" (then compensation failed: {_error_text(compensation)})"
    return text


def signal(
    ctx: typer.Context,
    instance_id: InstanceId,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The signal's name.")],
    payload_json: Annotated[
        str | None,
        typer.Argument(
            metavar="PAYLOAD_JSON", help="""The payload as JSON, e.g. '{"ok": true}'."""
        ),
    ] = None,
    sent_by: ByOption = None,
    app_spec: AppOption = None,
    database: DatabaseOption = None,
) -> None:
    """Send a signal to an instance (it gets it when it waits for NAME, or at once)."""
    payload = parse_json(payload_json, "PAYLOAD_JSON")
    app = client_app(ctx, database, app_spec, lookup=f"instance with id {instance_id!r}")
    app.signal(instance_id, name, payload, sent_by=operator(sent_by))
    stdout_console().print(f"signal {name!r} sent to {instance_id}")


def cancel(
    ctx: typer.Context,
    instance_id: InstanceId,
    reason: Annotated[
        str, typer.Option("--reason", metavar="TEXT", help="Why (recorded with the instance).")
    ] = "cancelled by operator",
    app_spec: AppOption = None,
    database: DatabaseOption = None,
) -> None:
    """Cancel an active instance: it stops at its next durable point and compensates."""
    app = client_app(ctx, database, app_spec, lookup=f"instance with id {instance_id!r}")
    app.cancel(instance_id, reason)
    stdout_console().print(
        f"cancellation of {instance_id} requested; it stops at its next durable point and "
        "compensates its completed steps"
    )
