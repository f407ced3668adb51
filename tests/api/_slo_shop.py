"""The order shop with objectives and a history that fires alerts and leaves stuck instances:
what the SLO route tests and the ``daytwo --server ... slo`` tests read."""

from __future__ import annotations

from _shop import quietly

import daytwo
from daytwo import slo

HOUR = 3600.0

ORDER_OK = slo.Objective(
    name="order-ok", workflow="order", sli=slo.Success(), objective=0.99, window="1d",
    alerting=slo.AlertPolicy(min_events=1, runbook="https://runbooks.example/order"),
)  # fmt: skip
PLAIN_OK = slo.Objective(
    name="plain-ok", workflow="plain", sli=slo.Success(), objective=0.9, window="1d",
    alerting=slo.AlertPolicy(min_events=1),
)  # fmt: skip
ORDER_FAST = slo.Objective(
    name="order-fast", workflow="order", sli=slo.CycleTime(within="5m"), objective=0.95,
    window="1d",
)  # fmt: skip
ORDER_STUCK = slo.Objective(
    name="order-stuck", workflow="order",
    sli=slo.StuckRatio(thresholds={"manager-approval": "4h"}), objective=0.98, window="1d",
)  # fmt: skip
OBJECTIVES = [ORDER_OK, PLAIN_OK, ORDER_FAST, ORDER_STUCK]


def with_objectives(app: daytwo.App) -> daytwo.App:
    """``app`` (the shop) with :data:`OBJECTIVES` registered."""
    slo.register(app, *OBJECTIVES)
    return app


def make_history(app: daytwo.App, clock: daytwo.FakeClock) -> str:
    """An overdue approval (order), a rejected order and a failed plain (alerts fire), and a
    plain held by a dead worker (stuck); evaluated once. Returns the held instance's id."""
    quietly(app, "order", {"task": "manager-approval"}, id="waits", timeout=0)
    clock.advance(5 * HOUR)
    quietly(app, "order", {"reject": True}, id="rejected")
    quietly(app, "plain", True, id="failed")
    quietly(app, "plain", False, id="fine")
    held = app.start("plain", False, id="held")
    app.store.claim("dead-worker", [("plain", "1")], now=clock.now(), lease_seconds=30, limit=1)
    clock.advance(120)
    slo.Evaluator.for_app(app).evaluate()
    return held.id
