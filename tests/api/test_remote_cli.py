"""``daytwo --server URL --token T`` runs the instance commands over HTTP: the same output
and exit codes as on the database, and clear errors for what cannot work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _cli import Invoke, clean_cli_environment, cli_invoker
from _live import LiveApi, live

import daytwo
from daytwo.api import Role

__all__ = ["clean_cli_environment", "live"]

# The output comparisons are about the CLI and the remote client, which do not depend on the
# backend (the routes' behaviour is tested on both in test_api_*): PostgreSQL in the soak run.
pytestmark = pytest.mark.soak_on_postgresql


@pytest.fixture
def local(db_url: str) -> Invoke:
    return cli_invoker(db_url)


@pytest.fixture
def remote(live: LiveApi) -> Invoke:
    """The CLI with no database at all, only the server and an operator's token."""
    return cli_invoker(
        "sqlite:////nonexistent/never-used.db",
        DAYTWO_SERVER=live.url, DAYTWO_TOKEN=live.tokens[str(Role.OPERATOR)],
    )  # fmt: skip


def _same(local: Invoke, remote: Invoke, *args: str, where: str = "") -> None:
    here, there = local(*args), remote(*args)
    assert (there.exit_code, there.stderr) == (here.exit_code, here.stderr), args
    assert there.stdout.replace(where, "@") == here.stdout.replace(where, "@"), args


def test_reading_commands_print_the_same(
    live: LiveApi, local: Invoke, remote: Invoke, db_url: str
) -> None:
    live.app.start("order", {"signal": "go"}, id="o-1")
    live.app.start("plain", False, id="p-1")
    for args in (
        ("instance", "list", "--json"),
        ("instance", "list", "--workflow", "order", "--json"),
        ("instance", "show", "o-1", "--json"),
        ("instance", "show", "o-1"),
        ("instance", "history", "o-1", "--json"),
        ("instance", "show", "missing"),
        ("instance", "list", "--status", "bogus"),
    ):
        _same(local, remote, *args)
    here = local("instance", "list").stdout
    there = remote("instance", "list").stdout
    assert here.split("instance(s) in")[0] == there.split("instance(s) in")[0]
    assert live.url in there and db_url not in there


def test_acting_commands_act_through_the_server(live: LiveApi, remote: Invoke) -> None:
    started = remote("instance", "start", "order", '{"signal": "go"}', "--id", "r-1", "--json")
    assert started.exit_code == 0, started.output
    assert json.loads(started.stdout)["created"] is True
    again = remote("instance", "start", "order", '{"signal": "go"}', "--id", "r-1", "--json")
    assert json.loads(again.stdout)["created"] is False
    other = remote("instance", "start", "order", '{"signal": "no"}', "--id", "r-1")
    assert other.exit_code == 6
    assert remote("instance", "signal", "r-1", "go", '"now"').exit_code == 0
    assert remote("instance", "cancel", "r-1", "--reason", "test").exit_code == 0
    assert remote("instance", "cancel", "missing").exit_code == 3
    rows = live.app.client.audit.list()
    assert {(r.action, r.actor) for r in rows} >= {
        ("instance.start", "operator-token"),
        ("instance.signal", "operator-token"),
        ("instance.cancel", "operator-token"),
    }


def test_refused_tokens_and_unreachable_servers_have_their_exit_codes(
    live: LiveApi, local: Invoke
) -> None:
    live.app.start("order", {}, id="o-1")
    viewer = cli_invoker("sqlite:////nonexistent/x.db", DAYTWO_SERVER=live.url,
                         DAYTWO_TOKEN=live.tokens[str(Role.VIEWER)])  # fmt: skip
    denied = viewer("instance", "cancel", "o-1")
    assert denied.exit_code == 8 and "role viewer" in denied.stderr
    assert viewer("instance", "show", "o-1").exit_code == 0
    bad = local("--server", live.url, "--token", "dt_000000000000_" + "x" * 43, "list")
    assert bad.exit_code == 8 and "unknown, expired or revoked" in bad.stderr
    none = local("--server", live.url, "list")
    assert none.exit_code == 2 and "--server needs a token" in none.stderr
    both = local("--server", live.url, "--token", "t", "list", "--database", "sqlite:///x.db")
    assert both.exit_code == 2 and "--database and --server" in both.stderr
    gone = local("--server", "http://127.0.0.1:9", "--token", "t", "list")
    assert gone.exit_code == 4 and "cannot reach the daytwo server" in gone.stderr
    wrong = local("--server", "ftp://ops:hunter2@host", "--token", "t", "list")
    assert wrong.exit_code == 2 and "hunter2" not in wrong.stderr


@pytest.mark.backends("sqlite")
def test_a_password_in_the_server_url_is_never_shown(live: LiveApi, local: Invoke) -> None:
    url = live.url.replace("http://", "http://ops:hunter2@")
    token = live.tokens[str(Role.VIEWER)]
    listed = local("--server", url, "--token", token, "instance", "list")
    assert listed.exit_code == 2, listed.output
    assert "hunter2" not in listed.output and "ops:***@" in listed.stderr


def test_start_wait_polls_the_server(
    live: LiveApi, remote: Invoke, clock: daytwo.FakeClock
) -> None:
    result = remote("instance", "start", "order", "{}", "--id", "w-1", "--wait", "--timeout", "0.5")
    assert result.exit_code == 7, result.output  # no worker runs it: --wait times out


def test_start_with_app_over_http_starts_on_the_server(
    live: LiveApi, remote: Invoke, tmp_path: Path
) -> None:
    """--app is the server's business over --server: nothing is started locally."""
    started = remote("instance", "start", "order", "{}", "--app", "cli_app:app", "--id", "a-1")
    assert started.exit_code == 0, started.output
    assert live.app.get("a-1").workflow == "order"
    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text('{"n": 1}\n{"n": 2}\n')
    many = remote("instance", "start-many", "order", str(inputs), "--app", "cli_app:app")
    assert many.exit_code == 0, many.output
    assert len(live.app.list(workflow="order")) == 3
