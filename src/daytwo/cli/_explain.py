"""``daytwo explain ID`` (also ``daytwo instance explain ID``): why an instance is where it
is, and what can be done about it now, on one screen."""

from __future__ import annotations

import typer
from rich.text import Text

from daytwo.cli._apps import open_client
from daytwo.cli._instances import InstanceId
from daytwo.cli._options import AppOption, DatabaseOption, JsonOption
from daytwo.cli._output import print_json, status_text, stdout_console

__all__ = ["explain_instance"]


def explain_instance(
    ctx: typer.Context,
    instance_id: InstanceId,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Say what an instance waits for and why (signal, task and assignee, timer, pending
    attempt and its last error, pause, circuit, dependency limit, queue, lease holder), and
    the actions that apply now."""
    client = open_client(ctx, database, app_spec, lookup=f"instance with id {instance_id!r}")
    found = client.explain(instance_id)
    if json_output:
        print_json(found.to_dict())
        return
    console = stdout_console()
    head = Text(found.summary)
    head.highlight_words(
        [str(found.instance.status)], style=status_text(found.instance.status).style
    )
    console.print(head)
    if found.instance.error is not None and found.instance.status.terminal:
        error = found.instance.error
        console.print(f"  error: {error.get('type')}: {error.get('message')}")
    for reason in found.reasons:
        console.print(f"  - {reason}")
    if found.actions:
        console.print("what you can do now:")
        width = max(len(action.command) for action in found.actions)
        for action in found.actions:
            console.print(f"  {action.command:<{width}}  # {action.effect}")
