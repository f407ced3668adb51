"""``daytwo schedules list | show | pause | resume | trigger``: the same actions as
``client.schedules``, audited, with exit codes for unknown names (3) and wrong state (5)."""

from __future__ import annotations

import json

import pytest
from _cli import (
    Invoke,
    clean_cli_environment,  # noqa: F401 -- an autouse fixture, active once imported
    cli_invoker,
)

import daytwo
from daytwo.worker import declare_schedules


@pytest.fixture
def invoke(db_url: str) -> Invoke:
    app = daytwo.App(db_url)

    @app.schedule("30 2 * * *", timezone="Europe/Zagreb", name="nightly")
    @app.workflow(name="report")
    def report(ctx: daytwo.Context) -> None:
        return None

    declare_schedules(app.store, app.clock, app.registry)
    app.close()
    return cli_invoker(db_url)


def test_list_show_pause_resume_trigger(invoke: Invoke) -> None:
    listed = invoke("schedules", "list", env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.stderr
    assert "nightly" in listed.stdout and "30 2 * * * (Europe/Zagreb)" in listed.stdout
    assert "CET" in listed.stdout or "CEST" in listed.stdout  # the next run, in its zone
    [row] = json.loads(invoke("schedules", "list", "--json").stdout)
    assert row["name"] == "nightly" and row["next_run"].endswith(("+01:00", "+02:00"))
    assert row["next_run_utc"].endswith("+00:00") and row["paused"] is False
    paused = invoke("schedules", "pause", "nightly", "--reason", "migration", "--by", "ann")
    assert paused.exit_code == 0 and "schedule nightly: paused" in paused.stdout
    again = invoke("schedules", "pause", "nightly", "--by", "bob")
    assert again.exit_code == 5 and "already paused" in again.stderr
    shown = json.loads(invoke("schedules", "show", "nightly", "--json").stdout)
    assert (shown["paused"], shown["paused_by"]) == (True, "ann")
    assert shown["paused_reason"] == "migration"
    triggered = json.loads(
        invoke("schedules", "trigger", "nightly", "--key", "k1", "--json", "--by", "ann").stdout
    )
    assert triggered == {
        "schedule": "nightly",
        "instance_id": "schedule:nightly:trigger:k1",
        "created": True,
    }
    repeated = invoke("schedules", "trigger", "nightly", "--key", "k1")
    assert repeated.exit_code == 0 and "already started" in repeated.stdout
    show = invoke("schedules", "show", "nightly", env={"COLUMNS": "200"})
    assert "triggered" in show.stdout and "schedule:nightly:trigger:k1" in show.stdout
    resumed = invoke("schedules", "resume", "nightly", "--reason", "done")
    assert resumed.exit_code == 0 and "resumed; next run" in resumed.stdout
    assert invoke("schedules", "resume", "nightly").exit_code == 5
    unknown = invoke("schedules", "trigger", "nighty")
    assert unknown.exit_code == 3 and "known schedules: nightly" in unknown.stderr
    audit = json.loads(invoke("audit", "list", "--json").stdout)
    assert [(r["action"], r["outcome"]) for r in reversed(audit)] == [
        ("schedule.pause", "done"),
        ("schedule.pause", "refused"),
        ("schedule.trigger", "done"),
        ("schedule.trigger", "done"),
        ("schedule.resume", "done"),
        ("schedule.resume", "refused"),
        ("schedule.trigger", "refused"),
    ]
