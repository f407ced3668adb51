"""``daytwo audit list``: the audit log from the command line; ``--by`` and
``$DAYTWO_ACTOR`` name who acted."""

from __future__ import annotations

import json

import pytest
from _cli import (
    Invoke,
    clean_cli_environment,  # noqa: F401 -- an autouse fixture, active once imported
    cli_invoker,
)

import daytwo

APP = "cli_app:app"


@pytest.fixture
def invoke(db_url: str) -> Invoke:
    return cli_invoker(db_url)


@pytest.fixture
def user_app(db_url: str) -> daytwo.App:
    import cli_app

    cli_app.app.database_url = db_url
    return cli_app.app


def test_a_cancel_from_the_cli_is_listed_with_its_actor(
    invoke: Invoke, user_app: daytwo.App, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_app.start("wait-signal", None, id="w-1")
    user_app.start("wait-signal", None, id="w-2")
    cancelled = invoke("instance", "cancel", "w-1", "--reason", "duplicate order", "--by", "ann")
    assert cancelled.exit_code == 0, cancelled.stderr
    monkeypatch.setenv("DAYTWO_ACTOR", "runbook:cleanup")
    assert invoke("instance", "cancel", "w-2").exit_code == 0
    refused = invoke("instance", "cancel", "nope", "--by", "ann")
    assert refused.exit_code == 3
    listed = invoke("audit", "list", "--json")
    assert listed.exit_code == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["target"], r["actor"], r["outcome"]) for r in rows] == [
        ("nope", "ann", "refused"),
        ("w-2", "runbook:cleanup", "done"),
        ("w-1", "ann", "done"),
    ]
    assert rows[2]["reason"] == "duplicate order"
    only_ann = json.loads(invoke("audit", "list", "--by", "ann", "--json").stdout)
    assert {r["target"] for r in only_ann} == {"w-1", "nope"}
    table = invoke("audit", "list")
    assert table.exit_code == 0 and "instance.cancel" in table.stdout


def test_a_bad_time_is_one_line_naming_the_forms(invoke: Invoke, user_app: daytwo.App) -> None:
    user_app.start("wait-signal", None, id="w-1")
    result = invoke("audit", "list", "--since", "yesterday")
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert "--since 'yesterday' is not a time ago (30s" in line
    recent = invoke("audit", "list", "--since", "1h", "--json")
    assert recent.exit_code == 0 and json.loads(recent.stdout) == []
