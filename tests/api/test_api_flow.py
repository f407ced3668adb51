"""Flow control, circuit breakers and schedules over HTTP: each route, audited as the token's
name, and the role and scope boundaries (limits need an unscoped owner; pauses, breaker
actions and schedules an operator, within its workflows)."""

from __future__ import annotations

import dataclasses

from _live import LiveApi, live

import daytwo
from daytwo import BreakerPolicy, OperatorAction
from daytwo.api import Role
from daytwo.api.routes._breakers import PolicyFields
from daytwo.worker import declare_schedules

__all__ = ["live"]


def _actions(live: LiveApi, prefix: str) -> set[tuple[str, str, str]]:
    return {(r.action, r.actor, str(r.outcome)) for r in live.app.client.audit.list(action=prefix)}


def test_queues_are_listed_by_viewers_and_limited_by_unscoped_owners(live: LiveApi) -> None:
    live.app.start("order", {}, id="o-1")
    with live.http(Role.VIEWER) as http:
        [queue] = http.get("/v1/queues").json()
    assert (queue["name"], queue["runnable"], queue["concurrency"]) == ("default", 1, None)
    limits = {"concurrency": 5, "rate_limit": 10, "rate_period": 60, "reason": "vendor quota"}
    with live.http(Role.OPERATOR) as http:
        refused = http.put("/v1/queues/default", json=limits)
        assert refused.status_code == 403 and "needs owner" in refused.json()["detail"]
    scoped = live.token("orders-owner", Role.OWNER, workflows=["order"])
    with live.http(secret=scoped) as http:
        refused = http.put("/v1/queues/default", json=limits)
        assert refused.status_code == 403 and "without --workflows" in refused.json()["detail"]
    with live.http(Role.OWNER) as http:
        done = http.put("/v1/queues/default", json=limits)
        assert done.status_code == 200, done.text
        assert done.json() == {
            "name": "default", "concurrency": 5, "worker_concurrency": None,
            "rate_limit": 10, "rate_period": 60.0,
        }  # fmt: skip
        [queue] = http.get("/v1/queues").json()
        assert (queue["concurrency"], queue["rate_limit"]) == (5, 10)
        typo = http.put("/v1/queues/defualt", json={"concurrency": 1})
        assert typo.status_code == 422 and "default" in typo.json()["detail"]
        huge = http.put("/v1/queues/default", json={"concurrency": 2**40})
        assert huge.status_code == 422 and "concurrency" in huge.json()["detail"]
        half = http.put("/v1/queues/default", json={"rate_limit": 3})
        assert half.status_code == 422 and "period" in half.json()["detail"]
        forced = http.put("/v1/queues/later", json={"concurrency": 1, "force": True})
        assert forced.status_code == 200
    assert live.app.flow.settings(fresh=True).queue("default").concurrency == 5
    assert _actions(live, "queue") == {
        (OperatorAction.QUEUE_SET, "owner-token", "done"),
        (OperatorAction.QUEUE_SET, "owner-token", "refused"),
    }
    [row] = live.app.client.audit.list(target="default", outcome="done")
    assert row.reason == "vendor quota"


def test_pauses_belong_to_their_workflow(live: LiveApi) -> None:
    with live.http(Role.VIEWER) as http:
        assert http.post("/v1/workflows/order/pause", json={}).status_code == 403
    plain_only = live.token("plain-only", Role.OPERATOR, workflows=["plain"])
    with live.http(secret=plain_only) as http:
        refused = http.post("/v1/workflows/order/pause", json={"reason": "x"})
        assert refused.status_code == 403
        assert http.post("/v1/workflows/plain/pause", json={"step": "nope"}).status_code == 422
    with live.http(Role.OPERATOR) as http:
        paused = http.post("/v1/workflows/order/pause", json={"reason": "payments incident"})
        assert paused.status_code == 200, paused.text
        shown = paused.json()
        assert (shown["workflow"], shown["step"], shown["held"]) == ("order", "", 0)
        assert shown["paused_by"] == "operator-token"
        step = http.post("/v1/workflows/order/pause", json={"step": "charge"})
        assert step.status_code == 200 and step.json()["step"] == "charge"
        assert len(http.get("/v1/pauses").json()) == 2
    with live.http(secret=plain_only) as http:
        assert http.get("/v1/pauses").json() == []
        assert http.post("/v1/workflows/order/resume", json={}).status_code == 403
    with live.http(Role.OPERATOR) as http:
        resumed = http.post("/v1/workflows/order/resume", json={"step": "charge"})
        assert resumed.json() == {"workflow": "order", "step": "charge", "released": 0}
        assert http.post("/v1/workflows/order/resume", json={}).json()["released"] == 0
        again = http.post("/v1/workflows/order/resume", json={})
        assert again.status_code == 422 and "not paused" in again.json()["detail"]
        assert http.get("/v1/pauses").json() == []
    assert _actions(live, "workflow") == {
        (OperatorAction.PAUSE, "operator-token", "done"),
        (OperatorAction.PAUSE, "plain-only", "refused"),  # the unknown step
        (OperatorAction.UNPAUSE, "operator-token", "done"),
        (OperatorAction.UNPAUSE, "operator-token", "refused"),
    }


