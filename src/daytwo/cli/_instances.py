"""Commands on instances: start, status, list, signal, cancel (history in _history.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.table import Table

import daytwo
from daytwo import InstanceStatus
from daytwo._moments import parse_ago
from daytwo._serving import unserved_warnings_shown_elsewhere
from daytwo.cli._apps import explicit_database, load_app, open_client, over_http
from daytwo.cli._errors import CliError, ExitCode
from daytwo.cli._input import parse_json
from daytwo.cli._options import (
    FLAG,
    AppOption,
    ByOption,
    DatabaseOption,
    JsonOption,
    LimitOption,
    PriorityOption,
    QueueOption,
    VersionOption,
    operator,
)
from daytwo.cli._output import (
    Column,
    Row,
    abbreviate,
    duration,
    print_json,
    print_table,
    short_time,
    status_text,
    stderr_console,
    stdout_console,
    timestamp,
)
from daytwo.store import display_url

__all__ = [
    "InstanceId",
    "cancel",
    "error_text",
    "list_instances",
    "signal",
    "start",
    "status",
    "unregistered",
]

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
    version: VersionOption = None,
    queue: QueueOption = None,
    priority: PriorityOption = None,
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
    deadline_in: Annotated[
        str | None,
        typer.Option(
            "--deadline-in",
            metavar="DURATION",
            help="Fail the instance (DeadlineExceeded) if still active this long after its "
            "start (30m, 36h, 3d); overrides the workflow's timeout=.",
        ),
    ] = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Start an instance of a workflow; print its id.

    A worker (`daytwo worker MODULE:APP`) runs it. With --app, the input is checked
    against the workflow's code (and an empty database is created); without, the version,
    queue and priority are those the workers registered. With --wait, also print its output
    once it ends (exit code 1 if it ends other than SUCCEEDED, 7 if --timeout passes first).
    """
    value = parse_json(input_json, "INPUT_JSON")
    options: dict[str, Any] = {
        "id": instance_id, "version": version, "queue": queue, "priority": priority,
        "timeout": _span(deadline_in),
    }  # fmt: skip
    with unserved_warnings_shown_elsewhere():  # the note below says it
        if app_spec and not over_http(
            ctx
        ):  # the code: the input is checked against the workflow's signature
            handle = load_app(app_spec, explicit_database(ctx, database)).start(
                workflow, value, **options
            )
        else:  # no code: the workers' registrations say the version, queue and priority
            handle = _start_by_name(open_client(ctx, database), workflow, value, options)
    client = handle.client
    instance = handle.status()
    notes = stderr_console()
    if handle.created:
        notes.print(
            f"started instance {instance.id} of {instance.workflow} {instance.version} "
            f"in {display_url(client.database_url)}"
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
        _wait_and_print(handle, timeout, json_output)


def _span(text: str | None) -> timedelta | None:
    """``--deadline-in``'s duration; a malformed one is refused naming the forms."""
    if text is None:
        return None
    span = parse_ago(text)
    if span is None:
        raise CliError(
            f"--deadline-in {text!r} is not a duration; give one like 30m, 36h or 3d",
            ExitCode.BAD_INPUT,
        )
    return span


def _start_by_name(
    client: daytwo.Client, workflow: str, value: Any, options: dict[str, Any]
) -> daytwo.InstanceHandle:
    try:
        return client.start(workflow, value, **options)
    except daytwo.WorkflowNotFound as exc:
        raise unregistered(exc, workflow, "the instance") from None


def unregistered(exc: daytwo.WorkflowNotFound, workflow: str, what: str) -> CliError:
    """The error of a start by name of a workflow no worker registered."""
    known = ", ".join(exc.known) or "none"
    return CliError(
        f"unknown workflow {workflow!r}: no worker has registered it (workers registered: "
        f"{known}); pass your workflow code with --app MODULE:APP, start a worker with it, "
        f"or give --version to store {what} anyway"
    )


def _wait_and_print(
    handle: daytwo.InstanceHandle, timeout: float | None, json_output: bool
) -> None:
    """Print the output (or, with --json, the ended instance); fail unless it SUCCEEDED."""
    try:
        output = handle.result(timeout=timeout)
    except TimeoutError as exc:
        raise CliError(f"{exc}; it goes on durably", ExitCode.TIMEOUT) from None
    finally:
        if json_output:
            print_json({**handle.status().to_dict(), "created": handle.created})
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
    client = open_client(ctx, database, app_spec, lookup=f"instance with id {instance_id!r}")
    instance = client.get(instance_id)
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
        ("cancel", _cancel_text(instance)),
        ("deadline", timestamp(instance.deadline_at) or None),
        ("created", timestamp(instance.created_at)),
        ("updated", timestamp(instance.updated_at)),
        ("finished", timestamp(instance.finished_at) or None),
        ("queue", f"{instance.queue} (priority {instance.priority})"),
        ("input", abbreviate(instance.input, 2000)),
        ("output", abbreviate(instance.output, 2000) or None),
        ("error", error_text(instance.error) or None),
        # (A child's link to its parent is shown below, with the status of each.)
        ("links", "; ".join(_made_links(instance)) or None),
        ("parent", instance.parent.describe() if instance.parent else None),
        ("children", "\n".join(child.describe() for child in instance.children or ()) or None),
    ]
    for label, value in rows:
        if value is not None:
            table.add_row(label, value)
    stdout_console().print(table)


