"""The server, tokens and errors: health, 401/403 with audit rows, problem+json, 413."""

from __future__ import annotations

import pytest
from _live import LiveApi, live, live_api

import daytwo
from daytwo.api import Role

__all__ = ["live"]


def test_health_needs_no_token_and_readyz_checks_the_database(live: LiveApi) -> None:
    with live.http(None) as http:
        assert http.get("/healthz").json()["status"] == "ok"
        assert http.get("/readyz").json()["status"] == "ok"


def test_a_request_without_a_token_is_401_as_problem_json_and_audited(live: LiveApi) -> None:
    with live.http(None) as http:
        answer = http.get("/v1/instances")
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["www-authenticate"] == "Bearer"
    problem = answer.json()
    assert problem["status"] == 401 and problem["error"] == "Unauthorized"
    assert "daytwo tokens create" in problem["detail"]
    [row] = live.app.client.audit.list(action="api")
    assert (row.actor, row.target, row.outcome) == ("anonymous", "GET /v1/instances", "refused")


def test_a_wrong_token_is_401_and_never_logged(
    live: LiveApi, caplog: pytest.LogCaptureFixture
) -> None:
    real = live.tokens["viewer"]
    forged = real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB")
    with live.http(secret=forged) as http:
        assert http.get("/v1/instances").status_code == 401
    with live.http(secret="not-a-token") as http:
        assert http.get("/v1/instances").status_code == 401
    rows = live.app.client.audit.list(action="api")
    assert len(rows) == 2
    text = caplog.text + repr(rows)
    assert real[12:] not in text and forged not in text


def test_a_viewer_reads_but_cannot_act(live: LiveApi) -> None:
    live.app.start("order", {}, id="o-1")
    with live.http(Role.VIEWER) as http:
        assert http.get("/v1/instances/o-1").json()["workflow"] == "order"
        refused = http.post("/v1/instances/o-1/cancel", json={"reason": "no"})
    assert refused.status_code == 403
    assert "role viewer" in refused.json()["detail"]
    [row] = live.app.client.audit.list(action="api")
    assert row.actor == "viewer-token" and row.target == "POST /v1/instances/o-1/cancel"
    assert live.app.get("o-1").status is daytwo.InstanceStatus.RUNNABLE


def test_a_scoped_token_sees_only_its_workflows(live: LiveApi) -> None:
    live.app.start("order", {}, id="o-1")
    live.app.start("plain", False, id="p-1")
    scoped = live.token("orders-only", Role.OPERATOR, workflows=["order"])
    with live.http(secret=scoped) as http:
        listed = http.get("/v1/instances").json()
        assert [i["id"] for i in listed["items"]] == ["o-1"]
        assert http.get("/v1/instances/o-1").status_code == 200
        assert http.get("/v1/instances/p-1").status_code == 403
        assert http.get("/v1/instances", params={"workflow": "plain"}).status_code == 403
        assert http.post("/v1/instances", json={"workflow": "plain"}).status_code == 403


def test_expired_and_revoked_tokens_are_refused(live: LiveApi, clock: daytwo.FakeClock) -> None:
    short = live.token("short", Role.VIEWER, expires="1h")
    with live.http(secret=short) as http:
        assert http.get("/v1/instances").status_code == 200
        clock.advance(3601)
        assert http.get("/v1/instances").status_code == 401
    with live.http(Role.ADMIN) as http:
        made = http.post("/v1/tokens", json={"name": "temp", "role": "viewer"}).json()
        secret = made["secret"]
        with live.http(secret=secret) as temp:
            assert temp.get("/v1/instances").status_code == 200
            revoked = http.post(f"/v1/tokens/{made['token']['id']}/revoke", json={})
            assert revoked.status_code == 200
            assert temp.get("/v1/instances").status_code == 401
        listed = http.get("/v1/tokens").json()
        assert "temp" not in [t["name"] for t in listed]
        assert all("secret" not in t for t in listed)
    actions = [r.action for r in live.app.client.audit.list(action="token")]
    assert actions.count("token.create") >= 2 and "token.revoke" in actions


def test_start_is_idempotent_on_its_id_and_audited(live: LiveApi) -> None:
    with live.http(Role.OPERATOR) as http:
        first = http.post("/v1/instances", json={"workflow": "order", "input": {}, "id": "s-1"})
        again = http.post("/v1/instances", json={"workflow": "order", "input": {}, "id": "s-1"})
        other = http.post(
            "/v1/instances", json={"workflow": "order", "input": {"x": 1}, "id": "s-1"}
        )
    assert (first.status_code, first.json()) == (201, {"id": "s-1", "created": True})
    assert (again.status_code, again.json()["created"]) == (200, False)
    assert other.status_code == 409 and other.json()["error"] == "InstanceConflict"
    [row] = live.app.client.audit.list(action="instance.start")
    assert (row.actor, row.target) == ("operator-token", "s-1")


def test_unknown_fields_and_bad_values_are_422_naming_the_field(live: LiveApi) -> None:
    with live.http(Role.OPERATOR) as http:
        answer = http.post("/v1/instances", json={"workflow": "order", "inptu": 1})
        assert answer.status_code == 422
        assert "inptu" in answer.json()["detail"]
        assert http.get("/v1/instances", params={"limit": 0}).status_code == 422
        assert http.get("/v1/instances", params={"after": "garbage"}).status_code == 422
        assert http.get("/v1/instances/nope").status_code == 404


def test_instances_are_listed_in_keyset_pages(live: LiveApi, clock: daytwo.FakeClock) -> None:
    for n in range(5):
        live.app.start("order", {}, id=f"k-{n}")
        clock.advance(1)
    seen: list[str] = []
    after = None
    with live.http(Role.VIEWER) as http:
        while True:
            params: dict[str, str | int] = {"limit": 2}
            if after:
                params["after"] = after
            page = http.get("/v1/instances", params=params).json()
            seen += [i["id"] for i in page["items"]]
            after = page["next"]
            if after is None:
                break
    assert seen == [f"k-{n}" for n in reversed(range(5))]


@pytest.mark.backends("sqlite")
def test_a_body_over_the_limit_is_413(shop: daytwo.App) -> None:
    with live_api(shop, max_body=200) as live, live.http(Role.OPERATOR) as http:
        answer = http.post("/v1/instances", json={"workflow": "order", "input": {"x": "y" * 500}})
    assert answer.status_code == 413
    assert "--max-body" in answer.json()["detail"]


def test_a_value_the_database_cannot_hold_is_422_not_503(live: LiveApi, backend: str) -> None:
    with live.http(Role.VIEWER) as http:
        answer = http.get("/v1/instances", params={"workflow": "a\x00b"})
    if backend == "postgresql":
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"] == "InvalidInput"
    else:
        assert answer.status_code == 200  # SQLite stores and compares NUL bytes


@pytest.mark.backends("sqlite")
def test_a_body_that_is_not_a_json_object_says_so(live: LiveApi) -> None:
    with live.http(Role.OPERATOR) as http:
        broken = http.post(
            "/v1/instances", content=b"not json", headers={"Content-Type": "application/json"}
        )
        form = http.post("/v1/instances", data={"workflow": "order"})
        method = http.delete("/v1/instances")
    assert broken.status_code == 422 and "not valid JSON" in broken.json()["detail"]
    assert form.status_code == 422 and "must be a JSON object" in form.json()["detail"]
    assert (method.status_code, method.json()["title"]) == (405, "Method Not Allowed")
