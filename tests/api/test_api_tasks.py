"""Human tasks over HTTP: the inbox, complete/reassign/cancel as the token's name, audited
(done and refused), and the role and workflow-scope boundaries."""

from __future__ import annotations

from _live import LiveApi, live

import daytwo
from daytwo import OperatorAction, TaskStatus
from daytwo.api import Role

__all__ = ["live"]


def _task(live: LiveApi, instance_id: str = "o-1") -> str:
    """Start an order that waits for a human task; return the task's id."""
    live.app.start("order", {"task": "approve"}, id=instance_id)
    with live.app.worker(concurrency=1) as worker:
        worker.drain()
    [task] = [t for t in live.app.tasks.list() if t.instance_id == instance_id]
    return task.id


def test_the_inbox_lists_shows_and_tells_what_happened(live: LiveApi) -> None:
    task_id = _task(live)
    with live.http(Role.VIEWER) as http:
        [listed] = http.get("/v1/tasks").json()
        assert (listed["id"], listed["status"], listed["assignee"]) == (
            task_id, "open", "role:sales-manager",
        )  # fmt: skip
        assert http.get("/v1/tasks", params={"assignee": "nobody"}).json() == []
        assert http.get("/v1/tasks", params={"status": "completed"}).json() == []
        assert len(http.get("/v1/tasks", params={"all": "true"}).json()) == 1
        both = http.get("/v1/tasks", params={"all": "true", "status": "open"})
        assert both.status_code == 422 and "not both" in both.json()["detail"]
        assert http.get("/v1/tasks", params={"status": "bogus"}).status_code == 422
        shown = http.get(f"/v1/tasks/{task_id}").json()
        assert shown["instance_id"] == "o-1" and shown["name"] == "approve"
        [created] = http.get(f"/v1/tasks/{task_id}/events").json()
        assert created["kind"] == "created"
        missing = http.get("/v1/tasks/nope")
        assert missing.status_code == 404 and missing.json()["error"] == "TaskNotFound"
        assert http.get("/v1/tasks/nope/events").status_code == 404


def test_complete_acts_as_the_token_and_a_second_completion_is_refused(live: LiveApi) -> None:
    task_id = _task(live)
    with live.http(Role.OPERATOR) as http:
        done = http.post(
            f"/v1/tasks/{task_id}/complete",
            json={"result": {"approved": True}, "reason": "margin ok"},
        )
        assert done.status_code == 200, done.text
        shown = done.json()
        assert (shown["status"], shown["completed_by"]) == ("completed", "operator-token")
        again = http.post(f"/v1/tasks/{task_id}/complete", json={"result": False})
        assert again.status_code == 409
        assert again.json()["error"] == "NotRunnable"
        assert "already completed (by operator-token)" in again.json()["detail"]
    with live.app.worker(concurrency=1) as worker:
        worker.drain()
    assert live.app.get("o-1").status is daytwo.InstanceStatus.SUCCEEDED
    rows = live.app.client.audit.list(target=task_id)
    assert [(r.action, r.actor, str(r.outcome), r.reason) for r in reversed(rows)] == [
        (OperatorAction.TASK_COMPLETE, "operator-token", "done", "margin ok"),
        (OperatorAction.TASK_COMPLETE, "operator-token", "refused", None),
    ]


def test_reassign_and_cancel(live: LiveApi) -> None:
    task_id = _task(live)
    with live.http(Role.OPERATOR) as http:
        moved = http.post(f"/v1/tasks/{task_id}/reassign", json={"assignee": "bob"})
        assert moved.status_code == 200 and moved.json()["assignee"] == "bob"
        empty = http.post(f"/v1/tasks/{task_id}/reassign", json={"assignee": " "})
        assert empty.status_code == 422
        cancelled = http.post(f"/v1/tasks/{task_id}/cancel", json={"reason": "withdrawn"})
        assert cancelled.status_code == 200
        assert cancelled.json()["status"] == TaskStatus.CANCELLED
        assert http.post("/v1/tasks/nope/cancel", json={}).status_code == 404
        typo = http.post(f"/v1/tasks/{task_id}/cancel", json={"reasn": "x"})
        assert typo.status_code == 422 and "reasn" in typo.json()["detail"]
    events = [e.kind for e in live.app.tasks.events(task_id)]
    assert events == ["created", "reassigned", "cancelled"]
    assert {(r.action, r.actor, str(r.outcome)) for r in live.app.client.audit.list()} >= {
        (OperatorAction.TASK_REASSIGN, "operator-token", "done"),
        (OperatorAction.TASK_REASSIGN, "operator-token", "refused"),
        (OperatorAction.TASK_CANCEL, "operator-token", "done"),
        (OperatorAction.TASK_CANCEL, "operator-token", "refused"),  # the unknown task
    }


def test_a_viewer_cannot_act_on_a_task(live: LiveApi) -> None:
    task_id = _task(live)
    with live.http(Role.VIEWER) as http:
        for verb, body in (("complete", {}), ("reassign", {"assignee": "x"}), ("cancel", {})):
            refused = http.post(f"/v1/tasks/{task_id}/{verb}", json=body)
            assert refused.status_code == 403, verb
            assert "role viewer" in refused.json()["detail"]
    assert live.app.tasks.get(task_id).status is TaskStatus.OPEN
    refusals = live.app.client.audit.list(action="api")
    assert {r.actor for r in refusals} == {"viewer-token"} and len(refusals) == 3


def test_a_scoped_token_sees_and_acts_on_its_workflows_tasks_only(live: LiveApi) -> None:
    task_id = _task(live)
    plain_only = live.token("plain-only", Role.OPERATOR, workflows=["plain"])
    orders_only = live.token("orders-only", Role.OPERATOR, workflows=["order"])
    with live.http(secret=plain_only) as http:
        assert http.get("/v1/tasks", params={"all": "true"}).json() == []
        assert http.get(f"/v1/tasks/{task_id}").status_code == 403
        assert http.get(f"/v1/tasks/{task_id}/events").status_code == 403
        refused = http.post(f"/v1/tasks/{task_id}/complete", json={"result": True})
        assert refused.status_code == 403 and "'order' is not one of them" in refused.text
    assert live.app.tasks.get(task_id).status is TaskStatus.OPEN
    with live.http(secret=orders_only) as http:
        assert [t["id"] for t in http.get("/v1/tasks").json()] == [task_id]
        assert http.post(f"/v1/tasks/{task_id}/complete", json={"result": 1}).status_code == 200
    assert live.app.tasks.get(task_id).completed_by == "orders-only"


def test_a_scoped_listing_reads_past_other_workflows_tasks_to_fill_its_limit(
    live: LiveApi,
) -> None:
    @live.app.workflow(name="review")
    def review(ctx: daytwo.Context) -> object:
        return ctx.human_task("check", assignee="ann")

    for n in range(5):
        live.app.start("review", id=f"r-{n}")
    live.app.start("order", {"task": "approve"}, id="o-1")
    with live.app.worker(concurrency=1) as worker:
        worker.drain()
    scoped = live.token("orders-only", Role.VIEWER, workflows=["order"])
    with live.http(secret=scoped) as http:
        [only] = http.get("/v1/tasks", params={"limit": 1}).json()
    assert only["instance_id"] == "o-1"
