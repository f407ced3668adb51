"""``/v1/slo/status | alerts | stuck`` on a live server: what ``daytwo slo`` prints, per
token scope; ``/metrics`` behind a viewer token."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from _live import LiveApi, live, live_api
from _slo_shop import OBJECTIVES, make_history, with_objectives

import daytwo
from daytwo import slo
from daytwo.api import Role
from daytwo.slo._readers import SloReader
from daytwo.slo._routes import ObjectiveStatus

__all__ = ["live"]


@pytest.fixture
def slo_live(shop: daytwo.App, clock: daytwo.FakeClock) -> Iterator[LiveApi]:
    """The shop with objectives and a history (``_slo_shop.py``) behind a live server."""
    make_history(with_objectives(shop), clock)
    with live_api(shop) as server:
        yield server


def test_status_is_what_the_command_measures(slo_live: LiveApi) -> None:
    with slo_live.http(Role.VIEWER) as http:
        answer = http.get("/v1/slo/status")
    assert answer.status_code == 200
    found = answer.json()
    assert [s["name"] for s in found] == [o.name for o in OBJECTIVES]
    expected = SloReader(slo_live.app, OBJECTIVES).status()
    assert found == [ObjectiveStatus.of(line).model_dump(mode="json") for line in expected]
    order = found[0]
    assert order["alert_state"] == "firing (page, ticket)" and order["target"] == "99.0%"
    assert order["sli"] == 0.0 and order["budget_remaining"] < 0
    assert order["burn"]["1h"] > 14
    assert found[2]["target"] == "95.0% within 5m"
    # Parsed back, it is the same status (what daytwo --server slo status prints).
    assert [ObjectiveStatus.model_validate(s).line() for s in found] == expected


def test_the_response_model_has_every_field_of_a_status() -> None:
    names = {f.name for f in dataclasses.fields(slo.SloStatus)}
    assert names <= set(ObjectiveStatus.model_fields)


def test_alerts_firing_and_all(slo_live: LiveApi, clock: daytwo.FakeClock) -> None:
    with slo_live.http(Role.VIEWER) as http:
        firing = http.get("/v1/slo/alerts").json()
        keys = {a["dedup_key"] for a in firing}
        assert {"slo/order-ok/page", "slo/order-ok/ticket"} <= keys
        assert all(a["status"] == "firing" for a in firing)
        page = next(a for a in firing if a["dedup_key"] == "slo/order-ok/page")
        assert page["runbook"] == "https://runbooks.example/order"
        assert firing == [a.to_json() for a in slo.list_alerts(slo_live.app.store, status="firing")]
        one = http.get("/v1/slo/alerts", params={"objective": "order-ok", "limit": 1}).json()
        assert len(one) == 1 and one[0]["objective"] == "order-ok"
        clock.advance(2 * 86400)  # the failures leave the windows: the alerts resolve
        slo.Evaluator.for_app(slo_live.app).evaluate()
        assert http.get("/v1/slo/alerts").json() == []
        every = http.get("/v1/slo/alerts", params={"all": "true"}).json()
        assert {a["dedup_key"] for a in every} == keys
        assert {a["status"] for a in every} == {"resolved"}
        assert http.get("/v1/slo/alerts", params={"limit": 0}).status_code == 422


def test_stuck_instances_with_reasons(slo_live: LiveApi) -> None:
    with slo_live.http(Role.VIEWER) as http:
        found = http.get("/v1/slo/stuck").json()
        only_plain = http.get("/v1/slo/stuck", params={"workflow": "plain"}).json()
    app = slo_live.app
    expected = slo.stuck_report(
        app.store, app.clock.now(), OBJECTIVES, list(app.registry.workflows)
    )
    assert found == [s.to_json() for s in expected]
    by_id = {s["instance_id"]: s for s in found}
    assert set(by_id) == {"waits", "held"}
    assert by_id["waits"]["reason"].startswith("human task 'manager-approval' overdue by")
    assert by_id["waits"]["threshold"] == 4 * 3600
    assert by_id["held"]["reason"].startswith("lease held by dead worker dead-worker")
    assert [s["instance_id"] for s in only_plain] == ["held"]


def test_a_scoped_token_sees_only_its_workflows_objectives(slo_live: LiveApi) -> None:
    plain = slo_live.token("plain-only", Role.VIEWER, workflows=["plain"])
    with slo_live.http(secret=plain) as http:
        assert [s["name"] for s in http.get("/v1/slo/status").json()] == ["plain-ok"]
        alerts = http.get("/v1/slo/alerts", params={"all": "true"}).json()
        assert all(a["objective"] == "plain-ok" for a in alerts)
        assert [s["instance_id"] for s in http.get("/v1/slo/stuck").json()] == ["held"]
        refused = http.get("/v1/slo/stuck", params={"workflow": "order"})
        assert refused.status_code == 403 and "plain-only" in refused.json()["detail"]
        assert http.get("/v1/slo/alerts", params={"objective": "order-ok"}).status_code == 403
    nothing = slo_live.token("refunds-only", Role.VIEWER, workflows=["refund"])
    with slo_live.http(secret=nothing) as http:
        assert http.get("/v1/slo/status").json() == []
        assert http.get("/v1/slo/alerts").json() == []
        assert http.get("/v1/slo/stuck").json() == []


def test_slo_routes_need_a_token(slo_live: LiveApi) -> None:
    with slo_live.http(None) as http:
        for route in ("status", "alerts", "stuck"):
            assert http.get(f"/v1/slo/{route}").status_code == 401


def test_an_app_without_objectives_has_no_slo_routes(live: LiveApi) -> None:
    with live.http(Role.VIEWER) as http:  # the shop without objectives: no SLO extension
        missing = http.get("/v1/slo/status")
        paths = http.get("/openapi.json").json()["paths"]
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert not [p for p in paths if p.startswith("/v1/slo")] and "/v1/events" in paths


def test_metrics_need_a_viewer_token(slo_live: LiveApi) -> None:
    with slo_live.http(None) as http:
        refused = http.get("/metrics")
    assert refused.status_code == 401
    with slo_live.http(Role.VIEWER) as http:
        answer = http.get("/metrics")
        openmetrics = http.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    text = answer.text
    assert "daytwo_slo_error_budget_remaining_ratio{" in text and 'slo="order-ok"' in text
    assert "daytwo_instances_stuck" in text
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.rstrip().endswith("# EOF")
    scoped = slo_live.token("plain-only", Role.VIEWER, workflows=["plain"])
    with slo_live.http(secret=scoped) as http:
        refused = http.get("/metrics")
    assert refused.status_code == 403 and "without --workflows" in refused.json()["detail"]
