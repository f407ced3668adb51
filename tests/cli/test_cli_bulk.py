"""``daytwo instance restart|fork`` and ``daytwo bulk ACTION|list|show``: restarts and forks
from the command line, shown both ways by ``instance show``; a bulk action is a dry run
unless ``--yes``, which follows the job to its end; bad input is one line, exit 2, nothing
changed."""

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


def _greeted(app: daytwo.App, instance_id: str) -> None:
    app.start("greet", {"name": "Ada"}, id=instance_id)
    with app.worker(concurrency=1, poll_interval=0.05) as worker:
        worker.drain()


def test_restart_and_fork_from_the_cli(invoke: Invoke, user_app: daytwo.App) -> None:
    _greeted(user_app, "g-1")
    restarted = invoke("instance", "restart", "g-1", "--reason", "retry the mail", "--by", "ann")
    assert restarted.exit_code == 0, restarted.stderr
    assert "g-1-restart-1 (restart of g-1) started" in restarted.stdout
    forked = invoke("instance", "fork", "g-1", "1", "--id", "g-1-b", "--json")
    assert forked.exit_code == 0, forked.stderr
    shown = json.loads(forked.stdout)
    assert (shown["id"], shown["created"]) == ("g-1-b", True)
    assert [link["text"] for link in shown["links"]] == ["fork of g-1 at position 1"]
    again = invoke("instance", "fork", "g-1", "1", "--id", "g-1-b")
    assert again.exit_code == 0 and "exists already" in again.stdout
    show = invoke("instance", "show", "g-1")
    assert "restarted as g-1-restart-1; forked as g-1-b at position 1" in " ".join(
        show.stdout.split()
    )
    active = invoke("instance", "restart", "g-1-b")
    assert active.exit_code == 5, active.stdout
    assert active.stderr.count("\n") == 1 and "cancel, abort or terminate it first" in active.stderr
    past = invoke("instance", "fork", "g-1", "99")
    assert past.exit_code == 2 and "past the history of 'g-1'" in past.stderr
    assert invoke("instance", "restart", "nope").exit_code == 3


def test_a_bulk_action_is_a_dry_run_unless_yes(invoke: Invoke, user_app: daytwo.App) -> None:
    for n in range(12):
        user_app.start("wait-signal", None, id=f"w-{n:02d}")
    dry = invoke("bulk", "cancel", "--workflow", "wait-signal", "--status", "RUNNABLE")
    assert dry.exit_code == 0, dry.stderr
    assert "would cancel 12 instance(s): w-00, w-01" in dry.stdout
    assert "w-09, ..." in dry.stdout and "nothing changed" in dry.stdout
    assert {i.status for i in user_app.list()} == {daytwo.InstanceStatus.RUNNABLE}
    as_json = json.loads(invoke("bulk", "cancel", "--state", "queued", "--json").stdout)
    assert (as_json["count"], as_json["dry_run"]) == (12, True)

    with user_app.worker(concurrency=4, poll_interval=0.05):
        done = invoke("bulk", "cancel", "--workflow", "wait-signal", "--rate", "500", "--yes",
                      "--reason", "test data", "--by", "ann")  # fmt: skip
        assert done.exit_code == 0, done.stderr
    assert "12 done, 0 refused, 0 failed, 0 pending" in done.stdout
    job_id = done.stdout.split()[2]
    shown = invoke("bulk", "show", job_id)
    assert shown.exit_code == 0 and "12 selected: 12 done" in shown.stdout
    listed = json.loads(invoke("bulk", "list", "--json").stdout)
    assert [(j["id"], j["status"], j["done"], j["actor"]) for j in listed] == [
        (job_id, "done", 12, "ann")
    ]
    table = invoke("bulk", "list")
    assert table.exit_code == 0 and job_id in table.stdout
    [audit] = json.loads(invoke("audit", "list", "--action", "bulk", "--json").stdout)
    assert (audit["target"], audit["count"], audit["outcome"]) == (job_id, 12, "done")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bulk", "explode", "--status", "FAILED"], "unknown bulk action 'explode'; use one of"),
        (["bulk", "cancel"], "an empty selection would select every instance"),
        (["bulk", "cancel", "--started-before", "last tuesday"], "--started-before 'last tuesday'"),
        (["bulk", "cancel", "--status", "NOPE"], "unknown status 'NOPE'"),
        (["bulk", "skip", "--all", "--result", "{bad"], "--result is not valid JSON"),
        (["bulk", "cancel", "--all", "--rate", "-1", "--yes"], "a bulk rate is instances per"),
        (["bulk", "show", "bulk-nope"], "no bulk job 'bulk-nope'"),
    ],
)
def test_bad_bulk_input_is_one_line_and_changes_nothing(
    invoke: Invoke, user_app: daytwo.App, args: list[str], message: str
) -> None:
    user_app.start("wait-signal", None, id="w-1")
    refused = invoke(*args)
    assert refused.exit_code == 2, (refused.stdout, refused.stderr)
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert message in refused.stderr
    assert [(i.id, i.status) for i in user_app.list()] == [("w-1", daytwo.InstanceStatus.RUNNABLE)]
    assert user_app.client.bulk_jobs() == []
