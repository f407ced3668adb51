"""The demo's SLOs: what the business promised about orders."""

from __future__ import annotations

from datetime import timedelta

from daytwo.slo import AlertPolicy, CycleTime, Objective, RetryRate, StuckRatio, Success, Window

__all__ = ["demo_objectives"]

WINDOW = Window.rolling(timedelta(days=28))
RUNBOOK = "https://runbooks.example/orders"
#: The demo runs a few dozen orders: alert on a handful of events, not the default ten.
POLICY = AlertPolicy(min_events=5, runbook=RUNBOOK, labels={"team": "fulfilment"})


def demo_objectives() -> list[Objective]:
    """99.5% of orders succeed, 95% finish within 1 min, few stuck, few payment retries."""
    return [
        Objective(
            name="order-success", workflow="order", objective=0.995, sli=Success(),
            window=WINDOW, alerting=POLICY,
            description="Orders end SUCCEEDED (compensated orders are bad).",
        ),
        Objective(
            name="order-cycle-time", workflow="order", objective=0.95,
            sli=CycleTime(within=timedelta(minutes=1)), window=WINDOW, alerting=POLICY,
        ),
        Objective(
            name="order-stuck", workflow="order", objective=0.98,
            sli=StuckRatio(thresholds={"manager-approval": timedelta(hours=4)}), window=WINDOW,
            alerting=POLICY,
        ),
        Objective(
            name="payments-retries", workflow="order",
            sli=RetryRate(dependency="payments-api", max_per_instance=1.0), window=WINDOW,
            alerting=POLICY,
        ),
    ]  # fmt: skip
