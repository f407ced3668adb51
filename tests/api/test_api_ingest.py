"""The ingest receivers through a real server: ``POST /ingest/alertmanager`` (bearer token)
and ``POST /ingest/events`` (bearer token, or the token as PagerDuty's ``routing_key``),
with payloads shaped like the documented examples (``tests/fixtures/ingest/``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _live import LiveApi, live_api

import daytwo
from daytwo.api import Role
from daytwo.incidents import Incidents, IncidentsExtension, IncidentStatus
from daytwo.store import metadata

FIXTURES = Path(__file__).parent.parent / "fixtures" / "ingest"
PROBLEM = "application/problem+json"


def fixture(name: str, **changes: Any) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return loaded | changes


@pytest.fixture
def ingest(fake_app: daytwo.App) -> Iterator[LiveApi]:
    fake_app.use(IncidentsExtension())
    with live_api(fake_app) as server:
        yield server


def incidents_of(live: LiveApi) -> Incidents:
    return Incidents.for_app(live.app)


def everything_stored(live: LiveApi) -> str:
    """Every row of every table, as text."""
    with live.app.store.read() as conn:
        rows = [list(conn.execute(table.select())) for table in metadata.sorted_tables]
    return json.dumps([[list(row) for row in table] for table in rows], default=str)


def test_alertmanager_opens_appends_and_resolves(ingest: LiveApi) -> None:
    with ingest.http(Role.OPERATOR) as http:
        first = http.post("/ingest/alertmanager", json=fixture("alertmanager_firing"))
        assert first.status_code == 200, first.text
        answer = first.json()
        assert answer["status"] == "ok" and len(answer["incidents"]) == 1
        number = answer["incidents"][0]
        assert answer["results"] == [
            {"outcome": "opened", "incident": number}, {"outcome": "appended", "incident": number},
        ]  # fmt: skip
        again = http.post("/ingest/alertmanager", json=fixture("alertmanager_firing")).json()
        assert again["incidents"] == [number]
        assert [r["outcome"] for r in again["results"]] == ["appended", "appended"]
        assert [a.count for a in incidents_of(ingest).alerts(number)] == [2, 2]
        done = http.post("/ingest/alertmanager", json=fixture("alertmanager_resolved")).json()
        assert [r["outcome"] for r in done["results"]] == ["alert_resolved", "resolved"]
    incident = incidents_of(ingest).get(number)
    assert incident.status is IncidentStatus.RESOLVED and incident.workflow == "order"
    timeline = incidents_of(ingest).timeline(number)
    assert timeline[0].data["details"]["received_by"] == "operator-token"


def test_the_receivers_need_an_operator_token(ingest: LiveApi) -> None:
    for path, body in [("/ingest/alertmanager", fixture("alertmanager_firing")),
                       ("/ingest/events", fixture("events_trigger"))]:  # fmt: skip
        with ingest.http(None) as anonymous:
            refused = anonymous.post(path, json=body)
            assert refused.status_code == 401, refused.text
            assert refused.headers["content-type"] == PROBLEM
            assert refused.headers["www-authenticate"] == "Bearer"
        with ingest.http(Role.VIEWER) as viewer:
            forbidden = viewer.post(path, json=body)
            assert forbidden.status_code == 403, forbidden.text
            assert "needs operator" in forbidden.json()["detail"]
    assert incidents_of(ingest).list() == []


def test_events_take_the_token_as_routing_key(ingest: LiveApi) -> None:
    secret = ingest.tokens[str(Role.OPERATOR)]
    with ingest.http(None) as pagerduty:  # PagerDuty clients send no headers
        opened = pagerduty.post(
            "/ingest/events", json=fixture("events_trigger", routing_key=secret)
        )
        assert opened.status_code == 202, opened.text
        answer = opened.json()
        assert answer == {"status": "success", "message": "Event processed",
                          "dedup_key": "dedupkeyhere", "incident": answer["incident"]}  # fmt: skip
        number = answer["incident"]
        repeated = pagerduty.post(
            "/ingest/events", json=fixture("events_trigger", routing_key=secret)
        )
        assert repeated.json()["incident"] == number
        assert incidents_of(ingest).alerts(number)[0].count == 2
        ack = pagerduty.post(
            "/ingest/events", json=fixture("events_acknowledge", routing_key=secret)
        )
        assert ack.status_code == 202
        assert incidents_of(ingest).get(number).status is IncidentStatus.ACKNOWLEDGED
        done = pagerduty.post("/ingest/events", json=fixture("events_resolve", routing_key=secret))
        assert done.status_code == 202
        assert incidents_of(ingest).get(number).status is IncidentStatus.RESOLVED
        # A viewer's token as routing key is refused like a viewer's bearer token.
        viewer = fixture("events_trigger", routing_key=ingest.tokens[str(Role.VIEWER)])
        assert pagerduty.post("/ingest/events", json=viewer).status_code == 403
        # A real PagerDuty integration key is no daytwo token.
        assert pagerduty.post("/ingest/events", json=fixture("events_trigger")).status_code == 401
    assert len(incidents_of(ingest).list()) == 1
    stored = everything_stored(ingest)
    # Neither the token (``dt_<id>_<secret>``) nor its secret is in any table.
    assert secret not in stored and secret[16:] not in stored
    timeline = json.dumps([e.to_json() for e in incidents_of(ingest).timeline(number)])
    assert secret not in timeline and "routing_key" not in timeline


def test_a_trigger_without_dedup_key_gets_one_back(ingest: LiveApi) -> None:
    body = fixture("events_trigger")
    del body["dedup_key"]
    with ingest.http(Role.OPERATOR) as http:  # a bearer token: the routing key is PagerDuty's
        answer = http.post("/ingest/events", json=body).json()
        key = answer["dedup_key"]
        assert key and key != "dedupkeyhere"
        resolve = fixture("events_resolve", dedup_key=key)
        assert http.post("/ingest/events", json=resolve).json()["incident"] == answer["incident"]
    assert incidents_of(ingest).get(answer["incident"]).status is IncidentStatus.RESOLVED
    assert "routingkeyhere" not in everything_stored(ingest)


def test_a_source_that_never_resolves_goes_quiet(ingest: LiveApi, clock: daytwo.FakeClock) -> None:
    with ingest.http(Role.OPERATOR) as http:
        bad = http.post("/ingest/events?quiet=soon", json=fixture("events_trigger"))
        assert bad.status_code == 422 and "quiet" in bad.text
        answer = http.post("/ingest/events?quiet=10m", json=fixture("events_trigger")).json()
    incidents = incidents_of(ingest)
    number = answer["incident"]
    assert incidents.get(number).quiet_after == 600
    clock.advance(599)
    assert incidents.resolve_quiet() == []
    clock.advance(1)
    assert incidents.resolve_quiet() == [number]
    assert incidents.get(number).status is IncidentStatus.RESOLVED


def test_a_bad_payload_is_422_naming_the_field_and_nothing_is_stored(ingest: LiveApi) -> None:
    # The second alert is bad: the first, valid one must not be stored either.
    alertmanager = fixture("alertmanager_firing")
    alertmanager["alerts"][1]["status"] = "pending"
    secret = ingest.tokens[str(Role.OPERATOR)]
    event = fixture("events_trigger", routing_key=secret)
    event["payload"]["severity"] = "fatal"
    old = fixture("alertmanager_firing", version="3")
    cases = [
        ("/ingest/alertmanager", alertmanager, "alerts[1].status: must be 'firing' or 'resolved'"),
        ("/ingest/alertmanager", old, "version: must be '4'"),
        ("/ingest/events", event, "payload.severity: must be 'critical', 'error', 'warning' or"),
        ("/ingest/events", [event], "must be a JSON object"),
    ]
    with ingest.http(Role.OPERATOR) as http:
        for path, body, message in cases:
            refused = http.post(path, json=body)
            assert refused.status_code == 422, refused.text
            assert refused.headers["content-type"] == PROBLEM
            problem = refused.json()
            assert message in problem["detail"] and problem["error"] in (
                "InvalidPayload", "InvalidInput",
            )  # fmt: skip
            assert secret not in refused.text
        not_json = http.post(
            "/ingest/alertmanager", content=b"{", headers={"Content-Type": "application/json"}
        )
        assert not_json.status_code == 422 and "not valid JSON" in not_json.json()["detail"]
    with ingest.http(None) as pagerduty:  # the routing-key path answers the same way
        refused = pagerduty.post("/ingest/events", json=event)
        assert refused.status_code == 422 and secret not in refused.text
    assert incidents_of(ingest).list() == []


def test_a_scoped_token_ingests_only_its_workflows(ingest: LiveApi) -> None:
    scoped = ingest.token("shipping-only", Role.OPERATOR, workflows=["shipping"])
    with ingest.http(secret=scoped) as http:
        refused = http.post("/ingest/alertmanager", json=fixture("alertmanager_firing"))
        assert refused.status_code == 403 and "'order'" in refused.json()["detail"]
    assert incidents_of(ingest).list() == []


def test_the_receivers_are_documented(ingest: LiveApi) -> None:
    with ingest.http(None) as http:
        paths = http.get("/openapi.json").json()["paths"]
    body = paths["/ingest/alertmanager"]["post"]["requestBody"]["content"]["application/json"]
    assert "groupKey" in body["schema"]["properties"]
    assert "$ref" not in json.dumps(body)
    assert "202" in paths["/ingest/events"]["post"]["responses"]