def test_dependency_limits_are_set_by_unscoped_owners(live: LiveApi) -> None:
    with live.http(Role.OPERATOR) as http:
        assert http.put("/v1/dependencies/payments-api", json={"concurrency": 2}).status_code == 403
    with live.http(Role.OWNER) as http:
        done = http.put("/v1/dependencies/payments-api", json={"concurrency": 2})
        assert done.json() == {"name": "payments-api", "concurrency": 2}
        assert http.get("/v1/dependencies").json() == [
            {"name": "payments-api", "concurrency": 2, "in_flight": 0}
        ]
        assert http.put("/v1/dependencies/payments-api", json={}).status_code == 422  # null: say so
        assert http.put("/v1/dependencies/nope", json={"concurrency": 1}).status_code == 422
        removed = http.put("/v1/dependencies/payments-api", json={"concurrency": None})
        assert removed.status_code == 200
    with live.http(Role.VIEWER) as http:
        assert http.get("/v1/dependencies").json() == []
    assert (OperatorAction.DEPENDENCY_SET, "owner-token", "done") in _actions(live, "dependency")


def test_the_policy_body_has_every_field_of_breaker_policy() -> None:
    names = [field.name for field in dataclasses.fields(BreakerPolicy)]
    assert list(PolicyFields.model_fields) == names
    assert BreakerPolicy(**PolicyFields().model_dump()) == BreakerPolicy()


def test_breakers_are_configured_by_owners_and_forced_by_operators(live: LiveApi) -> None:
    policy = {"failure_rate": 40, "window": 20, "minimum_calls": 5, "open_for": 30}
    with live.http(Role.OPERATOR) as http:
        assert http.put("/v1/breakers/payments-api", json={"policy": policy}).status_code == 403
    with live.http(Role.OWNER) as http:
        bad = http.put("/v1/breakers/payments-api", json={"policy": {"failure_rate": 500}})
        assert bad.status_code == 422 and "failure_rate must be a percentage" in bad.text
        typo = http.put("/v1/breakers/payments-api", json={"policy": {"failur_rate": 5}})
        assert typo.status_code == 422 and "failur_rate" in typo.json()["detail"]
        made = http.put("/v1/breakers/payments-api", json={"policy": policy, "reason": "tuned"})
        assert made.status_code == 200, made.text
        assert made.json()["breaker"]["policy"]["failure_rate"] == 40
    scoped = live.token("orders-ops", Role.OPERATOR, workflows=["order"])
    with live.http(secret=scoped) as http:
        assert http.get("/v1/breakers").status_code == 200  # reading is for any viewer
        assert http.post("/v1/breakers/payments-api/open", json={}).status_code == 403
    with live.http(Role.VIEWER) as http:
        assert http.post("/v1/breakers/payments-api/open", json={}).status_code == 403
        [listed] = http.get("/v1/breakers").json()
        assert listed["breaker"]["name"] == "payments-api"
        assert http.get("/v1/breakers/nope").status_code == 404
    with live.http(Role.OPERATOR) as http:
        opened = http.post("/v1/breakers/payments-api/open", json={"reason": "vendor down"})
        assert opened.json()["breaker"]["state"] == "forced_open"
        assert http.post("/v1/breakers/payments-api/close", json={}).status_code == 200
        reset = http.post("/v1/breakers/payments-api/reset", json={})
        assert reset.json()["breaker"]["state"] == "closed"
        assert http.post("/v1/breakers/nope/open", json={}).status_code == 404
    status = live.app.breakers.get("payments-api")
    assert (status.state, status.breaker.policy.failure_rate) == (daytwo.BreakerState.CLOSED, 40)
    assert _actions(live, "breaker") == {
        (OperatorAction.BREAKER_SET, "owner-token", "refused"),
        (OperatorAction.BREAKER_SET, "owner-token", "done"),
        (OperatorAction.BREAKER_OPEN, "operator-token", "done"),
        (OperatorAction.BREAKER_OPEN, "operator-token", "refused"),
        (OperatorAction.BREAKER_CLOSE, "operator-token", "done"),
        (OperatorAction.BREAKER_RESET, "operator-token", "done"),
    }


