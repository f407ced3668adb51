"""``daytwo explain ID`` / ``daytwo instance explain ID`` and ``daytwo workers list``."""

from __future__ import annotations

import json

import pytest
from _cli import (
    Invoke,
    clean_cli_environment,  # noqa: F401 -- an autouse fixture, active once imported
    cli_invoker,
)

import daytwo


@pytest.fixture
def invoke(db_url: str) -> Invoke:
    return cli_invoker(db_url)


@pytest.fixture
def user_app(db_url: str) -> daytwo.App:
    import cli_app

    cli_app.app.database_url = db_url
    return cli_app.app


def test_explain_prints_the_wait_and_the_actions(invoke: Invoke, user_app: daytwo.App) -> None:
    user_app.start("approval", 120, id="a-1")
    with user_app.worker(concurrency=1) as worker:
        worker.drain()
    [task] = user_app.tasks.list()
    shown = invoke("explain", "a-1")
    assert shown.exit_code == 0, shown.stderr
    assert "a-1 (approval 1) is WAITING in state 'approve'" in shown.stdout
    assert f"waits for human task 'approve' ({task.id}) assigned to alice" in shown.stdout
    assert "what you can do now:" in shown.stdout
    assert f"daytwo task reassign {task.id} WHO" in shown.stdout
    as_json = json.loads(invoke("instance", "explain", "a-1", "--json").stdout)
    assert as_json["instance"]["id"] == "a-1"
    assert "task.complete" in [a["action"] for a in as_json["actions"]]
    missing = invoke("explain", "nope")
    assert missing.exit_code == 3
    [line] = missing.stderr.splitlines()
    assert line.startswith("error: ") and "'nope'" in line


def test_workers_list_shows_the_live_workers(invoke: Invoke, user_app: daytwo.App) -> None:
    user_app.list()  # the App makes the database
    assert json.loads(invoke("workers", "list", "--json").stdout) == []
    with user_app.worker(concurrency=2):
        listed = json.loads(invoke("workers", "list", "--json").stdout)
        table = invoke("workers", "list")
    [worker] = listed
    assert (worker["concurrency"], worker["in_flight"], worker["live"]) == (2, 0, True)
    assert "greet@1" in worker["workflows"]
    assert table.exit_code == 0 and worker["id"] in table.stdout and "0/2" in table.stdout
    assert json.loads(invoke("workers", "list", "--json").stdout) == []
    assert len(json.loads(invoke("workers", "list", "--all", "--json").stdout)) == 1
