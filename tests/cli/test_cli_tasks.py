"""``daytwo task show | cancel`` and ``--reason`` on complete and reassign: the plan and
the events of a task, its actions audited, refusals with their exit codes."""

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
from typer.testing import Result

import daytwo


@pytest.fixture
def invoke(db_url: str) -> Invoke:
    return cli_invoker(db_url)


@pytest.fixture
def user_app(db_url: str) -> Iterator[daytwo.App]:
    """An app of its own (the CLI needs only the database): a plain approval and one that
    reminds alice at the due time, escalates to her manager and times out."""
    app = daytwo.App(db_url)

    @app.workflow(name="approval")
    def approval(ctx: daytwo.Context, amount: Any) -> Any:
        return ctx.human_task("approve", assignee="alice", payload={"amount": amount})

    @app.workflow(name="escalating-approval")
    def escalating_approval(ctx: daytwo.Context, amount: Any) -> Any:
        try:
            return ctx.human_task(
                "approve",
                assignee="alice",
                due=3600,
                payload={"amount": amount},
                remind=[daytwo.at_due()],
                escalate=[daytwo.after(7200, "role:manager")],
                timeout=86400,
            )
        except daytwo.TaskCancelled as cancelled:
            return {"cancelled": cancelled.reason}

    yield app
    app.close()


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


def refused(result: Result, code: int, fragment: str) -> None:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ") and fragment in line, line


def _task(user_app: daytwo.App, workflow: str, instance_id: str) -> dict[str, Any]:
    user_app.start(workflow, 1500, id=instance_id)
    with user_app.worker(concurrency=1, poll_interval=0.05) as worker:
        worker.drain()
    [task] = [t for t in user_app.tasks.list() if t.instance_id == instance_id]
    return task.to_dict()


def test_task_show_gives_the_plan_and_the_events(invoke: Invoke, user_app: daytwo.App) -> None:
    task = _task(user_app, "escalating-approval", "e1")
    ok(invoke("task", "reassign", task["id"], "bob", "--reason", "alice is away", "--by", "carol"))
    shown = ok(invoke("task", "show", task["id"])).stdout
    for fragment in ("approve", "bob", "timeout", "at due",
                     "2h after creation: role:manager", "reassigned", "alice is away"):  # fmt: skip
        assert fragment in shown, (fragment, shown)
    data = json.loads(ok(invoke("task", "show", task["id"], "--json")).stdout)
    assert [s["label"] for s in data["steps"]] == ["at due", "2h after creation: role:manager"]
    assert [e["kind"] for e in data["events"]] == ["created", "reassigned"]
    assert data["events"][1]["actor"] == "carol" and data["timeout_at"] is not None
    listed = ok(invoke("task", "list")).stdout
    assert "NEXT" in listed and "remind" in listed
    refused(invoke("task", "show", "nope"), 3, "no human task with id 'nope'")


def test_task_cancel_reaches_the_workflow_and_is_audited(
    invoke: Invoke, user_app: daytwo.App
) -> None:
    task = _task(user_app, "escalating-approval", "c1")
    out = ok(invoke("task", "cancel", task["id"], "--reason", "duplicate", "--by", "dana"))
    assert out.stdout.strip() == f"task {task['id']} cancelled"
    with user_app.worker(concurrency=1, poll_interval=0.05):
        assert user_app.result("c1", timeout=20) == {"cancelled": "duplicate"}
    refused(invoke("task", "cancel", task["id"]), 5, "is already cancelled (by dana): duplicate")
    refused(invoke("task", "complete", task["id"], "true"), 5, "only open tasks can be completed")
    refused(invoke("task", "cancel", "nope"), 3, "no human task with id 'nope'")
    rows = json.loads(ok(invoke("audit", "list", "--action", "task", "--json")).stdout)
    assert [(r["action"], r["actor"], r["outcome"]) for r in reversed(rows)][:1] == [
        ("task.cancel", "dana", "done")
    ]
    assert {r["outcome"] for r in rows[:3]} == {"refused"}


def test_complete_takes_a_reason(invoke: Invoke, user_app: daytwo.App) -> None:
    task = _task(user_app, "approval", "a1")
    ok(invoke("task", "complete", task["id"], "true", "--reason", "margin ok", "--by", "bob"))
    [row] = json.loads(ok(invoke("audit", "list", "--json")).stdout)
    assert (row["action"], row["actor"], row["reason"]) == ("task.complete", "bob", "margin ok")
