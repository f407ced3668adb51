"""``/v1/incidents/...`` on a live server: viewers read, operators act (as the token's
name), bad input is a 422 naming the field, an unknown incident 404, resolving one that
still fires 409; and ``daytwo --server URL incidents ...`` over those routes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _cli import Invoke, clean_cli_environment, cli_invoker
from _live import LiveApi, live_api

import daytwo
from daytwo.api import Role
from daytwo.incidents import (
    Incidents,
    IncidentsExtension,
    Source,
    Trigger,
    TriggerAction,
)

__all__ = ["clean_cli_environment"]


@pytest.fixture
def served(fake_app: daytwo.App) -> Iterator[LiveApi]:
    fake_app.use(IncidentsExtension())
    with live_api(fake_app) as server:
        yield server


def firing(app: daytwo.App) -> int:
    made = Incidents.for_app(app).ingest(
        Trigger(
            source=Source.ALERTMANAGER, dedup_key="grp", action=TriggerAction.TRIGGER,
            summary="payments failing", kind="alertmanager", workflow="order",
            details={"instance_id": "order-17"},
        )
    )  # fmt: skip
    assert made.incident is not None
    return made.incident.id


def test_open_act_and_read(served: LiveApi, clock: daytwo.FakeClock) -> None:
    with served.http(Role.OPERATOR) as http:
        opened = http.post(
            "/v1/incidents",
            json={"title": "checkout slow", "severity": "SEV2", "workflow": "order",
                  "labels": {"region": "eu"}},
        )  # fmt: skip
        assert opened.status_code == 201, opened.text
        number = opened.json()["id"]
        assert opened.json()["opened_by"] == "operator-token"
        clock.advance(90)
        steps = [
            ("acknowledge", None),
            ("reassign", {"to": "payments-team", "reason": "theirs"}),
            ("notes", {"text": "restarted the gateway"}),
            ("severity", {"severity": "SEV1", "reason": "customers affected"}),
            ("stage", {"stage": "contain", "note": "paused"}),
            ("resolve", {"reason": "fixed"}),
            ("reopen", {"reason": "back"}),
        ]
        for verb, body in steps:
            done = http.post(f"/v1/incidents/{number}/{verb}", json=body)
            assert done.status_code == 200, (verb, done.text)
    with served.http(Role.VIEWER) as http:
        shown = http.get(f"/v1/incidents/{number}").json()
        assert (shown["status"], shown["severity"], shown["assignee"]) == (
            "triggered", "SEV1", "payments-team",
        )  # fmt: skip
        assert shown["time_to_acknowledge"] == 90 and shown["acknowledged_by"] == "operator-token"
        timeline = http.get(f"/v1/incidents/{number}/timeline").json()
        assert [e["kind"] for e in timeline][-2:] == ["resolved", "reopened"]
        assert http.get("/v1/incidents").json()["items"][0]["id"] == number
        assert http.get("/v1/incidents", params={"status": "resolved"}).json()["items"] == []
        report = http.get("/v1/incidents/report", params={"since": "1d"}).json()
        assert report["total"] == 1 and report["mtta"]["p50"] == 90
        assert report["percentile_method"] == "nearest-rank"
        # A viewer may not act.
        assert http.post(f"/v1/incidents/{number}/acknowledge").status_code == 403
    audit = served.app.client.audit.list(target_kind="incident")
    assert {r.actor for r in audit} == {"operator-token"} and len(audit) == 8


def test_paging_alerts_and_affected(served: LiveApi) -> None:
    service = Incidents.for_app(served.app)
    for n in range(3):
        service.open(f"problem {n}", by="ann")
    number = firing(served.app)
    with served.http(Role.VIEWER) as http:
        first = http.get("/v1/incidents", params={"limit": 2}).json()
        assert [i["id"] for i in first["items"]] == [4, 3] and first["next"] == 3
        rest = http.get("/v1/incidents", params={"limit": 2, "before": 3}).json()
        assert [i["id"] for i in rest["items"]] == [2, 1]
        alerts = http.get(f"/v1/incidents/{number}/alerts").json()
        assert [(a["alert_key"], a["state"]) for a in alerts] == [("grp", "firing")]
        affected = http.get(f"/v1/incidents/{number}/affected").json()
        assert affected == {"incident": number, "instances": ["order-17"], "count": 1,
                            "truncated": False}  # fmt: skip


def test_bad_input_unknown_and_still_firing(served: LiveApi) -> None:
    number = firing(served.app)
    with served.http(Role.OPERATOR) as http:
        unknown = http.get("/v1/incidents/99")
        assert unknown.status_code == 404 and unknown.json()["error"] == "IncidentNotFound"
        assert http.post("/v1/incidents/99/acknowledge").status_code == 404
        bad = http.post(
            f"/v1/incidents/{number}/severity", json={"severity": "SEV9", "reason": "r"}
        )
        assert bad.status_code == 422 and "severity" in bad.json()["detail"]
        assert http.get("/v1/incidents", params={"severity": "high"}).status_code == 422
        empty = http.post(f"/v1/incidents/{number}/notes", json={"text": "  "})
        assert empty.status_code == 422 and "must not be empty" in empty.json()["detail"]
        extra = http.post(f"/v1/incidents/{number}/notes", json={"text": "x", "txt": "y"})
        assert extra.status_code == 422 and "txt" in extra.json()["detail"]
        assert http.get("/v1/incidents", params={"since": "yesterday"}).status_code == 422
        firing_now = http.post(f"/v1/incidents/{number}/resolve", json={})
        assert firing_now.status_code == 409 and "--force" in firing_now.json()["detail"]
        forced = http.post(f"/v1/incidents/{number}/resolve", json={"force": True})
        assert forced.status_code == 200 and forced.json()["status"] == "resolved"
        again = http.post(f"/v1/incidents/{number}/acknowledge")
        assert again.status_code == 409
    with served.http(None) as http:
        assert http.get("/v1/incidents").status_code == 401


def test_a_scoped_token_sees_its_workflows_incidents_only(served: LiveApi) -> None:
    service = Incidents.for_app(served.app)
    mine = service.open("order down", workflow="order", by="ann").id
    other = service.open("refund down", workflow="refund", by="ann").id
    secret = served.token("order-ops", Role.OPERATOR, workflows=["order"])
    with served.http(secret=secret) as http:
        assert [i["id"] for i in http.get("/v1/incidents").json()["items"]] == [mine]
        assert http.get(f"/v1/incidents/{other}").status_code == 403
        assert http.post(f"/v1/incidents/{mine}/acknowledge").status_code == 200
        assert http.get("/v1/incidents/report").status_code == 403


@pytest.fixture
def remote(served: LiveApi) -> Invoke:
    return cli_invoker(
        "sqlite:////nonexistent/never-used.db", COLUMNS="200",
        DAYTWO_SERVER=served.url, DAYTWO_TOKEN=served.tokens[str(Role.OPERATOR)],
    )  # fmt: skip


def test_the_cli_over_the_server(served: LiveApi, remote: Invoke) -> None:
    import json

    opened = remote("incidents", "open", "checkout slow", "--severity", "SEV2", "--json")
    assert opened.exit_code == 0, opened.stderr
    number = str(json.loads(opened.stdout)["id"])
    assert json.loads(opened.stdout)["opened_by"] == "operator-token"
    for args in (("ack", number), ("note", number, "looking"), ("stage", number, "diagnose")):
        done = remote("incidents", *args)
        assert done.exit_code == 0 and done.stdout.startswith(f"incident #{number}: "), done.stderr
    listed = remote("incidents", "list")
    assert listed.exit_code == 0 and "checkout slow" in listed.stdout
    assert remote("incidents", "show", number).exit_code == 0
    assert "looking" in remote("incidents", "timeline", number).stdout
    report = json.loads(remote("incidents", "report", "--since", "1d", "--json").stdout)
    assert report["total"] == 1
    unknown = remote("incidents", "ack", "99")
    assert unknown.exit_code == 3 and "no incident #99" in unknown.stderr
    firing_number = str(firing(served.app))
    refused = remote("incidents", "resolve", firing_number)
    assert refused.exit_code == 5 and "--force" in refused.stderr
    assert remote("incidents", "reopen", number).exit_code == 5
    assert remote("incidents", "note", number, " ").exit_code == 2
    assert remote("incidents", "resolve", firing_number, "--force").exit_code == 0
    affected = json.loads(remote("incidents", "affected", firing_number, "--json").stdout)
    assert affected["instances"] == ["order-17"]
