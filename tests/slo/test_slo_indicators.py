"""SLIs checked against hand-computed values on constructed histories (fake clock)."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import pytest
from _shop import quietly

import daytwo
from daytwo import slo

HOUR = 3600.0


def sleepers(app: daytwo.App, clock: daytwo.FakeClock, seconds: list[float]) -> None:
    """Run one instance per duration, each sleeping that long (a worker, the clock jumps)."""
    with app.worker(concurrency=1, poll_interval=0.01):
        for duration in seconds:
            handle = app.start("order", {"sleep": duration})
            deadline = time.monotonic() + 10
            while handle.status().status != "WAITING" and time.monotonic() < deadline:
                time.sleep(0.002)
            clock.advance(duration)
            handle.result(timeout=10)


def objective(sli: Any, target: float | None = 0.9, **options: Any) -> slo.Objective:
    return slo.Objective(
        name=f"o-{sli.kind}", workflow="order", sli=sli, objective=target, window="1d", **options
    )


def evaluate_one(app: daytwo.App, obj: slo.Objective) -> slo.SloStatus:
    [status] = slo.Evaluator.for_app(app, [obj]).evaluate()
    return status


def test_cycle_time_counts_finished_and_overdue_running_instances(
    shop: daytwo.App, clock: daytwo.FakeClock
) -> None:
    sleepers(shop, clock, [0.5 * HOUR, 2 * HOUR, 5 * HOUR])  # good, good, bad (late)
    shop.start("order", {"signal": "go"})  # will be 4 h 1 min old: bad at once
    clock.advance(4 * HOUR + 60)
    shop.start("order", {"signal": "go"})  # fresh: not counted yet
    status = evaluate_one(shop, objective(slo.CycleTime(within="4h")))
    assert (status.good, status.bad, status.valid) == (2, 2, 4)
    assert status.sli == pytest.approx(0.5)
    # Budget: 10% of 4 valid events = 0.4 bad events allowed; 2 spent = 5x the budget.
    assert status.budget_total == pytest.approx(0.4)
    assert status.budget_consumed == pytest.approx(5.0)
    assert status.budget_remaining == pytest.approx(-4.0)
    # The overdue instance turned bad 1 min ago: the last hour holds only that event.
    assert status.burn["1h"] == pytest.approx(10.0)


def test_success_ratio_and_rates_per_step_and_dependency(
    shop: daytwo.App, clock: daytwo.FakeClock
) -> None:
    for spec in [{}, {}, {"flaky": True}, {"flaky": True}, {"reject": True}]:
        quietly(shop, "order", spec)
        clock.advance(60)
    success = evaluate_one(shop, objective(slo.Success()))
    # 4 SUCCEEDED, 1 COMPENSATED (rejected after charging, the charge was refunded).
    assert (success.good, success.bad, success.valid) == (4, 1, 5)
    assert success.sli == pytest.approx(0.8)
    retries = evaluate_one(
        shop, objective(slo.RetryRate(max_per_instance=0.5, dependency="payments-api"), None)
    )
    assert (retries.bad, retries.valid) == (2, 5)  # two failed attempts of charge
    assert retries.sli == pytest.approx(0.4)
    assert retries.budget_consumed == pytest.approx(0.8)
    compensations = evaluate_one(
        shop, objective(slo.CompensationRate(max_per_instance=0.1, step="charge"), None)
    )
    assert (compensations.bad, compensations.valid) == (1, 5)
    assert compensations.burn["1h"] == pytest.approx(2.0)


def test_stuck_ratio_and_reasons(shop: daytwo.App, clock: daytwo.FakeClock) -> None:
    quietly(shop, "order", {"task": "manager-approval"}, timeout=0)  # will be overdue
    clock.advance(5 * HOUR)
    quietly(shop, "order", {"task": "manager-approval"}, timeout=0)  # fresh, due in 1 h
    quietly(shop, "order", {"signal": "payment"}, timeout=0)  # no threshold known
    stuck_slo = objective(slo.StuckRatio(thresholds={"manager-approval": "4h"}), 0.98)
    status = evaluate_one(shop, stuck_slo)
    assert status.sample == (2.0, 3.0)
    assert status.sli == pytest.approx(2 / 3)

    # A worker claims an instance and dies: its lease expires and nobody renews it.
    held = shop.start("plain", False)
    shop.store.claim("dead-worker", [("plain", "1")], now=clock.now(), lease_seconds=30,
                     limit=1)  # fmt: skip
    clock.advance(120)
    report = {s.instance_id: s for s in slo.stuck_report(shop.store, clock.now(), [stuck_slo])}
    assert len(report) == 2
    overdue = next(s for s in report.values() if s.state == "manager-approval")
    assert overdue.reason == (
        "human task 'manager-approval' overdue by 4h2m, assigned to role:sales-manager"
    )
    assert overdue.threshold == 4 * HOUR
    assert overdue.time_in_state == pytest.approx(5 * HOUR + 120)
    assert report[held.id].reason.startswith("lease held by dead worker dead-worker (expired 1m30s")


def test_default_threshold_is_twice_the_median_time_in_state(
    shop: daytwo.App, clock: daytwo.FakeClock
) -> None:
    sleepers(shop, clock, [m * 60 for m in [8, 9, 10, 11, 12] * 4])  # median 10 min
    sli = slo.StuckRatio(min_samples=20)
    thresholds = slo._stuck.state_thresholds(shop.store, "order", sli)
    assert thresholds["shipping"] == pytest.approx(1200)
    fewer = slo.StuckRatio(min_samples=21, floor="30m")
    assert "shipping" not in slo._stuck.state_thresholds(shop.store, "order", fewer)


def test_changing_an_objective_keeps_its_history(shop: daytwo.App, clock: daytwo.FakeClock) -> None:
    quietly(shop, "plain", True)
    first = slo.Objective(
        name="plain-ok", workflow="plain", objective=0.9, sli=slo.Success(),
        alerting=slo.AlertPolicy(min_events=1),
    )  # fmt: skip
    assert evaluate_one(shop, first).definition_version == 1
    assert evaluate_one(shop, first).definition_version == 1
    alerts = slo.list_alerts(shop.store)
    assert {a.severity for a in alerts} == {"page", "ticket"}
    assert {a.definition_version for a in alerts} == {1}
    clock.advance(60)
    second = first.model_copy(update={"objective": 0.5})
    status = evaluate_one(shop, second)
    assert status.definition_version == 2
    history = slo.definition_history(shop.store, "plain-ok")
    assert [(h["version"], h["spec"]["objective"]) for h in history] == [(1, 0.9), (2, 0.5)]
    # The alerts raised under version 1 still say so.
    assert {a.definition_version for a in slo.list_alerts(shop.store)} == {1}


class _Recorder(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    _Recorder.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/alerts", _Recorder.received
    server.shutdown()
    server.server_close()


def test_webhook_sink_posts_firing_and_resolved(
    shop: daytwo.App, clock: daytwo.FakeClock, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = webhook
    obj = slo.Objective(
        name="plain-ok", workflow="plain", objective=0.99, sli=slo.Success(),
        alerting=slo.AlertPolicy(min_events=1, runbook="https://runbooks.example/plain"),
    )  # fmt: skip
    evaluator = slo.Evaluator.for_app(shop, [obj], sinks=[slo.WebhookSink(url), slo.LogSink()])
    quietly(shop, "plain", True)
    evaluator.evaluate()
    evaluator.evaluate()  # still firing: not delivered again
    assert [(r["event"], r["alert"]["severity"]) for r in received] == [
        ("firing", "page"), ("firing", "ticket")
    ]  # fmt: skip
    assert received[0]["alert"]["runbook"] == "https://runbooks.example/plain"
    assert received[0]["alert"]["labels"]["workflow"] == "plain"
    clock.advance(4 * 86400)
    evaluator.evaluate()
    assert sorted(r["event"] for r in received[2:]) == ["resolved", "resolved"]


def test_an_unreachable_webhook_does_not_stop_evaluation(shop: daytwo.App) -> None:
    obj = slo.Objective(name="plain-ok", workflow="plain", objective=0.99, sli=slo.Success(),
                        alerting=slo.AlertPolicy(min_events=1))  # fmt: skip
    sink = slo.WebhookSink("http://127.0.0.1:9/unreachable", timeout=0.5)
    quietly(shop, "plain", True)
    [status] = slo.Evaluator.for_app(shop, [obj], sinks=[sink]).evaluate()
    assert status.alert_state == "firing (page, ticket)"


def test_calendar_month_budget_resets_at_the_period_start(
    shop: daytwo.App, clock: daytwo.FakeClock
) -> None:
    monthly = slo.Objective(
        name="plain-month", workflow="plain", objective=0.9, sli=slo.Success(), window="month"
    )
    clock.set(1_769_817_600.0 - 7200)  # 2026-01-30T22:00Z
    quietly(shop, "plain", True)
    quietly(shop, "plain", False)
    january = evaluate_one(shop, monthly)
    assert january.window_start == 1_767_225_600.0  # 2026-01-01T00:00Z
    assert (january.good, january.valid) == (1, 2)
    clock.set(1_769_904_000.0 + 60)  # 2026-02-01T00:01Z
    quietly(shop, "plain", False)
    february = evaluate_one(shop, monthly)
    assert february.window_start == 1_769_904_000.0
    assert (february.good, february.valid, february.budget_remaining) == (1, 1, 1.0)


def test_stuck_ratio_windows_average_the_samples_of_evaluations(
    shop: daytwo.App, clock: daytwo.FakeClock
) -> None:
    stuck_slo = objective(slo.StuckRatio(thresholds={"approval": "1h"}), 0.9)
    quietly(shop, "order", {"task": "approval"}, timeout=0)
    quietly(shop, "order", {"task": "approval"}, timeout=0)
    first = evaluate_one(shop, stuck_slo)  # 0 of 2 stuck
    assert first.sample == (2.0, 2.0) and first.sli == 1.0
    clock.advance(2 * HOUR)
    second = evaluate_one(shop, stuck_slo)  # both stuck now: 2 of 4 samples in the day
    assert second.sample == (0.0, 2.0)
    assert second.sli == pytest.approx(0.5)
    assert second.burn["1h"] == pytest.approx(10.0)  # only the newest sample: all stuck


def test_incompatible_instances_are_listed_with_the_reason(
    db_url: str, clock: daytwo.FakeClock
) -> None:
    old = daytwo.App(db_url, clock=clock)

    @old.step
    def reserve() -> str:
        return "r"

    @old.workflow(name="w")
    def w_old(ctx: daytwo.Context, _: None) -> str:
        reserve()
        return str(ctx.wait_for_signal("go"))

    quietly(old, "w", None, id="i1", timeout=0)
    old.close()
    new = daytwo.App(db_url, clock=clock)

    @new.step
    def check_fraud() -> str:
        return "ok"

    @new.workflow(name="w")
    def w_new(ctx: daytwo.Context, _: None) -> str:
        check_fraud()
        return str(ctx.wait_for_signal("go"))

    new.signal("i1", "go", 1)
    with new.worker(concurrency=1, poll_interval=0.01), contextlib.suppress(daytwo.WorkflowFailed):
        new.result("i1", timeout=10)
    [item] = slo.stuck_report(new.store, clock.now(), [])
    assert item.status == "INCOMPATIBLE"
    assert item.reason.startswith(
        "incompatible: at position 0 the history records step 'reserve' but the workflow now "
        "calls step 'check_fraud'"
    )
    new.close()


def test_a_step_in_retry_backoff_names_its_attempt_and_last_error(
    fake_app: daytwo.App, clock: daytwo.FakeClock
) -> None:
    @fake_app.step(
        retry=daytwo.Retry(max_attempts=5, initial_delay=3 * HOUR, max_delay=3 * HOUR, jitter=0.0)
    )
    def call_bank() -> None:
        raise ConnectionError("bank API timed out")

    @fake_app.workflow(name="loan")
    def loan(ctx: daytwo.Context, _: None) -> None:
        call_bank()

    quietly(fake_app, "loan", None, id="l1", timeout=0)
    clock.advance(HOUR)
    stuck_slo = slo.Objective(
        name="loan-stuck", workflow="loan", objective=0.9,
        sli=slo.StuckRatio(thresholds={"call_bank": "30m"}),
    )  # fmt: skip
    [item] = slo.stuck_report(fake_app.store, clock.now(), [stuck_slo])
    assert item.state == "call_bank" and item.threshold == 1800
    assert item.reason == (
        "step 'call_bank' retrying for the 1st time; last error ConnectionError: bank API timed out"
    )


def test_the_last_event_of_each_indicator_decides_no_data(
    shop: daytwo.App, clock: daytwo.FakeClock
) -> None:
    quiet = slo.AlertPolicy(no_data="2h")
    ended_at = clock.now()
    quietly(shop, "order", {})  # ends at once
    clock.advance(60)
    waiting_since = clock.now()
    quietly(shop, "order", {"signal": "go"}, timeout=0)  # stays active
    clock.advance(3 * HOUR)
    objectives = [
        objective(slo.Success(), alerting=quiet),
        objective(slo.CycleTime(within="1h"), alerting=quiet),
        objective(slo.RetryRate(max_per_instance=0.5), None, alerting=quiet),
        objective(slo.StuckRatio(), alerting=quiet),
    ]
    statuses = {s.kind: s for s in slo.Evaluator.for_app(shop, objectives).evaluate()}
    # Success: only ends count; the one end is 3 h old.
    assert statuses["success"].last_event_at == ended_at
    assert statuses["success"].no_data
    # Cycle time: the waiting instance turned bad when its 1 h target passed, 2 h ago.
    assert statuses["cycle_time"].last_event_at == waiting_since + HOUR
    assert not statuses["cycle_time"].no_data
    # Rates and the stuck ratio: an active instance is a valid event now.
    for kind in ("retry_rate", "stuck_ratio"):
        assert statuses[kind].last_event_at == clock.now(), kind
        assert not statuses[kind].no_data, kind
    assert [a.dedup_key for a in statuses["success"].alerts] == ["slo/o-success/no-data"]
