"""``daytwo history ID``: what an instance did, its failed attempts and state transitions."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich.table import Table
from rich.text import Text

import daytwo
from daytwo.cli._apps import open_client
from daytwo.cli._instances import InstanceId, error_text
from daytwo.cli._options import AppOption, DatabaseOption, JsonOption
from daytwo.cli._output import (
    Column,
    Row,
    abbreviate,
    duration,
    fit_table,
    print_json,
    short_time,
    status_text,
    stdout_console,
)

__all__ = ["history"]


def history(
    ctx: typer.Context,
    instance_id: InstanceId,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Show what an instance did: its history, failed attempts and state transitions."""
    client = open_client(ctx, database, app_spec, lookup=f"instance with id {instance_id!r}")
    instance = client.get(instance_id)
    events = client.history(instance_id)
    attempts = client.attempts(instance_id)
    transitions = client.transitions(instance_id)
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


_BAD_OUTCOMES = frozenset(
    {daytwo.HistoryOutcome.FAILED, daytwo.HistoryOutcome.TIMED_OUT, daytwo.HistoryOutcome.CANCELLED}
)


def _history_table(events: list[daytwo.HistoryEvent], width: int) -> Table:
    rows: list[Row] = []
    for event in events:
        took = (event.finished_at - event.started_at).total_seconds()
        outcome = event.outcome
        style = "red" if outcome in _BAD_OUTCOMES else ""
        rows.append(
            {
                "#": str(event.seq),
                "KIND": event.kind,
                "NAME": event.name,
                "OUTCOME": Text(outcome, style=style),
                "TRY": str(event.attempt),
                "AT": short_time(event.started_at),
                "TOOK": duration(took),
                "RESULT / ERROR": (
                    error_text(event.error) if event.error else abbreviate(event.result, 50)
                )
                + _operator_note(event.detail),
            }
        )
    caption = None if events else "nothing recorded yet"
    return fit_table(HISTORY_COLUMNS, rows, width=width, title="History", caption=caption)


#: Who decided an operation's outcome instead of the code, by the key of its ``detail``.
_OPERATOR_DECIDED = {"skipped_by": "skipped by", "aborted_by": "aborted by", "by": "by"}


def _operator_note(detail: dict[str, object] | None) -> str:
    """`` (skipped by ann: charged by phone)`` for an outcome an operator supplied."""
    for key, words in _OPERATOR_DECIDED.items():
        if detail and key in detail:
            reason = detail.get("reason")
            return f" ({words} {detail[key]}{f': {reason}' if reason else ''})"
    return ""


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
            "ERROR": error_text(attempt.error),
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
