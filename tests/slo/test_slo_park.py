"""Parked instances in the SLOs: stuck by definition, bad in the success SLI while parked,
one valid event in all once they end (issue 12, item 1); terminated ones end badly."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import daytwo
from daytwo import App, FakeClock, InstanceStatus, slo

HOUR = 3600.0
NO_RETRY = daytwo.Retry(max_attempts=1)


class Bank:
    down = True


@pytest.fixture
def loans(fake_app: App) -> Iterator[tuple[App, Bank, Any]]:
    bank = Bank()

    @fake_app.step(retry=NO_RETRY, on_failure="park")
    def call_bank(amount: int) -> str:
        if bank.down:
            raise ConnectionError("bank API timed out")
        return f"loan of {amount}"

    @fake_app.workflow(name="loan")
    def loan(ctx: daytwo.Context, amount: int) -> str:
        return call_bank(amount)

    with fake_app.worker(concurrency=1, poll_interval=0.05) as worker:
        yield fake_app, bank, worker


def _success(app: App) -> slo.SloStatus:
    objective = slo.Objective(
        name="loan-success", workflow="loan", sli=slo.Success(), objective=0.9, window="1d"
    )
    [status] = slo.Evaluator.for_app(app, [objective]).evaluate()
    return status


def test_a_parked_instance_is_stuck_whatever_the_threshold(
    loans: tuple[App, Bank, Any], clock: FakeClock
) -> None:
    app, _, worker = loans
    app.start("loan", 100, id="l-1")
    worker.drain()
    assert app.get("l-1").status is InstanceStatus.NEEDS_ATTENTION
    # A threshold of a day on its state, and only a second parked: stuck all the same.
    stuck_slo = slo.Objective(
        name="loan-stuck", workflow="loan", objective=0.9,
        sli=slo.StuckRatio(thresholds={"parked:call_bank": "1d"}),
    )  # fmt: skip
    clock.advance(1)
    [item] = slo.stuck_report(app.store, clock.now(), [stuck_slo])
    assert (item.instance_id, item.status, item.state) == (
        "l-1",
        "NEEDS_ATTENTION",
        "parked:call_bank",
    )
    assert item.reason == (
        "parked: step 'call_bank' failed for good after 1 attempt(s); last error "
        "ConnectionError: bank API timed out; an operator must retry, skip or abort it"
    )
    [status] = slo.Evaluator.for_app(app, [stuck_slo]).evaluate()
    assert status.sample == (0.0, 1.0)  # one active instance, stuck


def test_a_parked_instance_is_bad_in_the_success_sli_and_counts_once_when_it_succeeds(
    loans: tuple[App, Bank, Any], clock: FakeClock
) -> None:
    app, bank, worker = loans
    bank.down = False
    app.start("loan", 1, id="l-ok")
    worker.drain()
    bank.down = True
    app.start("loan", 2, id="l-parked")
    worker.drain()
    clock.advance(60)
    parked = _success(app)
    assert (parked.good, parked.bad, parked.valid) == (1, 1, 2)
    assert parked.burn["1h"] == pytest.approx(5.0)  # 50% bad on a 10% budget
    bank.down = False
    app.retry("l-parked", by="ann")
    worker.drain()
    assert app.get("l-parked").status is InstanceStatus.SUCCEEDED
    clock.advance(60)
    after = _success(app)
    assert (after.good, after.bad, after.valid) == (2, 0, 2)  # its end only, not twice


def test_a_parked_instance_leaves_the_short_windows_once_its_park_is_older(
    loans: tuple[App, Bank, Any], clock: FakeClock
) -> None:
    app, _, worker = loans
    app.start("loan", 2, id="l-parked")
    worker.drain()
    clock.advance(2 * HOUR)
    status = _success(app)
    assert (status.bad, status.valid) == (1, 1)  # the 1-day window holds it
    assert status.burn["1h"] is None  # no event in the last hour
    assert status.last_event_at is not None


def test_a_terminated_instance_is_a_bad_end(loans: tuple[App, Bank, Any], clock: FakeClock) -> None:
    app, _, worker = loans
    app.start("loan", 2, id="l-parked")
    worker.drain()
    app.terminate("l-parked", reason="written off", by="ann")
    clock.advance(60)
    status = _success(app)
    assert (status.good, status.bad, status.valid) == (0, 1, 1)
