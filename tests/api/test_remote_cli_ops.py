"""``daytwo --server URL --token T`` runs the task, flow-control, breaker, schedule and audit
commands over HTTP: the same output and exit codes as the same command with ``--database``
on the same database, acting as the token's name."""

from __future__ import annotations

import json
import re

import pytest
from _cli import Invoke, clean_cli_environment, cli_invoker
from _live import LiveApi, live

import daytwo
from daytwo import BreakerPolicy
from daytwo.api import NotOverHttp, RemoteClient, Role
from daytwo.api import _remote_parts as remote_parts
from daytwo.worker import declare_schedules

__all__ = ["clean_cli_environment", "live"]

# The output comparisons are about the CLI and the remote client, which do not depend on the
# backend (the routes' behaviour is tested on both in test_api_*): PostgreSQL in the soak run.
pytestmark = pytest.mark.soak_on_postgresql


@pytest.fixture(autouse=True)
def no_ambient_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DAYTWO_SERVER", raising=False)
    monkeypatch.delenv("DAYTWO_TOKEN", raising=False)


@pytest.fixture
def local(db_url: str) -> Invoke:
    return cli_invoker(db_url)


def _remote(live: LiveApi, role: Role = Role.ADMIN, secret: str | None = None) -> Invoke:
    """The CLI with no database at all, only the server and a token."""
    return cli_invoker(
        "sqlite:////nonexistent/never-used.db",
        DAYTWO_SERVER=live.url, DAYTWO_TOKEN=secret or live.tokens[str(role)],
    )  # fmt: skip


@pytest.fixture
def remote(live: LiveApi) -> Invoke:
    return _remote(live)


def _same(local: Invoke, remote: Invoke, *args: str) -> int:
    """Run ``args`` both ways; the same exit code, stdout and stderr. Returns the code."""
    here, there = local(*args), remote(*args)
    assert (there.exit_code, there.stderr) == (here.exit_code, here.stderr), args
    assert there.stdout == here.stdout, args
    return here.exit_code


def _tasks(live: LiveApi, *instance_ids: str) -> list[str]:
    for instance_id in instance_ids:
        live.app.start("order", {"task": "approve"}, id=instance_id)
    with live.app.worker(concurrency=1) as worker:
        worker.drain()
    by_instance = {t.instance_id: t.id for t in live.app.tasks.list()}
    return [by_instance[i] for i in instance_ids]


def test_task_commands_print_the_same(live: LiveApi, local: Invoke, remote: Invoke) -> None:
    first, second, third = _tasks(live, "o-1", "o-2", "o-3")
    for args in (
        ("task", "list"),
        ("task", "list", "--json"),
        ("task", "list", "--assignee", "nobody"),
        ("task", "show", first),
        ("task", "show", first, "--json"),
        ("task", "show", "nope"),
    ):
        _same(local, remote, *args)
    there = remote("task", "complete", first, '{"approved": true}', "--reason", "ok")
    here = local("task", "complete", second, '{"approved": true}', "--reason", "ok")
    assert (there.exit_code, here.exit_code) == (0, 0), there.output + here.output
    assert there.stdout.replace(first, "T") == here.stdout.replace(second, "T")
    assert live.app.tasks.get(first).completed_by == "admin-token"
    # Refused: not open any more (5), the same message naming who completed it.
    assert _same(local, remote, "task", "complete", first, "false") == 5
    assert _same(local, remote, "task", "complete", "nope") == 3
    assert _same(local, remote, "task", "complete", first, "{bad") == 2
    moved = remote("task", "reassign", third, "bob", "--json")
    assert moved.exit_code == 0 and json.loads(moved.stdout)["assignee"] == "bob"
    assert remote("task", "cancel", third, "--reason", "withdrawn").stdout.strip() == (
        f"task {third} cancelled"
    )
    for args in (("task", "list", "--all"), ("task", "show", third), ("task", "cancel", third)):
        _same(local, remote, *args)
    actors = {(r.action, r.actor) for r in live.app.client.audit.list(action="task")}
    assert {("task.complete", "admin-token"), ("task.reassign", "admin-token")} <= actors
    viewer = _remote(live, Role.VIEWER)
    denied = viewer("task", "complete", third)
    assert denied.exit_code == 8 and "role viewer" in denied.stderr


def test_flow_commands_print_the_same(live: LiveApi, local: Invoke, remote: Invoke) -> None:
    # Finished instances: both sides know the workflows' names from them (the server knows
    # its App's too), and no backlog (whose age each side would measure by its own clock).
    live.app.start("order", {}, id="o-1")
    live.app.start("plain", False, id="p-1")
    with live.app.worker(concurrency=1) as worker:
        worker.drain()
    for args in (
        ("queue", "set", "default", "--concurrency", "3", "--rate", "5", "--per", "60"),
        ("queue", "list"),
        ("queue", "list", "--json"),
        ("queue", "set", "defualt", "--concurrency", "1"),
        # --force: the server knows its App's dependencies, a CLI without --app only the
        # recent workers' (none here), so without it only the server would accept the name.
        ("dependency", "set", "payments-api", "--concurrency", "2", "--force"),
        ("dependency", "list"),
        ("dependency", "list", "--json"),
        ("dependency", "set", "nope", "--concurrency", "2"),
        ("workflow", "pause", "nope"),
    ):
        _same(local, remote, *args)
    there = remote("workflow", "pause", "order", "--step", "charge", "--reason", "incident")
    assert local("workflow", "resume", "order", "--step", "charge").exit_code == 0
    here = local("workflow", "pause", "order", "--step", "charge", "--reason", "incident")
    assert (there.exit_code, there.stdout) == (here.exit_code, here.stdout)
    assert "paused step charge of order" in there.stdout
    _same(local, remote, "pauses")
    there = remote("workflow", "resume", "order", "--step", "charge")
    assert there.exit_code == 0 and "0 instance(s) continue" in there.stdout
    assert _same(local, remote, "workflow", "resume", "order", "--step", "charge") == 2
    owners = {(r.action, r.actor) for r in live.app.client.audit.list(actor="admin-token")}
    assert {("queue.set", "admin-token"), ("workflow.pause", "admin-token")} <= owners
    operator = _remote(live, Role.OPERATOR)
    denied = operator("queue", "set", "default", "--concurrency", "1")
    assert denied.exit_code == 8 and "needs owner" in denied.stderr


