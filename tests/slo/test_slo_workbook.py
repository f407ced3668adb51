"""Burn-rate alerts against the Google SRE Workbook, driven by the fake clock.

Every instance here runs through the real engine and store; the clock moves only when the
test advances it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest

import daytwo
from daytwo import slo

#: One instance every STEP seconds keeps traffic uniform, as the workbook's formula assumes.
STEP = 20.0
INTERVAL = 30.0  # evaluation interval


@pytest.fixture
def order_app(db_url: str, clock: daytwo.FakeClock) -> Iterator[daytwo.App]:
    app = daytwo.App(db_url, clock=clock)

    @app.workflow(name="order")
    def order(ctx: daytwo.Context, fail: bool) -> str:
        if fail:
            raise daytwo.Reject("payment declined")
        return "ok"

    yield app
    app.close()


def run(app: daytwo.App, fail: bool) -> None:
    with contextlib.suppress(daytwo.WorkflowFailed):
        app.run("order", fail)


def traffic(
    app: daytwo.App,
    clock: daytwo.FakeClock,
    seconds: float,
    fail: Callable[[int], bool],
    *,
    every: float = STEP,
    evaluator: slo.Evaluator | None = None,
    on_evaluate: Callable[[list[slo.SloStatus]], None] | None = None,
    interval: float = INTERVAL,
) -> None:
    """Run one instance every ``every`` seconds for ``seconds``; evaluate every ``interval``."""
    end = clock.now() + seconds
    next_eval = clock.now()
    count = 0
    while clock.now() < end:
        run(app, fail(count))
        count += 1
        clock.advance(every)
        while evaluator is not None and clock.now() >= next_eval:
            statuses = evaluator.evaluate()
            if on_evaluate is not None:
                on_evaluate(statuses)
            next_eval += interval


def firing(app: daytwo.App, severity: str) -> list[slo.Alert]:
    return [a for a in slo.list_alerts(app.store, status="firing") if a.severity == severity]


def test_total_outage_pages_when_the_workbook_says_and_resets(
    order_app: daytwo.App, clock: daytwo.FakeClock
) -> None:
    objective = slo.Objective(
        name="order-success", workflow="order", objective=0.999, sli=slo.Success(),
        window="30d", alerting=slo.AlertPolicy(runbook="https://runbooks.example/order"),
    )  # fmt: skip
    evaluator = slo.Evaluator.for_app(order_app, [objective], sinks=[slo.LogSink()])
    traffic(order_app, clock, 7 * 3600, lambda _: False)  # 7 h of success: fills 6 h windows
    assert evaluator.evaluate()[0].alert_state == "ok"

    # Workbook: detection time = (1 - SLO) / error ratio x long window x burn threshold.
    detect = 0.001 / 1.0 * 3600 * 14.4  # 51.84 s for the 1 h / 5 m rule
    outage_start = clock.now()
    fired_at: list[float] = []
    rule_clear: list[float] = []

    def watch(statuses: list[slo.SloStatus]) -> None:
        if not fired_at and "page" in statuses[0].alert_state:
            fired_at.append(clock.now())

    traffic(order_app, clock, 600, lambda _: True, evaluator=evaluator, on_evaluate=watch)
    assert fired_at, "a total outage must page"
    delay = fired_at[0] - outage_start
    assert detect <= delay <= detect + INTERVAL + STEP

    page = firing(order_app, "page")
    assert len(page) == 1
    assert page[0].dedup_key == "slo/order-success/page"
    assert page[0].runbook == "https://runbooks.example/order"
    assert page[0].labels["workflow"] == "order"

    outage_end = clock.now()
    resolved: list[float] = []

    def watch_recovery(statuses: list[slo.SloStatus]) -> None:
        fast = next(r for r in statuses[0].rules if r.rule == "page-1h-5m")
        if not rule_clear and not fast.firing:
            rule_clear.append(clock.now())
        if not resolved and "page" not in statuses[0].alert_state:
            resolved.append(clock.now())

    traffic(order_app, clock, 3600, lambda _: False, evaluator=evaluator,
            on_evaluate=watch_recovery)  # fmt: skip
    # The 1 h / 5 m rule clears once its short window holds no outage (5 min, plus the
    # minute bucket the window's start falls in); the page resolves when the 6 h / 30 m
    # rule's short window is clear too.
    assert rule_clear and rule_clear[0] - outage_end <= 300 + 60 + INTERVAL
    assert resolved and resolved[0] - outage_end <= 1800 + 60 + INTERVAL
    [record] = [a for a in slo.list_alerts(order_app.store) if a.severity == "page"]
    assert record.status == "resolved" and record.resolved_at == resolved[0]


def test_steady_double_budget_burn_tickets_and_never_pages(
    order_app: daytwo.App, clock: daytwo.FakeClock
) -> None:
    # 99% objective, every 50th instance fails: an error ratio of 2%, twice the budget.
    objective = slo.Objective(
        name="order-success", workflow="order", objective=0.99, sli=slo.Success(), window="30d"
    )
    evaluator = slo.Evaluator.for_app(order_app, [objective])
    severities: set[str] = set()

    def watch(statuses: list[slo.SloStatus]) -> None:
        severities.update(a.severity for a in statuses[0].alerts)

    traffic(order_app, clock, 2 * 86400, lambda n: n % 50 == 49, every=300,
            evaluator=evaluator, on_evaluate=watch, interval=900)  # fmt: skip
    assert "page" not in severities
    assert "ticket" in severities
    [status] = evaluator.status()
    assert status.burn["3d"] == pytest.approx(2.0, rel=0.1)
    assert [r.rule for r in status.rules if r.firing] == ["ticket-3d-6h"]


def test_low_volume_workflow_does_not_page_on_one_failure(
    order_app: daytwo.App, clock: daytwo.FakeClock
) -> None:
    objective = slo.Objective(
        name="order-success", workflow="order", objective=0.999, sli=slo.Success()
    )
    evaluator = slo.Evaluator.for_app(order_app, [objective])
    traffic(order_app, clock, 86400, lambda _: False, every=3 * 3600)
    run(order_app, True)
    clock.advance(60)
    [status] = evaluator.evaluate()
    page_fast = next(r for r in status.rules if r.rule == "page-1h-5m")
    assert page_fast.long_burn == pytest.approx(1000.0)  # burning, but ...
    assert page_fast.gated and not page_fast.firing  # ... under the minimum-events gate
    assert status.alerts == []


def test_no_data_where_data_is_expected_raises_its_own_alert(
    order_app: daytwo.App, clock: daytwo.FakeClock
) -> None:
    objective = slo.Objective(
        name="order-success", workflow="order", objective=0.99, sli=slo.Success(),
        alerting=slo.AlertPolicy(no_data="1h"),
    )  # fmt: skip
    evaluator = slo.Evaluator.for_app(order_app, [objective])
    run(order_app, False)
    assert evaluator.evaluate()[0].alert_state == "ok"
    clock.advance(3700)
    [status] = evaluator.evaluate()
    assert status.no_data
    assert [a.dedup_key for a in status.alerts] == ["slo/order-success/no-data"]
    run(order_app, False)
    assert evaluator.evaluate()[0].alerts == []
