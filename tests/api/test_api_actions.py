"""The operator actions on one instance over HTTP: retry, skip, resume, abort, terminate,
wake, restart, fork, explain, start-many; audited with the token's name (refusals too),
refused to viewers and outside a token's scope."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from _live import LiveApi, live
from pydantic import TypeAdapter

import daytwo
from daytwo import InstanceStatus
from daytwo.api import Role

__all__ = ["live"]


@pytest.fixture
def parks(shop: daytwo.App) -> dict[str, bool]:
    """A ``checkout`` workflow on the shop whose ``pay`` step parks while ``down``."""
    state = {"down": True}

    @shop.step(retry=daytwo.Retry(max_attempts=1), on_failure="park")
    def pay(total: int) -> str:
        if state["down"]:
            raise ConnectionError("payments API down")
        return f"paid {total}"

    @shop.workflow(name="checkout")
    def checkout(ctx: daytwo.Context, total: int) -> Any:
        return pay(total)

    return state


@pytest.fixture
def worker(shop: daytwo.App, parks: dict[str, bool]) -> Iterator[Any]:
    with shop.worker(concurrency=1, poll_interval=0.05) as running:
        yield running


def _parked(shop: daytwo.App, worker: Any, instance_id: str = "c-1") -> None:
    shop.start("checkout", 10, id=instance_id)
    worker.drain()
    assert shop.get(instance_id).status is InstanceStatus.NEEDS_ATTENTION


def _audit(shop: daytwo.App, action: str) -> list[tuple[str, str, str | None]]:
    return [(r.actor, r.outcome, r.reason) for r in shop.client.audit.list(action=action)]


def test_retry_runs_the_parked_step_again_audited_with_the_token_name(
    live: LiveApi, shop: daytwo.App, worker: Any, parks: dict[str, bool]
) -> None:
    _parked(shop, worker)
    parks["down"] = False
    with live.http(Role.OPERATOR) as http:
        answer = http.post("/v1/instances/c-1/retry", json={"reason": "payments back"})
    assert answer.status_code == 200, answer.text
    after = TypeAdapter(daytwo.Instance).validate_python(answer.json())
    assert after.id == "c-1" and after.status is not InstanceStatus.NEEDS_ATTENTION
    worker.drain()
    assert shop.get("c-1").output == "paid 10"
    assert _audit(shop, "instance.retry") == [("operator-token", "done", "payments back")]


def test_a_refused_action_is_409_with_its_audit_row(live: LiveApi, shop: daytwo.App) -> None:
    shop.start("order", {}, id="o-1")
    with live.http(Role.OPERATOR) as http:
        answer = http.post("/v1/instances/o-1/retry", json={})
        missing = http.post("/v1/instances/nope/retry", json={})
    assert answer.status_code == 409
    assert answer.json()["error"] == "NotRunnable"
    assert "o-1" in answer.json()["detail"]
    assert missing.status_code == 404 and missing.json()["error"] == "InstanceNotFound"
    rows = shop.client.audit.list(action="instance.retry")
    assert sorted((r.target, r.actor, r.outcome) for r in rows) == [
        ("nope", "operator-token", "refused"),
        ("o-1", "operator-token", "refused"),
    ]
    assert shop.get("o-1").status is InstanceStatus.RUNNABLE


def test_skip_records_the_given_result(live: LiveApi, shop: daytwo.App, worker: Any) -> None:
    _parked(shop, worker)
    with live.http(Role.OPERATOR) as http:
        missing = http.post("/v1/instances/c-1/skip", json={"reason": "no result"})
        answer = http.post("/v1/instances/c-1/skip", json={"result": "paid by hand"})
    assert missing.status_code == 422 and "result" in missing.json()["detail"]
    assert answer.status_code == 200
    worker.drain()
    assert shop.get("c-1").output == "paid by hand"
    assert _audit(shop, "instance.skip") == [("operator-token", "done", None)]


def test_resume_abort_terminate_and_wake(
    live: LiveApi, shop: daytwo.App, worker: Any, parks: dict[str, bool]
) -> None:
    _parked(shop, worker, "c-1")
    _parked(shop, worker, "c-2")
    shop.start("order", {"sleep": 3600}, id="o-sleeps")
    shop.start("order", {"signal": "go"}, id="o-waits")
    worker.drain()
    parks["down"] = False
    with live.http(Role.OPERATOR) as http:
        resumed = http.post("/v1/instances/c-1/resume", json={"reason": "fixed"})
        aborted = http.post("/v1/instances/c-2/abort", json={})
        woken = http.post("/v1/instances/o-sleeps/wake", json={})
        terminated = http.post("/v1/instances/o-waits/terminate", json={"reason": "dup"})
        again = http.post("/v1/instances/o-waits/terminate", json={})
    assert resumed.status_code == aborted.status_code == woken.status_code == 200
    assert terminated.json()["status"] == "TERMINATED"
    assert again.status_code == 409
    worker.drain()
    assert shop.get("c-1").output == "paid 10"
    assert shop.get("c-2").status is InstanceStatus.FAILED
    assert shop.get("o-sleeps").status is InstanceStatus.SUCCEEDED
    assert _audit(shop, "instance.terminate") == [
        ("operator-token", "refused", None),
        ("operator-token", "done", "dup"),
    ]


def test_restart_and_fork_are_idempotent_on_a_given_new_id(live: LiveApi, shop: daytwo.App) -> None:
    shop.run("plain", False, id="p-1")
    shop.start("plain", False, id="p-active")
    with live.http(Role.OPERATOR) as http:
        restarted = http.post("/v1/instances/p-1/restart", json={})
        forked = http.post("/v1/instances/p-1/fork", json={"position": 0, "new_id": "p-f"})
        again = http.post("/v1/instances/p-1/fork", json={"position": 0, "new_id": "p-f"})
        past = http.post("/v1/instances/p-1/fork", json={"position": 99})
        active = http.post("/v1/instances/p-active/restart", json={"reason": "x"})
        no_position = http.post("/v1/instances/p-1/fork", json={})
    assert (restarted.status_code, restarted.json()) == (
        201, {"id": "p-1-restart-1", "created": True}
    )  # fmt: skip
    assert (forked.status_code, again.status_code) == (201, 200)
    assert again.json() == {"id": "p-f", "created": False}
    assert past.status_code == 422 and "past the history" in past.json()["detail"]
    assert active.status_code == 409 and "cancel, abort or terminate" in active.json()["detail"]
    assert no_position.status_code == 422 and "position" in no_position.json()["detail"]
    assert shop.get("p-1-restart-1").workflow == "plain"
    outcomes = [(r.action, str(r.outcome)) for r in shop.client.audit.list(action="instance")]
    assert outcomes.count(("instance.fork", "refused")) == 1
    assert ("instance.restart", "refused") in outcomes


def test_explain_is_the_clients_explanation(live: LiveApi, shop: daytwo.App, worker: Any) -> None:
    _parked(shop, worker)
    with live.http(Role.VIEWER) as http:
        answer = http.get("/v1/instances/c-1/explain")
        missing = http.get("/v1/instances/nope/explain")
    assert answer.status_code == 200
    found = TypeAdapter(daytwo.Explanation).validate_python(answer.json())
    assert found == shop.client.explain("c-1")
    assert "parked at step 'pay'" in " ".join(found.reasons)
    assert missing.status_code == 404


def test_start_many_is_idempotent_on_its_ids_and_audited_in_one_row(
    live: LiveApi, shop: daytwo.App
) -> None:
    body = {"workflow": "order", "inputs": [{}, {"sleep": 5}], "ids": ["m-1", "m-2"]}
    with live.http(Role.OPERATOR) as http:
        first = http.post("/v1/instances:start-many", json=body)
        again = http.post("/v1/instances:start-many", json=body)
        conflict = http.post(
            "/v1/instances:start-many",
            json={"workflow": "order", "inputs": [{}, {"x": 1}], "ids": ["m-3", "m-1"]},
        )
        uneven = http.post("/v1/instances:start-many", json={**body, "ids": ["m-9"]})
    assert first.status_code == 201
    assert first.json() == [{"id": "m-1", "created": True}, {"id": "m-2", "created": True}]
    assert again.status_code == 200 and [s["created"] for s in again.json()] == [False, False]
    assert conflict.status_code == 409 and conflict.json()["error"] == "InstanceConflict"
    assert uneven.status_code == 422 and "one id per input" in uneven.json()["detail"]
    assert {i.id for i in shop.list()} == {"m-1", "m-2"}
    [row] = shop.client.audit.list(action="instance.start")
    assert (row.actor, row.target_kind, row.target, row.count) == (
        "operator-token", "workflow", "order", 2
    )  # fmt: skip
    assert row.params == {"ids": ["m-1", "m-2"], "requested": 2}


ACTIONS: list[tuple[str, dict[str, Any]]] = [
    ("retry", {}),
    ("resume", {}),
    ("abort", {}),
    ("terminate", {}),
    ("wake", {}),
    ("skip", {"result": 1}),
    ("restart", {}),
    ("fork", {"position": 0}),
]


def test_a_viewer_can_do_none_of_the_actions(live: LiveApi, shop: daytwo.App) -> None:
    shop.start("order", {}, id="o-1")
    with live.http(Role.VIEWER) as http:
        for verb, body in ACTIONS:
            answer = http.post(f"/v1/instances/o-1/{verb}", json=body)
            assert answer.status_code == 403, verb
            assert "role viewer" in answer.json()["detail"]
        batch = http.post("/v1/instances:start-many", json={"workflow": "order", "inputs": [{}]})
        assert batch.status_code == 403
    refused = shop.client.audit.list(action="api")
    assert len(refused) == len(ACTIONS) + 1
    assert {r.actor for r in refused} == {"viewer-token"}
    assert "POST /v1/instances/o-1/retry" in {r.target for r in refused}
    assert not shop.client.audit.list(action="instance")
    assert shop.get("o-1").status is InstanceStatus.RUNNABLE


def test_a_scoped_token_acts_only_on_its_workflows(live: LiveApi, shop: daytwo.App) -> None:
    shop.start("order", {}, id="o-1")
    shop.start("plain", False, id="p-1")
    scoped = live.token("orders-only", Role.OPERATOR, workflows=["order"])
    with live.http(secret=scoped) as http:
        for verb, body in ACTIONS:
            answer = http.post(f"/v1/instances/p-1/{verb}", json=body)
            assert answer.status_code == 403, verb
            assert "limited to workflows order" in answer.json()["detail"]
        assert http.get("/v1/instances/p-1/explain").status_code == 403
        assert http.get("/v1/instances/o-1/explain").status_code == 200
        assert http.post("/v1/instances/o-1/terminate", json={}).status_code == 200
        batch = http.post("/v1/instances:start-many", json={"workflow": "plain", "inputs": [1]})
        assert batch.status_code == 403
    refused = shop.client.audit.list(action="api")
    assert len(refused) == len(ACTIONS) + 2
    assert {r.actor for r in refused} == {"orders-only"}
    assert shop.get("p-1").status is InstanceStatus.RUNNABLE
    assert _audit(shop, "instance.terminate") == [("orders-only", "done", None)]
