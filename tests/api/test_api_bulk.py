"""Bulk actions over HTTP (a dry run changes nothing; a job is audited with the token's
name; a scoped token selects only within its workflows), and the workflows, workers and
purge routes."""

from __future__ import annotations

from typing import Any

from _live import LiveApi, live
from pydantic import TypeAdapter

import daytwo
from daytwo import InstanceStatus
from daytwo.api import Role

__all__ = ["live"]


def _waiting(shop: daytwo.App, *ids: str) -> None:
    for instance_id in ids:
        shop.start("order", {"signal": "go"}, id=instance_id)
    with shop.worker(concurrency=1, poll_interval=0.05) as worker:
        worker.drain()


def _bulk(**fields: Any) -> dict[str, Any]:
    return {"action": "cancel", "selection": {"workflow": "order"}, **fields}


def test_a_dry_run_answers_what_would_be_acted_on_and_changes_nothing(
    live: LiveApi, shop: daytwo.App
) -> None:
    _waiting(shop, "o-1", "o-2", "o-3")
    before = [(i.id, i.status, i.state) for i in shop.list()]
    with live.http(Role.OPERATOR) as http:
        answer = http.post("/v1/bulk", json=_bulk(reason="dry"))
        by_status = http.post(
            "/v1/bulk",
            json={"action": "retry", "selection": {"status": ["waiting"], "workflow": "order",
                                                   "started_before": "1h"}},
        )  # fmt: skip
    assert answer.status_code == 200, answer.text
    preview = answer.json()
    assert (preview["action"], preview["count"]) == ("instance.cancel", 3)
    assert sorted(preview["first_ids"]) == ["o-1", "o-2", "o-3"]
    assert preview["selection"]["workflow"] == "order"
    assert by_status.status_code == 200 and by_status.json()["count"] == 0
    assert [(i.id, i.status, i.state) for i in shop.list()] == before
    assert shop.client.bulk_jobs() == []
    assert shop.client.audit.list(action="bulk") == shop.client.audit.list(action="instance")
    assert shop.client.audit.list(action="bulk") == []


def test_a_bulk_job_acts_on_the_selection_and_is_audited(
    live: LiveApi, shop: daytwo.App, clock: daytwo.FakeClock
) -> None:
    _waiting(shop, "o-1", "o-2")
    shop.start("plain", False, id="p-1")
    with live.http(Role.OPERATOR) as http:
        started = http.post("/v1/bulk", json=_bulk(dry_run=False, rate=100, reason="outage"))
        assert started.status_code == 202, started.text
        job = TypeAdapter(daytwo.BulkProgress).validate_python(started.json())
        with shop.worker(concurrency=2, poll_interval=0.05) as worker:
            for _ in range(4):
                worker.drain()
                clock.advance(1)
        listed = http.get("/v1/bulk").json()
        shown = http.get(f"/v1/bulk/{job.id}").json()
        items = http.get(f"/v1/bulk/{job.id}/items").json()
        done = http.get(f"/v1/bulk/{job.id}/items", params={"outcome": "done"}).json()
        assert http.get("/v1/bulk/bulk-nope").status_code == 422
    assert [j["id"] for j in listed] == [job.id]
    assert (shown["status"], shown["done"], shown["selected"]) == ("done", 2, 2)
    assert [i["instance_id"] for i in items] == ["o-1", "o-2"] == [i["instance_id"] for i in done]
    assert shop.get("o-1").status is InstanceStatus.CANCELLED
    assert shop.get("p-1").status is not InstanceStatus.CANCELLED
    [row] = shop.client.audit.list(action="bulk")
    assert (row.actor, row.target, row.reason) == ("operator-token", job.id, "outage")
    assert {i["outcome"] for i in items} == {"done"}


def test_bad_bulk_requests_are_422_naming_the_problem(live: LiveApi) -> None:
    with live.http(Role.OPERATOR) as http:
        unknown = http.post("/v1/bulk", json=_bulk(action="explode"))
        empty = http.post("/v1/bulk", json=_bulk(selection={}))
        moment = http.post("/v1/bulk", json=_bulk(selection={"started_before": "soon"}))
        far = http.post("/v1/bulk", json=_bulk(selection={"started_before": "99999999999d"}))
        extra = http.post("/v1/bulk", json=_bulk(dryrun=False))
        skip = http.post("/v1/bulk", json=_bulk(action="skip"))
    assert all(a.status_code == 422 for a in (unknown, empty, moment, far, extra, skip))
    assert "use one of retry" in unknown.json()["detail"]
    assert "empty selection" in empty.json()["detail"]
    assert "started_before 'soon'" in moment.json()["detail"]
    assert "dryrun" in extra.json()["detail"]
    assert "needs 'result'" in skip.json()["detail"]


