"""The real ``daytwo`` CLI over HTTP (``--server URL --token T``) prints what it prints on
the database (``--database``) and exits with the same code: instance actions (a refused
retry exits 5), explain, bulk, workflow and workers lists, start-many, purge.

The instances are made by the shop on its fake clock (at 2026-01-01); the server's App and
the local CLI both read them with the real clock, so the times they print agree.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _cli import clean_cli_environment  # noqa: F401 -- an autouse fixture, active once imported
from _live import LiveApi, live_api
from _shop import register_shop
from typer.testing import CliRunner, Result

import daytwo
from daytwo.api import Role
from daytwo.cli._main import app as cli

# The output comparisons are about the CLI and the remote client, which do not depend on the
# backend (the routes' behaviour is tested on both in test_api_*): PostgreSQL in the soak run.
pytestmark = pytest.mark.soak_on_postgresql


class Both:
    """Runs one command on the database and over the API."""

    def __init__(self, db_url: str, live: LiveApi) -> None:
        self.db_url = db_url
        self.live = live
        self.runner = CliRunner()

    def local(self, *args: str) -> Result:
        return self.runner.invoke(cli, ["--database", self.db_url, *args])

    def remote(self, *args: str, role: Role = Role.OPERATOR) -> Result:
        token = self.live.tokens[str(role)]
        # No database at all on this side: only the server and the token.
        return self.runner.invoke(
            cli, ["--server", self.live.url, "--token", token, *args],
            env={"DAYTWO_DATABASE": "sqlite:////nonexistent/never-used.db"},
        )  # fmt: skip

    def same(self, *args: str, role: Role = Role.OPERATOR) -> Result:
        """Run both ways; assert the same exit code, stdout and stderr; the remote result."""
        here, there = self.local(*args), self.remote(*args, role=role)
        assert (there.exit_code, there.stdout, there.stderr) == (
            here.exit_code, here.stdout, here.stderr
        ), f"daytwo {' '.join(args)}"  # fmt: skip
        return there


@pytest.fixture
def parking(shop: daytwo.App) -> daytwo.App:
    @shop.step(retry=daytwo.Retry(max_attempts=1), on_failure="park")
    def pay(total: int) -> str:
        raise ConnectionError("payments API down")

    @shop.workflow(name="checkout")
    def checkout(ctx: daytwo.Context, total: int) -> Any:
        return pay(total)

    return shop


@pytest.fixture
def both(parking: daytwo.App, db_url: str) -> Iterator[Both]:
    parking.start("checkout", 10, id="c-1")
    parking.start("order", {"signal": "go"}, id="o-1")
    parking.start("order", {"signal": "go"}, id="o-2")
    with parking.worker(concurrency=1, poll_interval=0.05) as worker:
        worker.drain()
    served = register_shop(daytwo.App(db_url))
    with live_api(served) as live:
        yield Both(db_url, live)
    served.close()


def test_a_refused_retry_exits_5_the_same_way_and_is_audited_both_ways(
    both: Both, parking: daytwo.App
) -> None:
    result = both.same("instance", "retry", "o-1", "--reason", "try")
    assert result.exit_code == 5
    assert result.stderr.count("\n") == 1 and "o-1" in result.stderr
    rows = parking.client.audit.list(action="instance.retry")
    assert [r.outcome for r in rows] == ["refused", "refused"]
    assert "operator-token" in {r.actor for r in rows}
    missing = both.same("instance", "skip", "nope", "1")
    assert missing.exit_code == 3


def test_explain_prints_the_same(both: Both) -> None:
    parked = both.same("explain", "c-1")
    assert parked.exit_code == 0 and "parked at step 'pay'" in parked.stdout
    assert "daytwo instance retry c-1" in parked.stdout
    waits = both.same("instance", "explain", "o-1", "--json")
    assert json.loads(waits.stdout)["instance"]["id"] == "o-1"
    assert both.same("explain", "nope").exit_code == 3


def test_a_bulk_dry_run_prints_the_same_and_changes_nothing(
    both: Both, parking: daytwo.App
) -> None:
    before = [(i.id, i.status, i.state) for i in parking.list()]
    preview = both.same("bulk", "cancel", "--workflow", "order", "--reason", "dry")
    assert "would cancel 2 instance(s)" in preview.stdout
    assert "dry run: nothing changed" in preview.stdout
    as_json = both.same("bulk", "retry", "--status", "NEEDS_ATTENTION", "--workflow",
                        "checkout", "--json")  # fmt: skip
    assert json.loads(as_json.stdout)["first_ids"] == ["c-1"]
    assert both.same("bulk", "skip", "--workflow", "order").exit_code == 2
    assert [(i.id, i.status, i.state) for i in parking.list()] == before
    assert parking.client.bulk_jobs() == []
    assert parking.client.audit.list(action="bulk") == []


def test_bulk_list_and_show_print_the_same(both: Both, parking: daytwo.App) -> None:
    job = parking.client.bulk(
        "cancel", daytwo.Selection(workflow="order"), dry_run=False, reason="outage", by="ann"
    )
    assert isinstance(job, daytwo.BulkJob)
    listed = both.same("bulk", "list")
    assert job.id in listed.stdout
    shown = both.same("bulk", "show", job.id)
    assert "2 selected" in shown.stdout
    assert both.same("bulk", "show", job.id, "--json").exit_code == 0
    assert both.same("bulk", "show", "bulk-nope").exit_code == 2


def test_a_bulk_job_started_over_http_prints_its_progress(both: Both, parking: daytwo.App) -> None:
    started = both.remote("bulk", "terminate", "--workflow", "order", "--yes", "--json")
    assert started.exit_code == 0, started.stderr
    job = json.loads(started.stdout)
    assert (job["selected"], job["actor"], job["status"]) == (2, "operator-token", "running")
    [row] = parking.client.audit.list(action="bulk")
    assert row.actor == "operator-token"


def test_workflow_list_prints_the_same(both: Both) -> None:
    listed = both.same("workflow", "list")
    assert "checkout" in listed.stdout and "order" in listed.stdout
    both.same("workflow", "list", "--json")


def test_workers_list_prints_the_same(both: Both) -> None:
    listed = both.same("workers", "list", "--all")
    assert "stopped" in listed.stdout
    both.same("workers", "list", "--json")


def test_actions_restart_and_fork_over_http(both: Both, parking: daytwo.App) -> None:
    terminated = both.remote("instance", "terminate", "o-1", "--reason", "dup")
    assert terminated.exit_code == 0, terminated.stderr
    assert "o-1: terminated; nothing was compensated; now TERMINATED" in terminated.stdout
    restarted = both.remote("instance", "restart", "o-1", "--id", "o-1-again", "--json")
    assert restarted.exit_code == 0, restarted.stderr
    assert json.loads(restarted.stdout)["created"] is True
    again = both.same("instance", "restart", "o-1", "--id", "o-1-again")
    assert "exists already (the same request)" in again.stdout
    assert both.same("instance", "fork", "o-1", "99").exit_code == 2
    assert both.same("instance", "fork", "o-2", "0").exit_code == 5
    actors = {r.actor for r in parking.client.audit.list(action="instance.terminate")}
    assert actors == {"operator-token"}


def test_start_many_over_http(both: Both, tmp_path: Path) -> None:
    lines = tmp_path / "orders.jsonl"
    lines.write_text('{"n": "s-1"}\n{"n": "s-2"}\n')
    first = both.remote("instance", "start-many", "order", str(lines), "--id-key", "n")
    assert (first.exit_code, first.stdout) == (0, "2\n"), first.stderr
    local, remote = (
        run("instance", "start-many", "order", str(lines), "--id-key", "n", "--json")
        for run in (both.local, both.remote)
    )
    assert (remote.exit_code, remote.stdout) == (local.exit_code, local.stdout)
    assert json.loads(remote.stdout) == [{"id": "s-1", "created": False},
                                         {"id": "s-2", "created": False}]  # fmt: skip
    assert "2 existed already" in remote.stderr


def test_purge_over_http(both: Both, tmp_path: Path) -> None:
    both.same("purge", "--before", "2026-06-01", role=Role.OWNER)
    refused = both.remote("purge", "--before", "1h", role=Role.OPERATOR)
    assert refused.exit_code == 8 and "role operator" in refused.stderr
    archived = both.remote(
        "purge", "--before", "1h", "--archive", str(tmp_path), "--yes", role=Role.OWNER
    )
    assert archived.exit_code == 2 and "archive_dir names a directory" in archived.stderr
