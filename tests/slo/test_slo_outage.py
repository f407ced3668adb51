"""SLOs during an outage: retries burn the budget while they happen, not when instances end."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from _shop import quietly

import daytwo
from daytwo import slo
from daytwo.slo._metrics import StoreCollector

STORM = slo.Objective(
    name="payments-retries", workflow="order", window="30d",
    sli=slo.RetryRate(max_per_instance=0.05, dependency="payments-api"),
    alerting=slo.AlertPolicy(no_data="1h"),
)  # fmt: skip


@pytest.fixture
def outage(fake_app: daytwo.App) -> Iterator[tuple[daytwo.App, dict[str, bool]]]:
    """An order workflow whose charge step calls payments-api, down until ``up`` is set."""
    payments = {"up": False}

    @fake_app.step(
        dependency="payments-api",
        retry=daytwo.Retry(max_attempts=10, initial_delay=30.0, jitter=0.0),
    )
    def charge(order: str) -> str:
        if not payments["up"]:
            raise ConnectionError("payments-api unreachable")
        return f"charge-{order}"

    @fake_app.workflow(name="order")
    def order(ctx: daytwo.Context, number: str) -> str:
        return charge(number)

    yield fake_app, payments


def scrape(collector: StoreCollector) -> dict[tuple[str, str], float]:
    """(family sample name, slo) -> value of the per-objective samples."""
    return {
        (sample.name, sample.labels.get("slo", "")): sample.value
        for family in collector.collect()
        for sample in family.samples
    }


def test_a_retry_storm_burns_the_budget_while_no_instance_ends(
    outage: tuple[daytwo.App, dict[str, bool]], clock: daytwo.FakeClock
) -> None:
    app, payments = outage
    for n in range(18):  # each fails its first attempt and waits 30 s for its retry
        quietly(app, "order", f"o-{n}", id=f"o-{n}", timeout=0)
    assert all(app.get(f"o-{n}").status == "WAITING" for n in range(18))
    [status] = slo.Evaluator.for_app(app, [STORM]).evaluate()
    # 18 retries over the 18 instances alive in the window: 1 per instance, 20x the budget.
    assert (status.bad, status.valid) == (18, 18)
    assert status.active_instances == 18
    assert status.burn["1h"] == pytest.approx(20.0)
    assert status.budget_remaining == pytest.approx(1 - 18 / (0.05 * 18))
    assert status.alert_state == "firing (page, ticket)"
    assert not status.no_data and status.last_event_at == clock.now()
    # /metrics says the same: no end yet, 18 active, 18 retries.
    samples = scrape(StoreCollector.for_app(app, [STORM]))
    assert samples["daytwo_slo_events_total", STORM.name] == 0
    assert samples["daytwo_slo_active_instances", STORM.name] == 18
    assert samples["daytwo_slo_bad_events_total", STORM.name] == 18

    # The dependency recovers; the retries succeed and the instances end. Each instance
    # and each retry is still counted once.
    payments["up"] = True
    with app.worker(concurrency=4, poll_interval=0.01):
        clock.advance(30)
        deadline = time.monotonic() + 30
        while any(app.get(f"o-{n}").status != "SUCCEEDED" for n in range(18)):
            assert time.monotonic() < deadline, "the retries did not run"
            time.sleep(0.02)
    [after] = slo.Evaluator.for_app(app, [STORM]).evaluate()
    assert (after.bad, after.valid, after.active_instances) == (18, 18, 0)
    samples = scrape(StoreCollector.for_app(app, [STORM]))
    assert samples["daytwo_slo_events_total", STORM.name] == 18
    assert samples["daytwo_slo_active_instances", STORM.name] == 0


def test_compensations_count_against_the_instances_alive(
    fake_app: daytwo.App, clock: daytwo.FakeClock
) -> None:
    @fake_app.step
    def reserve(order: str) -> str:
        return f"r-{order}"

    @reserve.compensate
    def release(order: str, reservation: str) -> None:
        pass

    @fake_app.workflow(name="order")
    def order(ctx: daytwo.Context, number: str) -> str:
        reserve(number)
        if number == "rejected":
            raise daytwo.Reject("out of stock")
        ctx.wait_for_signal("shipped")
        return "ok"

    quietly(fake_app, "order", "rejected")  # compensated and ended
    for n in range(3):  # alive, waiting to ship
        quietly(fake_app, "order", f"o-{n}", timeout=0)
    rate = slo.Objective(
        name="releases", workflow="order", window="1d",
        sli=slo.CompensationRate(max_per_instance=0.5, step="reserve"),
    )  # fmt: skip
    [status] = slo.Evaluator.for_app(fake_app, [rate]).status()
    assert (status.bad, status.valid) == (1, 4)  # 1 compensation; 1 ended + 3 active
    assert status.burn["1h"] == pytest.approx(0.5)
