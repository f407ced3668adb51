"""``daytwo incidents ...``: every action through the CLI is the service's, audited, with
the CLI's exit codes for an unknown incident (3), bad input (2) and a state that does not
allow the action (5)."""

from __future__ import annotations

import json

import pytest
from _cli import (
    Invoke,
    clean_cli_environment,  # noqa: F401 -- an autouse fixture, active once imported
    cli_invoker,
)

import daytwo
from daytwo.incidents import Incidents, Source, Trigger, TriggerAction


@pytest.fixture
def invoke(db_url: str) -> Invoke:
    app = daytwo.App(db_url)
    app.store  # noqa: B018 -- create daytwo's tables (the CLI refuses to create them)
    app.close()
    return cli_invoker(db_url, COLUMNS="200")


def firing(db_url: str) -> int:
    """An incident opened by an alert that still fires."""
    app = daytwo.App(db_url)
    try:
        made = Incidents.for_app(app).ingest(
            Trigger(
                source=Source.ALERTMANAGER, dedup_key="grp", action=TriggerAction.TRIGGER,
                summary="payments failing", kind="alertmanager", workflow="order",
                details={"instance_id": "order-17"},
            )
        )  # fmt: skip
        assert made.incident is not None
        return made.incident.id
    finally:
        app.close()


def test_open_act_and_read_back(invoke: Invoke) -> None:
    opened = invoke(
        "incidents", "open", "checkout slow", "--severity", "SEV2", "--workflow", "order",
        "--label", "region=eu", "--by", "ann", "--json",
    )  # fmt: skip
    assert opened.exit_code == 0, opened.stderr
    made = json.loads(opened.stdout)
    number = str(made["id"])
    assert (made["severity"], made["labels"], made["opened_by"]) == (
        "SEV2", {"region": "eu"}, "ann",
    )  # fmt: skip
    listed = invoke("incidents", "list")
    assert listed.exit_code == 0 and "checkout slow" in listed.stdout
    assert "1 open incident(s)" in listed.stdout
    for args in (
        ("ack", number),
        ("reassign", number, "payments-team", "--reason", "theirs"),
        ("note", number, "restarted the gateway"),
        ("severity", number, "SEV1", "--reason", "customers affected"),
        ("stage", number, "contain", "--note", "paused order"),
        ("resolve", number, "--reason", "fixed"),
        ("reopen", number, "--reason", "came back"),
    ):
        done = invoke("incidents", *args, "--by", "bob")
        assert done.exit_code == 0, (args, done.stderr)
        assert done.stdout.startswith(f"incident #{number}: ")
    shown = json.loads(invoke("incidents", "show", number, "--json").stdout)
    incident = shown["incident"]
    assert (incident["status"], incident["severity"], incident["assignee"]) == (
        "triggered", "SEV1", "payments-team",
    )  # fmt: skip
    assert incident["stage"] == "contain" and incident["acknowledged_by"] == "bob"
    kinds = [
        e["kind"] for e in json.loads(invoke("incidents", "timeline", number, "--json").stdout)
    ]
    assert kinds == [
        "opened", "acknowledged", "reassigned", "note", "severity_changed", "stage", "resolved",
        "reopened",
    ]  # fmt: skip
    text = invoke("incidents", "show", number)
    assert text.exit_code == 0 and "#1 checkout slow" in text.stdout
    assert "restarted the gateway" in text.stdout and "MTTA" in text.stdout
    assert "open incident" not in invoke("incidents", "list", "--all").stdout
    assert invoke("incidents", "list", "--status", "resolved", "--json").stdout.strip() == "[]"
    audit = json.loads(invoke("audit", "list", "--target-kind", "incident", "--json").stdout)
    assert [r["action"] for r in reversed(audit)] == [
        "incident.open", "incident.acknowledge", "incident.reassign", "incident.note",
        "incident.severity", "incident.stage", "incident.resolve", "incident.reopen",
    ]  # fmt: skip
    assert {r["actor"] for r in audit} == {"ann", "bob"}
    report = json.loads(invoke("incidents", "report", "--since", "1d", "--json").stdout)
    assert report["total"] == 1 and report["by_severity"] == {"SEV1": 1}
    assert report["mtta"]["count"] == 1 and report["percentile_method"] == "nearest-rank"
    assert invoke("incidents", "report").exit_code == 0


def test_resolve_while_firing_needs_force_and_affected_lists_instances(
    invoke: Invoke, db_url: str
) -> None:
    number = str(firing(db_url))
    refused = invoke("incidents", "resolve", number, "--by", "ann")
    assert refused.exit_code == 5 and "--force" in refused.stderr
    assert refused.stderr.startswith("error: incident #") and refused.stderr.count("\n") == 1
    affected = json.loads(invoke("incidents", "affected", number, "--json").stdout)
    assert affected == {"incident": int(number), "instances": ["order-17"], "count": 1}
    shown = invoke("incidents", "show", number)
    assert "affected instances (1): order-17" in shown.stdout and "firing" in shown.stdout
    forced = invoke("incidents", "resolve", number, "--force", "--by", "ann", "--json")
    assert forced.exit_code == 0 and json.loads(forced.stdout)["status"] == "resolved"


def test_bad_input_and_unknown_incidents(invoke: Invoke) -> None:
    number = json.loads(invoke("incidents", "open", "x", "--json").stdout)["id"]
    unknown = invoke("incidents", "ack", "99")
    assert unknown.exit_code == 3 and "no incident #99" in unknown.stderr
    assert invoke("incidents", "show", "99").exit_code == 3
    bad = invoke("incidents", "severity", str(number), "SEV9", "--reason", "r")
    assert bad.exit_code == 2 and "SEV9" in bad.stderr
    assert invoke("incidents", "open", "y", "--severity", "sev-one").exit_code == 2
    empty = invoke("incidents", "note", str(number), "  ")
    assert empty.exit_code == 2 and "must not be empty" in empty.stderr
    assert invoke("incidents", "open", " ").exit_code == 2
    label = invoke("incidents", "open", "z", "--label", "novalue")
    assert label.exit_code == 2 and "KEY=VALUE" in label.stderr
    assert invoke("incidents", "list", "--since", "yesterday").exit_code == 2
    backwards = invoke("incidents", "stage", str(number), "triage")
    assert backwards.exit_code == 5 and "stages go forward" in backwards.stderr
    assert invoke("incidents", "reopen", str(number)).exit_code == 5
    # Nothing of the refused ones was stored.
    assert len(json.loads(invoke("incidents", "list", "--all", "--json").stdout)) == 1
