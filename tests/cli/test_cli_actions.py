"""``daytwo instance retry|skip|resume|abort|terminate|wake``: the Client's instance actions
from the command line, audited, a refusal exiting 5 (issue 12, item 2)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from _cli import (
    Invoke,
    clean_cli_environment,  # noqa: F401 -- an autouse fixture, active once imported
    cli_invoker,
)

import daytwo
from daytwo import App, InstanceStatus

NO_RETRY = daytwo.Retry(max_attempts=1)


@pytest.fixture
def invoke(db_url: str) -> Invoke:
    return cli_invoker(db_url)


@pytest.fixture
def parking(app: App) -> Iterator[tuple[App, Any, dict[str, bool]]]:
    """An app whose ``pay`` step parks while ``state['down']``, and a running worker."""
    state = {"down": True}

    @app.step(retry=NO_RETRY, on_failure="park")
    def pay(total: int) -> str:
        if state["down"]:
            raise ConnectionError("payments API down")
        return f"paid {total}"

    @app.workflow(name="checkout")
    def checkout(ctx: daytwo.Context, total: int) -> Any:
        return {"payment": pay(total)}

    @app.workflow(name="sleeps")
    def sleeps(ctx: daytwo.Context) -> str:
        ctx.sleep(86400)
        return "awake"

    @app.workflow(name="waits")
    def waits(ctx: daytwo.Context) -> Any:
        return ctx.wait_for_signal("go")

    with app.worker(concurrency=1, poll_interval=0.05) as worker:
        yield app, worker, state


def _parked(app: App, worker: Any, instance_id: str) -> None:
    app.start("checkout", 10, id=instance_id)
    worker.drain()
    assert app.get(instance_id).status is InstanceStatus.NEEDS_ATTENTION


def _last_audit(app: App) -> tuple[str, str, str, str | None]:
    row = app.client.audit.list()[0]
    return (row.action, row.actor, row.outcome, row.reason)


def test_retry_from_the_cli(invoke: Invoke, parking: tuple[App, Any, dict[str, bool]]) -> None:
    app, worker, state = parking
    _parked(app, worker, "c-1")
    state["down"] = False
    result = invoke("instance", "retry", "c-1", "--reason", "payments back", "--by", "ann")
    assert result.exit_code == 0, result.stderr
    assert "c-1: the step runs again now" in result.stdout
    worker.drain()
    assert app.get("c-1").output == {"payment": "paid 10"}
    assert _last_audit(app) == ("instance.retry", "ann", "done", "payments back")


def test_skip_from_the_cli_with_json(
    invoke: Invoke, parking: tuple[App, Any, dict[str, bool]]
) -> None:
    app, worker, _ = parking
    _parked(app, worker, "c-1")
    result = invoke("instance", "skip", "c-1", '"paid by phone"', "--by", "ann", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["id"] == "c-1"
    worker.drain()
    assert app.get("c-1").output == {"payment": "paid by phone"}
    history = json.loads(invoke("instance", "history", "c-1", "--json").stdout)["history"]
    assert history[0]["detail"] == {"skipped_by": "ann", "reason": None}
    table = invoke("instance", "history", "c-1", env={"COLUMNS": "200"}).stdout
    assert '"paid by phone" (skipped by ann)' in table


def test_a_skip_result_that_is_not_json_is_one_line(
    invoke: Invoke, parking: tuple[App, Any, dict[str, bool]]
) -> None:
    app, worker, _ = parking
    _parked(app, worker, "c-1")
    result = invoke("instance", "skip", "c-1", "{not json", "--by", "ann")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "RESULT_JSON" in result.stderr
    assert app.get("c-1").status is InstanceStatus.NEEDS_ATTENTION


@pytest.mark.parametrize(
    ("verb", "expected"),
    [
        ("resume", "instance.resume"),
        ("abort", "instance.abort"),
        ("terminate", "instance.terminate"),
    ],
)
def test_resume_abort_and_terminate_from_the_cli(
    invoke: Invoke, parking: tuple[App, Any, dict[str, bool]], verb: str, expected: str
) -> None:
    app, worker, state = parking
    _parked(app, worker, "c-1")
    state["down"] = False
    result = invoke("instance", verb, "c-1", "--reason", "ticket 7", "--by", "ann", "--json")
    assert result.exit_code == 0, result.stderr
    worker.drain()
    ended = {"resume": "SUCCEEDED", "abort": "FAILED", "terminate": "TERMINATED"}[verb]
    assert app.get("c-1").status == ended
    assert _last_audit(app) == (expected, "ann", "done", "ticket 7")


def test_wake_from_the_cli(invoke: Invoke, parking: tuple[App, Any, dict[str, bool]]) -> None:
    app, worker, _ = parking
    app.start("sleeps", id="s-1")
    worker.drain()
    result = invoke("instance", "wake", "s-1", "--by", "ann")
    assert result.exit_code == 0, result.stderr
    worker.drain()
    assert app.get("s-1").output == "awake"


@pytest.mark.parametrize("verb", ["retry", "resume", "abort", "terminate", "wake", "skip"])
def test_a_refusal_exits_5_is_audited_and_changes_nothing(
    invoke: Invoke, parking: tuple[App, Any, dict[str, bool]], verb: str
) -> None:
    app, worker, state = parking
    state["down"] = False
    app.start("checkout", 1, id="c-done")
    worker.drain()
    app.start("waits", id="w-1")
    worker.drain()
    # An ended instance refuses them all but wake, which a wait only for a signal refuses.
    target = "w-1" if verb in ("wake", "skip", "retry", "resume") else "c-done"
    before = app.get(target)
    args = [verb, target, *(["1"] if verb == "skip" else []), "--by", "bob"]
    result = invoke("instance", *args)
    assert result.exit_code == 5, (result.stdout, result.stderr)
    assert result.stderr.startswith(f"error: cannot {verb} instance {target!r}: it is ")
    assert result.stderr.count("\n") == 1
    assert app.get(target) == before
    assert _last_audit(app)[1:3] == ("bob", "refused")


def test_an_unknown_instance_exits_3(
    invoke: Invoke, parking: tuple[App, Any, dict[str, bool]]
) -> None:
    result = invoke("instance", "retry", "nope", "--by", "bob")
    assert result.exit_code == 3
    assert "no instance with id 'nope'" in result.stderr
