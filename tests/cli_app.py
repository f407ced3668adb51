"""A small app for the command-line tests: ``--app cli_app:app`` from the tests directory."""

from __future__ import annotations

from typing import Any

import daytwo

app = daytwo.App()

#: Not an App, for the test of a bad ``--app``.
not_an_app = 42


@app.step
def make_greeting(name: str) -> str:
    """Greet someone."""
    return f"hello {name}"


@app.step(retry=daytwo.Retry(max_attempts=2, initial_delay=0.0, jitter=0.0))
def always_fails() -> None:
    """A dependency that is always down."""
    raise ConnectionError("service unavailable")


@app.workflow(name="greet")
def greet(ctx: daytwo.Context, data: dict[str, Any]) -> dict[str, Any]:
    """Succeeds at once."""
    return {"greeting": make_greeting(data["name"])}


@app.workflow(name="wait-signal")
def wait_signal(ctx: daytwo.Context, _: Any) -> Any:
    """Waits for the signal ``go`` and returns its payload."""
    return ctx.wait_for_signal("go")


@app.workflow(name="approval")
def approval(ctx: daytwo.Context, amount: Any) -> Any:
    """Waits for alice to decide."""
    return ctx.human_task("approve", assignee="alice", payload={"amount": amount})


@app.workflow(name="doomed")
def doomed(ctx: daytwo.Context, _: Any) -> None:
    """Fails after a retry."""
    always_fails()
