"""Circuit breakers: ``daytwo breaker list | show | set | open | close | reset``."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

import daytwo
from daytwo import AuditTarget, BreakerPolicy, BreakerStatus, OperatorAction
from daytwo.cli._apps import open_client
from daytwo.cli._flow import ForceOption
from daytwo.cli._options import (
    AppOption,
    ByOption,
    DatabaseOption,
    JsonOption,
    ReasonOption,
    operator,
)
from daytwo.cli._output import Column, Row, print_json, print_table, short_time, stdout_console
from daytwo.store import AuditEntry

__all__ = [
    "close_breaker",
    "list_breakers",
    "open_breaker",
    "reset_breaker",
    "set_breaker",
    "show_breaker",
]

NameArgument = Annotated[
    str, typer.Argument(metavar="DEPENDENCY", help="As in @app.step(dependency=).")
]

BREAKER_COLUMNS = (
    Column("DEPENDENCY"),
    Column("STATE"),
    Column("FAIL RATE"),
    Column("CALLS"),
    Column("SINCE"),
    Column("UNTIL"),
    Column("WAITING"),
    Column("POLICY", wrap=True, drop=1),
)


def _time(moment: float | None) -> str:
    return "" if moment is None else short_time(datetime.fromtimestamp(moment, UTC))


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}%"


def _policy_text(policy: BreakerPolicy) -> str:
    text = f"open at {policy.failure_rate:g}% of {policy.describe_window}"
    text += f" (min {policy.minimum_calls}), open {policy.open_for:g} s"
    text += f", {policy.half_open_calls} probe(s)"
    if policy.slow_call_duration is not None:
        text += f", slow > {policy.slow_call_duration:g} s at {policy.slow_call_rate:g}%"
    return text


def _row(status: BreakerStatus) -> Row:
    view, window = status.breaker, status.window
    state = str(view.state).replace("_", " ")
    if view.state is daytwo.BreakerState.HALF_OPEN:
        state += f" ({view.probe_calls}/{view.policy.half_open_calls} probes)"
    return {
        "DEPENDENCY": view.name,
        "STATE": state,
        "FAIL RATE": _rate(window.failure_rate),
        "CALLS": str(window.calls),
        "SINCE": _time(view.since),
        "UNTIL": _time(view.until),
        "WAITING": str(status.waiting),
        "POLICY": f"{_policy_text(view.policy)} [{view.policy_source}]",
    }


def _print(statuses: list[BreakerStatus], json_output: bool, caption: str | None = None) -> None:
    if json_output:
        print_json([status.to_dict() for status in statuses])
        return
    print_table(BREAKER_COLUMNS, [_row(status) for status in statuses], caption=caption)


def list_breakers(
    ctx: typer.Context,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """List the circuit breakers: state, failure rate and calls in the window, since and
    until when, instances waiting at the circuit, the policy (and who set it)."""
    statuses = open_client(ctx, database, app_spec).breakers.list()
    _print(statuses, json_output, f"{len(statuses)} breaker(s)")


def show_breaker(
    ctx: typer.Context,
    name: NameArgument,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Show one circuit breaker."""
    status = open_client(ctx, database, app_spec).breakers.get(name)
    if json_output:
        print_json(status.to_dict())
        return
    _print([status], False)


def set_breaker(
    ctx: typer.Context,
    name: NameArgument,
    failure_rate: Annotated[
        float | None,
        typer.Option("--failure-rate", metavar="PERCENT", help="Open at this failure rate."),
    ] = None,
    window: Annotated[
        int | None, typer.Option("--window", metavar="N", help="Judge the last N calls.")
    ] = None,
    window_seconds: Annotated[
        float | None,
        typer.Option("--window-seconds", metavar="S", help="Judge the calls of the last S s."),
    ] = None,
    minimum_calls: Annotated[
        int | None,
        typer.Option("--minimum-calls", metavar="N", help="Judge only a window of N calls."),
    ] = None,
    slow_call_duration: Annotated[
        float | None,
        typer.Option("--slow-call-duration", metavar="S", help="A call slower than S s is slow."),
    ] = None,
    slow_call_rate: Annotated[
        float | None,
        typer.Option("--slow-call-rate", metavar="PERCENT", help="Open at this slow-call rate."),
    ] = None,
    open_for: Annotated[
        float | None,
        typer.Option("--open-for", metavar="S", help="Stay open S s, then probe."),
    ] = None,
    half_open_calls: Annotated[
        int | None,
        typer.Option("--half-open-calls", metavar="N", help="Probe calls when half-open."),
    ] = None,
    force: ForceOption = False,
    reason: ReasonOption = None,
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Set DEPENDENCY's breaker policy (options not given keep their current value, else
    the default); the stored setting wins over the code's declaration."""
    client = open_client(ctx, database, app_spec)
    changes: dict[str, Any] = {
        key: value
        for key, value in (
            ("failure_rate", failure_rate),
            ("window", window),
            ("window_seconds", window_seconds),
            ("minimum_calls", minimum_calls),
            ("slow_call_duration", slow_call_duration),
            ("slow_call_rate", slow_call_rate),
            ("open_for", open_for),
            ("half_open_calls", half_open_calls),
        )
        if value is not None
    }
    # One kind of window: the one given replaces the other.
    if window is not None and window_seconds is None:
        changes["window_seconds"] = None
    if window_seconds is not None and window is None:
        changes["window"] = None
    entry = AuditEntry(
        operator(by), OperatorAction.BREAKER_SET, AuditTarget.BREAKER, name, reason, changes
    )
    with client.audit.refusals(entry):
        current = {s.name: s.breaker.policy for s in client.breakers.list()}.get(name)
        policy = replace(current or BreakerPolicy(), **changes)
    status = client.breakers.configure(name, policy, reason=reason, by=by, force=force)
    if json_output:
        print_json(status.to_dict())
        return
    stdout_console().print(f"breaker {name}: {_policy_text(status.breaker.policy)}")


def _act(
    ctx: typer.Context,
    verb: str,
    name: str,
    reason: str | None,
    by: str | None,
    app_spec: str | None,
    json_output: bool,
    database: str | None,
) -> None:
    breakers = open_client(ctx, database, app_spec).breakers
    action = {"open": breakers.open, "close": breakers.close, "reset": breakers.reset}[verb]
    status = action(name, reason=reason, by=by)
    if json_output:
        print_json(status.to_dict())
        return
    woken = f"; {status.waiting} instance(s) still waiting" if status.waiting else ""
    stdout_console().print(f"breaker {name}: {str(status.state).replace('_', ' ')}{woken}")


def open_breaker(
    ctx: typer.Context,
    name: NameArgument,
    reason: ReasonOption = None,
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Force DEPENDENCY's circuit open: instances about to call it wait (no attempt spent)
    until it is closed or reset."""
    _act(ctx, "open", name, reason, by, app_spec, json_output, database)


def close_breaker(
    ctx: typer.Context,
    name: NameArgument,
    reason: ReasonOption = None,
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Force DEPENDENCY's circuit closed: calls go through whatever their outcomes; the
    instances waiting at it continue at once."""
    _act(ctx, "close", name, reason, by, app_spec, json_output, database)


def reset_breaker(
    ctx: typer.Context,
    name: NameArgument,
    reason: ReasonOption = None,
    by: ByOption = None,
    app_spec: AppOption = None,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Reset DEPENDENCY's breaker: closed with an empty window (out of a forced state);
    the instances waiting at it continue at once."""
    _act(ctx, "reset", name, reason, by, app_spec, json_output, database)