def _nightly(live: LiveApi, clock: daytwo.FakeClock) -> None:
    live.app.schedule("0 2 * * *", workflow="plain", name="nightly", input=False)
    declare_schedules(live.app.store, clock, live.app.registry)


def test_schedules_are_paused_resumed_and_triggered_by_operators(
    live: LiveApi, clock: daytwo.FakeClock
) -> None:
    _nightly(live, clock)
    with live.http(Role.VIEWER) as http:
        [listed] = http.get("/v1/schedules").json()
        assert (listed["name"], listed["workflow"], listed["paused"]) == ("nightly", "plain", False)
        assert http.get("/v1/schedules/nightly").json()["cadence"]["cron"] == "0 2 * * *"
        assert http.get("/v1/schedules/nope").status_code == 404
        assert http.post("/v1/schedules/nightly/pause", json={}).status_code == 403
    with live.http(Role.OPERATOR) as http:
        paused = http.post("/v1/schedules/nightly/pause", json={"reason": "migration"})
        assert paused.status_code == 200
        assert (paused.json()["paused"], paused.json()["paused_by"]) == (True, "operator-token")
        assert http.post("/v1/schedules/nightly/pause", json={}).status_code == 409
        assert http.post("/v1/schedules/nightly/resume", json={}).json()["paused"] is False
        first = http.post("/v1/schedules/nightly/trigger", json={"key": "rerun-1"})
        again = http.post("/v1/schedules/nightly/trigger", json={"key": "rerun-1"})
        assert (first.status_code, first.json()["created"]) == (201, True)
        assert (again.status_code, again.json()["created"]) == (200, False)
        assert first.json()["instance_id"] == "schedule:nightly:trigger:rerun-1"
        assert http.post("/v1/schedules/nope/trigger", json={}).status_code == 404
    assert live.app.get("schedule:nightly:trigger:rerun-1").workflow == "plain"
    assert _actions(live, "schedule") >= {
        (OperatorAction.SCHEDULE_PAUSE, "operator-token", "done"),
        (OperatorAction.SCHEDULE_PAUSE, "operator-token", "refused"),
        (OperatorAction.SCHEDULE_RESUME, "operator-token", "done"),
        (OperatorAction.SCHEDULE_TRIGGER, "operator-token", "done"),
        (OperatorAction.SCHEDULE_TRIGGER, "operator-token", "refused"),
    }


def test_a_scoped_token_sees_and_acts_on_its_workflows_schedules_only(
    live: LiveApi, clock: daytwo.FakeClock
) -> None:
    _nightly(live, clock)
    orders_only = live.token("orders-only", Role.OPERATOR, workflows=["order"])
    with live.http(secret=orders_only) as http:
        assert http.get("/v1/schedules").json() == []
        assert http.get("/v1/schedules/nightly").status_code == 403
        for verb in ("pause", "resume", "trigger"):
            assert http.post(f"/v1/schedules/nightly/{verb}", json={}).status_code == 403, verb
    assert live.app.schedules.get("nightly").paused is False
    plain_only = live.token("plain-only", Role.OPERATOR, workflows=["plain"])
    with live.http(secret=plain_only) as http:
        assert http.post("/v1/schedules/nightly/pause", json={}).status_code == 200
