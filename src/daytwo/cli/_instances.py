"""Commands on instances: start, status, list, history, signal, cancel."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

import daytwo
from daytwo._serving import unserved_warnings_shown_elsewhere
from daytwo.cli._apps import client_app, database_option, load_app
from daytwo.cli._errors import CliError, ExitCode
from daytwo.cli._input import parse_json
from daytwo.cli._options import AppOption, DatabaseOption, JsonOption
from daytwo.cli._output import (
    abbreviate,
    duration,
    new_table,
    print_json,
    short_time,
    status_text,
    stderr_console,
    stdout_console,
    timestamp,
)

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
        typer.Option("--id", help="Instance id; starting an existing id starts nothing new."),
    ] = None,
    version: Annotated[
        str | None, typer.Option("--version", help="Workflow version (default: the newest).")
    ] = None,
    queue: Annotated[
        str | None, typer.Option("--queue", help="Queue to wait in (default: the workflow's).")
    ] = None,
    priority: Annotated[
        int | None,
        typer.Option("--priority", help="Lower runs first (default: the workflow's)."),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait until a worker finishes it; print its output.")
    ] = False,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", min=0, metavar="SECONDS", help="Give up waiting after this."),
    ] = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Start an instance of a workflow; print its id.

    A worker (`daytwo worker MODULE:APP`) runs it. With --wait, also print its output
    once it ends (exit code 1 if it ends other than SUCCEEDED).
    """
    value = parse_json(input_json, "INPUT_JSON")
    app = load_app(app_spec, database_option(ctx, database))
    with unserved_warnings_shown_elsewhere():  # the note below says it
        handle = app.start(
            workflow, value, id=instance_id, version=version, queue=queue, priority=priority
        )
    instance = handle.status()
    notes = stderr_console()
    if handle.created:
        notes.print(
            f"started instance {instance.id} of {instance.workflow} {instance.version} "
            f"in {app.database_url}"
        )
        if instance.held_by is not None:
            notes.print(f"note: {instance.held_by}; it is stored and runs once that changes")
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
        raise CliError(f"{exc}; it goes on durably", ExitCode.FAILED) from None
    finally:
        if json_output:
            print_json({**app.get(handle.id).to_dict(), "created": handle.created})
    if not json_output:
        print_json(output)


def status(
    ctx: typer.Context,
    instance_id: InstanceId,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Show one instance: status, state, what it waits for, input, output, error."""
    instance = client_app(database_option(ctx, database)).get(instance_id)
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
        ("waiting for", instance.waiting_for),
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
        str | None, typer.Option("--workflow", help="Only instances of this workflow.")
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
        str | None, typer.Option("--state", help="Only instances in this state label.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 100,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """List instances, newest first."""
    app = client_app(database_option(ctx, database))
    instances = app.list(workflow=workflow, status=statuses or None, state=state, limit=limit)
    if json_output:
        print_json([instance.to_dict() for instance in instances])
        return
    table = new_table(
        None,
        *("ID", "WORKFLOW", "STATUS", "STATE", "IN STATE", "WAITING FOR", "CREATED"),
        keep=("ID", "STATUS", "CREATED"),
    )
    now = datetime.now(UTC)
    for instance in instances:
        active = instance.finished_at is None
        table.add_row(
            instance.id,
            f"{instance.workflow} {instance.version}",
            status_text(instance.status),
            instance.state,
            duration((now - instance.state_entered_at).total_seconds()) if active else "",
            instance.waiting_for or "",
            short_time(instance.created_at),
        )
    more = " (limit reached; raise --limit to see more)" if len(instances) == limit else ""
    table.caption = f"{len(instances)} instance(s){more}"
    stdout_console().print(table)


def history(
    ctx: typer.Context,
    instance_id: InstanceId,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Show what an instance did: its history, failed attempts and state transitions."""
    app = client_app(database_option(ctx, database))
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
    console.print(_history_table(events))
    if attempts:
        console.print(_attempts_table(attempts))
    console.print(_transitions_table(transitions, active=instance.finished_at is None))


def _history_table(events: list[daytwo.HistoryEvent]) -> Table:
    table = new_table(
        "History",
        *("#", "KIND", "NAME", "OUTCOME", "TRY", "AT", "TOOK", "RESULT / ERROR"),
        keep=("NAME", "OUTCOME", "AT"),
    )
    for event in events:
        took = (event.finished_at - event.started_at).total_seconds()
        outcome = event.outcome
        style = "red" if outcome in ("failed", "timed_out") else ""
        table.add_row(
            str(event.seq),
            event.kind,
            event.name,
            Text(outcome, style=style),
            str(event.attempt),
            short_time(event.started_at),
            duration(took),
            _error_text(event.error) if event.error else abbreviate(event.result, 50),
        )
    if not events:
        table.caption = "nothing recorded yet"
    return table


def _attempts_table(attempts: list[daytwo.Attempt]) -> Table:
    table = new_table(
        "Failed attempts",
        *("#", "STEP", "ATTEMPT", "FAILED AT", "ERROR", "RETRY AT"),
        keep=("STEP", "FAILED AT", "RETRY AT"),
    )
    for attempt in attempts:
        table.add_row(
            str(attempt.seq),
            attempt.name,
            str(attempt.attempt),
            short_time(attempt.finished_at),
            _error_text(attempt.error),
            short_time(attempt.retry_at) or "no retry",
        )
    return table


def _transitions_table(transitions: list[daytwo.Transition], *, active: bool) -> Table:
    table = new_table(
        "State transitions", "AT", "STATE", "STATUS", "TIME IN STATE", keep=("AT", "STATE")
    )
    now = datetime.now(UTC)
    for index, transition in enumerate(transitions):
        if index + 1 < len(transitions):
            spent = duration((transitions[index + 1].at - transition.at).total_seconds())
        else:
            spent = f"{duration((now - transition.at).total_seconds())} so far" if active else ""
        table.add_row(
            short_time(transition.at),
            transition.to_state,
            status_text(transition.status),
            spent,
        )
    return table


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
    name: Annotated[str, typer.Argument(help="The signal's name.")],
    payload_json: Annotated[
        str | None,
        typer.Argument(
            metavar="PAYLOAD_JSON", help="""The payload as JSON, e.g. '{"ok": true}'."""
        ),
    ] = None,
    sent_by: Annotated[str | None, typer.Option("--by", help="Who sends it (recorded).")] = None,
    database: DatabaseOption = None,
) -> None:
    """Send a signal to an instance (it gets it when it waits for NAME, or at once)."""
    payload = parse_json(payload_json, "PAYLOAD_JSON")
    client_app(database_option(ctx, database)).signal(instance_id, name, payload, sent_by=sent_by)
    stdout_console().print(f"signal {name!r} sent to {instance_id}")


def cancel(
    ctx: typer.Context,
    instance_id: InstanceId,
    reason: Annotated[
        str, typer.Option("--reason", help="Why (recorded with the instance).")
    ] = "cancelled by operator",
    database: DatabaseOption = None,
) -> None:
    """Cancel an active instance: it stops at its next durable point and compensates."""
    client_app(database_option(ctx, database)).cancel(instance_id, reason)
    stdout_console().print(
        f"cancellation of {instance_id} requested; it stops at its next durable point and "
        "compensates its completed steps"
    )