def test_breaker_commands_print_the_same(live: LiveApi, local: Invoke, remote: Invoke) -> None:
    live.app.breakers.configure("payments-api", BreakerPolicy(), by="test")
    for args in (
        ("breaker", "list"),
        ("breaker", "show", "payments-api", "--json"),
        ("breaker", "show", "nope"),
        ("breaker", "set", "payments-api", "--failure-rate", "500"),
        ("breaker", "set", "payments-api", "--failure-rate", "40", "--window-seconds", "60"),
    ):
        _same(local, remote, *args)
    there = remote("breaker", "open", "payments-api", "--reason", "vendor down")
    assert local("breaker", "reset", "payments-api").exit_code == 0
    here = local("breaker", "open", "payments-api", "--reason", "vendor down")
    assert (there.exit_code, there.stdout) == (0, here.stdout)
    assert there.stdout.strip() == "breaker payments-api: forced open"
    for args in (
        ("breaker", "open", "payments-api"),
        ("breaker", "list"),
        ("breaker", "close", "nope"),
    ):
        _same(local, remote, *args)
    assert remote("breaker", "reset", "payments-api").exit_code == 0
    opened = live.app.client.audit.list(action="breaker.open", outcome="done")
    assert [r.actor == "admin-token" for r in opened] == [False, True]  # newest first


def test_schedule_commands_print_the_same(
    live: LiveApi, local: Invoke, remote: Invoke, clock: daytwo.FakeClock
) -> None:
    live.app.schedule("0 2 * * *", workflow="plain", name="nightly", input=False)
    declare_schedules(live.app.store, clock, live.app.registry)
    for args in (
        ("schedules", "list"),
        ("schedules", "show", "nightly", "--json"),
        ("schedules", "show", "nope"),
    ):
        _same(local, remote, *args)
    paused = remote("schedules", "pause", "nightly", "--reason", "migration")
    assert paused.stdout.strip() == "schedule nightly: paused"
    assert _same(local, remote, "schedules", "pause", "nightly") == 5
    _same(local, remote, "schedules", "list")
    # The next run is after *now*: the server's fake clock, not the local one.
    resumed = remote("schedules", "resume", "nightly")
    assert resumed.exit_code == 0 and "next run 2026-01-01 02:00 UTC" in resumed.stdout
    started = remote("schedules", "trigger", "nightly", "--key", "k1")
    assert (
        started.stdout.strip() == "schedule nightly: started instance schedule:nightly:trigger:k1"
    )
    _same(local, remote, "schedules", "trigger", "nightly", "--key", "k1", "--json")
    assert live.app.schedules.get("nightly").paused_by is None


def test_audit_list_prints_the_same(live: LiveApi, local: Invoke, remote: Invoke) -> None:
    [task] = _tasks(live, "o-1")
    assert remote("task", "complete", task, "true").exit_code == 0
    assert remote("task", "complete", task, "true").exit_code == 5
    assert local("workflow", "pause", "nope").exit_code == 2
    for args in (
        ("audit", "list"),
        ("audit", "list", "--json"),
        ("audit", "list", "--by", "admin-token"),
        ("audit", "list", "--action", "task", "--limit", "1"),
        ("audit", "list", "--outcome", "refused", "--target-kind", "task"),
        ("audit", "list", "--since", "2h"),
    ):
        _same(local, remote, *args)
    listed = remote("audit", "list", "--action", "task", "--json")
    assert [r["actor"] for r in json.loads(listed.stdout)] == ["admin-token", "admin-token"]
    scoped = live.token("orders-only", Role.VIEWER, workflows=["order"])
    denied = _remote(live, secret=scoped)("audit", "list")
    assert denied.exit_code == 8 and "audit log" in denied.stderr


@pytest.mark.backends("sqlite")
def test_a_long_audit_listing_follows_the_keyset_and_the_rest_needs_the_database(
    live: LiveApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(5):
        live.app.start("plain", False, id=f"p-{n}")
        live.app.cancel(f"p-{n}", by="ann")
    monkeypatch.setattr(remote_parts, "MAX_PAGE", 2)  # pages of 2 rows
    client = RemoteClient(live.url, live.tokens[str(Role.VIEWER)])
    try:
        assert [r.id for r in client.audit.list(limit=7)] == [
            r.id for r in live.app.client.audit.list(limit=7)
        ]
        assert len(client.audit.list(actor="ann", limit=1000)) == 5
        with pytest.raises(NotOverHttp, match=r"client\.flow\.settings\(\) \(the workers'"):
            client.flow.settings()
        assert re.search("cannot run over --server", _message(client))
    finally:
        client.close()


def _message(client: RemoteClient) -> str:
    try:
        client.flow.slots  # noqa: B018 -- only a worker has dependency slots
    except NotOverHttp as refused:
        return str(refused)
    raise AssertionError("client.flow.slots over HTTP was not refused")
