"""The audit log over HTTP: the CLI's filters, keyset pages (``next`` as ``before_id``),
readable by viewers with an unscoped token only."""

from __future__ import annotations

from datetime import UTC, datetime

from _live import LiveApi, live

import daytwo
from daytwo.api import Role

__all__ = ["live"]


def _acts(live: LiveApi, clock: daytwo.FakeClock) -> None:
    """Five audited actions by two actors a second apart, one of them refused."""
    for n in range(3):
        live.app.start("order", {}, id=f"o-{n}")
    live.app.cancel("o-0", "dup", by="ann")
    clock.advance(1)
    live.app.cancel("o-1", "dup", by="ann")
    clock.advance(1)
    with live.http(Role.OPERATOR) as http:
        assert http.post("/v1/instances/o-2/cancel", json={"reason": "test"}).status_code == 202
        clock.advance(1)
        assert http.post("/v1/workflows/nope/pause", json={}).status_code == 422
        clock.advance(1)
        assert http.post("/v1/workflows/order/pause", json={"reason": "x"}).status_code == 200


def test_the_log_is_filtered_as_the_cli_filters_it(live: LiveApi, clock: daytwo.FakeClock) -> None:
    _acts(live, clock)
    with live.http(Role.VIEWER) as http:
        page = http.get("/v1/audit").json()
        assert page["next"] is None
        rows = [r for r in page["items"] if r["target_kind"] != "token"]  # the live fixture's
        assert [r["action"] for r in rows] == [
            "workflow.pause", "workflow.pause", "instance.cancel", "instance.cancel",
            "instance.cancel",
        ]  # fmt: skip
        assert rows[0]["actor"] == "operator-token" and rows[0]["target_kind"] == "workflow"

        def ids(**params: str | float) -> list[int]:
            answer = http.get("/v1/audit", params=params)
            assert answer.status_code == 200, answer.text
            return [r["id"] for r in answer.json()["items"]]

        assert len(ids(action="instance")) == 3
        assert len(ids(actor="ann")) == 2
        assert len(ids(target="o-2")) == 1
        assert len(ids(target_kind="workflow")) == 2
        assert len(ids(outcome="refused")) == 1
        start = datetime.fromtimestamp(clock.now() - 2, UTC)
        assert len(ids(since=start.isoformat())) == 3
        assert len(ids(since=clock.now() - 2)) == 3  # Unix seconds too
        assert len(ids(since=start.replace(tzinfo=None).isoformat())) == 3  # naive: UTC
        assert len(ids(until=start.isoformat(), action="instance")) == 2
        assert http.get("/v1/audit", params={"outcome": "maybe"}).status_code == 422
        assert http.get("/v1/audit", params={"limit": 0}).status_code == 422


def test_the_log_is_read_in_keyset_pages(live: LiveApi, clock: daytwo.FakeClock) -> None:
    _acts(live, clock)
    everything = [r.id for r in live.app.client.audit.list()]
    seen: list[int] = []
    before: int | None = None
    with live.http(Role.VIEWER) as http:
        while True:
            params = {"limit": 2} | ({"before_id": before} if before else {})
            page = http.get("/v1/audit", params=params).json()
            seen += [r["id"] for r in page["items"]]
            before = page["next"]
            if before is None:
                break
    assert seen == everything and len(seen) == 5 + len(Role)  # and the fixture's tokens


def test_a_scoped_token_cannot_read_the_log(live: LiveApi) -> None:
    scoped = live.token("orders-only", Role.ADMIN, workflows=["order"])
    with live.http(secret=scoped) as http:
        refused = http.get("/v1/audit")
    assert refused.status_code == 403
    assert "the audit log belongs to all of them" in refused.json()["detail"]
    [row] = live.app.client.audit.list(action="api")
    assert (row.actor, row.target) == ("orders-only", "GET /v1/audit")
    with live.http(None) as http:
        assert http.get("/v1/audit").status_code == 401
