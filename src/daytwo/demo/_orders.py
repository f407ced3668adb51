"""The demo's order-fulfilment process, declared on a fresh :class:`daytwo.App`.

reserve inventory (undone by: release) -> manager approval for orders over 1000 ->
charge the card at a flaky payment provider, with retries and a circuit breaker that rides
out its outage (undone by: refund) -> wait for the carrier's pickup (a durable timer) ->
ship (an address the carrier rejects parks the order for an operator).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import daytwo
from daytwo.demo._services import (
    UNDELIVERABLE_COUNTRIES,
    AddressRejected,
    PaymentDeclined,
    Services,
)

__all__ = ["APPROVAL_THRESHOLD", "create_app"]

#: Orders with a total above this need a manager's approval.
APPROVAL_THRESHOLD = 1000
#: How long the parcel waits for the carrier (short, so the demo stays quick).
PICKUP_WAIT = timedelta(seconds=0.3)


def create_app(database: str | None = None, *, services: Services | None = None) -> daytwo.App:
    """An app with the ``order`` workflow (version 1.0), its steps and its SLOs.

    ``database`` is the URL given in code (``$DAYTWO_DATABASE`` beats it; a relative SQLite
    path is relative to the caller's file; default ``sqlite:///daytwo.db``); ``services``
    are the external systems it calls (seeded stand-ins by default).
    """
    app = daytwo.App(database)
    external = services or Services()
    # Open when 5 of the last 6 charges failed (the provider's normal 30% of failures almost
    # never does that); let 2 probes through every 0.4 s until they succeed.
    app.circuit_breaker(
        "payments-api",
        daytwo.BreakerPolicy(
            failure_rate=80, window=6, minimum_calls=5, open_for=0.4, half_open_calls=2
        ),
    )

    @app.step(retry=daytwo.Retry(max_attempts=3, initial_delay=0.05, max_delay=0.2))
    def reserve_inventory(order: dict[str, Any]) -> str:
        return external.reserve(order)

    @reserve_inventory.compensate
    def release_inventory(order: dict[str, Any], reservation_id: str) -> None:
        external.release(reservation_id)

    @app.step(
        retry=daytwo.Retry(
            max_attempts=10,
            initial_delay=0.05,
            backoff=2.0,
            max_delay=0.2,
            jitter=0.2,
            non_retryable=(PaymentDeclined,),
        ),
        dependency="payments-api",
    )
    def charge_card(order: dict[str, Any]) -> str:
        step = daytwo.current_step()
        return external.charge(order, step.idempotency_key, step.attempt)

    @charge_card.compensate
    def refund_card(order: dict[str, Any], charge_id: str) -> None:
        external.refund(charge_id)

    @app.step(
        dependency="carrier-api",
        retry=daytwo.Retry(max_attempts=2, initial_delay=0.05, non_retryable=(AddressRejected,)),
        on_failure=daytwo.FailurePolicy.PARK,
    )
    def ship(order: dict[str, Any]) -> str:
        country = order.get("country", "")
        if country in UNDELIVERABLE_COUNTRIES:
            raise daytwo.Reject(f"the carrier does not deliver to {country}")
        return external.ship(order)

    @app.workflow(name="order", version="1.0")
    def order(ctx: daytwo.Context, order: dict[str, Any]) -> dict[str, Any]:
        """Fulfil one order: reserve, approve if large, charge, wait for pickup, ship."""
        reservation = reserve_inventory(order)
        if order["total"] > APPROVAL_THRESHOLD:
            decision = ctx.human_task(
                "manager-approval",
                assignee="role:sales-manager",
                due=timedelta(hours=4),
                payload={"order": order["id"], "customer": order.get("customer"),
                         "total": order["total"]},
            )  # fmt: skip
            # The decision is {"approved": bool, "reason": ...}; a bare true/false works too.
            verdict = decision if isinstance(decision, dict) else {"approved": decision}
            if not verdict.get("approved"):
                reason = verdict.get("reason", "no reason given")
                raise daytwo.Reject(f"manager rejected the order: {reason}")
        charge = charge_card(order)
        ctx.sleep(PICKUP_WAIT, name="carrier-pickup")
        tracking = ship(order)
        return {"reservation": reservation, "charge": charge, "tracking": tracking}

    from daytwo import slo
    from daytwo.demo._objectives import demo_objectives

    slo.register(app, *demo_objectives())
    return app
