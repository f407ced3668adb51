"""``/v1/owners``: the version in force, one entry's RACI, and applying an ownership.yaml
(owner role; 422 with file:line: field on a bad one, nothing stored)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from _live import LiveApi, live_api

import daytwo
from daytwo.api import Role
from daytwo.incidents._owners_routes import owners_router

EXAMPLE = (Path(__file__).resolve().parents[2] / "examples" / "ownership.yaml").read_text()


class Owners(daytwo.Extension):
    """The owners routes alone (the incidents extension mounts them in the product)."""

    name = "owners-test"

    def routes(self) -> Sequence[Any]:
        return [owners_router]


@pytest.fixture
def live(fake_app: daytwo.App) -> Iterator[LiveApi]:
    fake_app.use(Owners())
    with live_api(fake_app) as server:
        yield server


def test_apply_show_and_refuse(live: LiveApi) -> None:
    with live.http(Role.VIEWER) as viewer:
        assert viewer.get("/v1/owners").json() == {"version": None, "entries": []}
        assert viewer.get("/v1/owners/order").status_code == 404
        assert viewer.post("/v1/owners", json={"yaml": EXAMPLE}).status_code == 403
    with live.http(Role.OWNER) as owner:
        bad = owner.post("/v1/owners", json={"yaml": "workflows:\n  order:\n    it_team: x\n",
                                              "source": "own.yaml"})  # fmt: skip
        assert bad.status_code == 422
        assert bad.json()["detail"] == (
            "own.yaml:3: workflows.order.it_team: 'x' is not a known team; none is defined (add "
            "it to the file)"
        )
        assert owner.post("/v1/owners", json={"yaml": "x", "typo": 1}).status_code == 422
        assert owner.get("/v1/owners").json()["version"] is None  # nothing stored
        applied = owner.post("/v1/owners", json={"yaml": EXAMPLE})
        assert applied.status_code == 200 and applied.json() == {"version": 1, "created": True}
        again = owner.post("/v1/owners", json={"yaml": EXAMPLE})
        assert again.json() == {"version": 1, "created": False}
    with live.http(Role.VIEWER) as viewer:
        listed = viewer.get("/v1/owners").json()
        assert listed["version"] == 1 and listed["source"] == "ownership.yaml"
        assert listed["created_by"] == "owner-token"
        assert [e["name"] for e in listed["entries"]] == ["order", "carrier-api", "payments-api"]
        order = viewer.get("/v1/owners/order").json()
        assert order["version"] == 1 and order["criticality"] == "critical"
        assert order["vendor"]["sla"] == "99.99% monthly uptime; P1 response within 1h"
        assert order["raci"]["SEV1"] == {
            "R": ["payments-it", "ann"], "A": ["ann"], "C": ["stripe"],
            "I": ["finance", "logistics-it"],
        }  # fmt: skip
        missing = viewer.get("/v1/owners/nope")
        assert missing.status_code == 404 and "payments-api" in missing.json()["detail"]
    audit = live.app.client.audit.list(action="ownership.apply")
    assert [(r.actor, r.target) for r in audit] == [("owner-token", "1")]


def test_a_scoped_token_sees_its_workflows_and_may_not_apply(live: LiveApi) -> None:
    with live.http(Role.OWNER) as owner:
        owner.post("/v1/owners", json={"yaml": EXAMPLE}).raise_for_status()
    scoped = live.token("greet-only", Role.OWNER, workflows=["greet"])
    with live.http(secret=scoped) as http:
        assert [e["name"] for e in http.get("/v1/owners").json()["entries"]] == [
            "carrier-api", "payments-api",
        ]  # fmt: skip
        assert http.get("/v1/owners/order").status_code == 403
        assert http.get("/v1/owners/payments-api").status_code == 200
        assert http.post("/v1/owners", json={"yaml": EXAMPLE}).status_code == 403