def test_a_viewer_cannot_act_in_bulk(live: LiveApi, shop: daytwo.App) -> None:
    _waiting(shop, "o-1")
    with live.http(Role.VIEWER) as http:
        assert http.post("/v1/bulk", json=_bulk(dry_run=False)).status_code == 403
        assert http.post("/v1/bulk", json=_bulk()).status_code == 403
        assert http.get("/v1/bulk").status_code == 200
    rows = shop.client.audit.list(action="api")
    assert [(r.actor, r.target) for r in rows] == [("viewer-token", "POST /v1/bulk")] * 2
    assert shop.client.bulk_jobs() == []


def test_a_scoped_token_selects_only_within_its_workflows(live: LiveApi, shop: daytwo.App) -> None:
    _waiting(shop, "o-1")
    shop.start("plain", False, id="p-1")
    everywhere = shop.client.bulk("cancel", daytwo.Selection(status="RUNNABLE"), dry_run=False)
    assert isinstance(everywhere, daytwo.BulkJob)
    scoped = live.token("orders-only", Role.OPERATOR, workflows=["order"])
    with live.http(secret=scoped) as http:
        anywhere = http.post("/v1/bulk", json=_bulk(selection={"status": "WAITING"}))
        other = http.post("/v1/bulk", json=_bulk(selection={"workflow": "plain"}))
        own = http.post("/v1/bulk", json=_bulk(dry_run=False))
        listed = http.get("/v1/bulk").json()
        hidden = http.get(f"/v1/bulk/{everywhere.id}")
        hidden_items = http.get(f"/v1/bulk/{everywhere.id}/items")
    assert anywhere.status_code == 403
    assert "a selection without a workflow" in anywhere.json()["detail"]
    assert other.status_code == 403 and "'plain' is not one of them" in other.json()["detail"]
    assert own.status_code == 202
    assert [job["id"] for job in listed] == [own.json()["id"]]
    assert hidden.status_code == hidden_items.status_code == 403
    assert len(shop.client.audit.list(action="api")) == 4


def test_workflows_and_workers(live: LiveApi, shop: daytwo.App) -> None:
    with shop.worker(concurrency=1, poll_interval=0.05) as worker:
        worker.drain()
        scoped = live.token("plain-only", Role.VIEWER, workflows=["plain"])
        with live.http(Role.VIEWER) as http, live.http(secret=scoped) as narrow:
            workflows = http.get("/v1/workflows").json()
            own = narrow.get("/v1/workflows").json()
            workers = http.get("/v1/workers").json()
            stopped = http.get("/v1/workers", params={"stopped": True}).json()
        found = TypeAdapter(list[daytwo.RegisteredWorkflow]).validate_python(workflows)
        assert found == shop.client.workflows()
    assert {w.name for w in found} >= {"order", "plain"}
    assert {w["name"] for w in own} == {"plain"}
    [info] = TypeAdapter(list[daytwo.WorkerInfo]).validate_python(workers)
    assert info.live and info.id == worker.id
    assert [w["id"] for w in stopped] == [worker.id]


def test_purge_needs_an_unscoped_owner_is_a_dry_run_by_default_and_takes_no_archive(
    live: LiveApi, shop: daytwo.App, clock: daytwo.FakeClock
) -> None:
    shop.run("plain", False, id="p-1")
    shop.start("order", {"signal": "go"}, id="o-active")
    clock.advance(86400 * 2)
    scoped = live.token("scoped-owner", Role.OWNER, workflows=["plain"])
    with live.http(Role.OWNER) as http:
        dry = http.post("/v1/purge", json={"before": "1d"})
        archive = http.post("/v1/purge", json={"before": "1d", "archive_dir": "/tmp/x",
                                               "dry_run": False})  # fmt: skip
        future = http.post("/v1/purge", json={"before": "2099-01-01"})
        for far in ("99999999999d", "0001-01-01", 1e300):
            assert http.post("/v1/purge", json={"before": far}).status_code == 422
        with live.http(Role.OPERATOR) as operator, live.http(secret=scoped) as narrow:
            assert operator.post("/v1/purge", json={"before": "1d"}).status_code == 403
            assert narrow.post("/v1/purge", json={"before": "1d"}).status_code == 403
        assert shop.get("p-1").status is InstanceStatus.SUCCEEDED
        done = http.post("/v1/purge", json={"before": "1d", "dry_run": False, "reason": "old"})
    assert dry.status_code == 200, dry.text
    report = TypeAdapter(daytwo.PurgeReport).validate_python(dry.json())
    assert (report.dry_run, report.count, report.deleted) == (True, 1, 0)
    assert archive.status_code == 422 and "archive_dir" in archive.json()["detail"]
    assert future.status_code == 422 and "in the future" in future.json()["detail"]
    assert done.status_code == 200 and done.json()["deleted"] == 1
    assert [i.id for i in shop.list()] == ["o-active"]
    purges = shop.client.audit.list(action="purge")
    # The done purge, then the refusals the Client audited (a moment in the future, or
    # further back than any date); those the route refused before the Client are not.
    assert (purges[0].actor, purges[0].outcome) == ("owner-token", "done")
    assert {(r.actor, r.outcome) for r in purges[1:]} == {("owner-token", "refused")}