def _made_links(instance: daytwo.Instance) -> list[str]:
    links = instance.links or ()
    return [link.describe() for link in links if link.kind is not daytwo.LinkKind.CHILD_OF]


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
            help="Only instances in this status (repeat for several): "
            + ", ".join(InstanceStatus)
            + ".",
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
    client = open_client(ctx, database, app_spec)
    instances = client.list(workflow=workflow, status=statuses or None, state=state, limit=limit)
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
        caption=f"{len(instances)} instance(s) in {display_url(client.database_url)}{more}",
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


def _cancel_text(instance: daytwo.Instance) -> str | None:
    if instance.cancel_reason is None:
        return None
    return f"{instance.cancel_reason} ({instance.cancel_outcome})"


def error_text(error: dict[str, Any] | None) -> str:
    """An error record in one line: ``Type: message`` (and a failed compensation's)."""
    if not error:
        return ""
    text = f"{error.get('type', 'Error')}: {error.get('message', '')}"
    compensation = error.get("compensation_error")
    if isinstance(compensation, dict):
        text += f" (then compensation failed: {error_text(compensation)})"
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
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Send a signal to an instance (it gets it when it waits for NAME, or at once)."""
    payload = parse_json(payload_json, "PAYLOAD_JSON")
    client = open_client(ctx, database, app_spec, lookup=f"instance with id {instance_id!r}")
    client.signal(instance_id, name, payload, sent_by=operator(sent_by))
    if json_output:
        print_json({"signal": name, "instance": client.get(instance_id).to_dict()})
        return
    stdout_console().print(f"signal {name!r} sent to {instance_id}")


def cancel(
    ctx: typer.Context,
    instance_id: InstanceId,
    reason: Annotated[
        str, typer.Option("--reason", metavar="TEXT", help="Why (recorded with the instance).")
    ] = "cancelled by operator",
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Cancel an active instance: it stops at its next durable point and compensates."""
    client = open_client(ctx, database, app_spec, lookup=f"instance with id {instance_id!r}")
    client.cancel(instance_id, reason, by=operator(by))
    if json_output:
        print_json(client.get(instance_id).to_dict())
        return
    stdout_console().print(
        f"cancellation of {instance_id} requested; it stops at its next durable point (at "
        "the latest instead of ending) and compensates its completed steps; see "
        f"`daytwo instance show {instance_id}`"
    )
