"""A workload for the outbox crash test: alerts that fire and resolve every second or so,
delivered to a webhook through the outbox by a worker process that tests SIGKILL.

``FLAPS`` workflows, each with an objective whose no-data ticket fires one second after
the workflow's last instance ended and resolves when another one ends: a test that runs
instances now and then makes alerts fire and resolve at will. The worker evaluates them
every :data:`EVALUATE_EVERY` seconds and delivers the alert events to the webhook in
``$DAYTWO_OUTBOX_WEBHOOK``, with short leases and backoffs so that a restarted worker
takes over quickly::

    python -m workloads.outbox_app      (the database from $DAYTWO_DATABASE; until SIGTERM)

``daytwo worker workloads.outbox_app:app --slo-interval 1`` serves the same objectives and
webhook (registered on :data:`app`) with the CLI's default leases and backoffs.
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import timedelta

import daytwo
from daytwo import slo

#: How many workflows (and objectives) flap.
FLAPS = 6
#: Environment variable holding the webhook URL.
WEBHOOK_ENV = "DAYTWO_OUTBOX_WEBHOOK"
#: Seconds between evaluations (the evaluator's lease is three of them).
EVALUATE_EVERY = 0.3
#: The no-data threshold: an alert fires this long after a workflow's last end.
NO_DATA_SECONDS = 1.0


def flap_workflow(index: int) -> str:
    """The name of the ``index``-th flapping workflow."""
    return f"flap{index}"


def build_app(database: str | None = None) -> daytwo.App:
    """The workload app on ``database`` (default: ``$DAYTWO_DATABASE``)."""
    app = daytwo.App(database)
    for index in range(FLAPS):

        def flap(ctx: daytwo.Context, _: None) -> str:
            return "ok"

        app.workflow(name=flap_workflow(index))(flap)
    return app


def objectives() -> list[slo.Objective]:
    """One objective per workflow; only its no-data ticket ever fires (all instances
    succeed, and the burn-rate rules need more events than the test makes)."""
    return [
        slo.Objective(
            name=f"{flap_workflow(index)}-alive",
            workflow=flap_workflow(index),
            objective=0.9,
            sli=slo.Success(),
            alerting=slo.AlertPolicy(
                min_events=1_000_000, no_data=timedelta(seconds=NO_DATA_SECONDS)
            ),
        )
        for index in range(FLAPS)
    ]


def _registered() -> daytwo.App:
    """The app of ``daytwo worker workloads.outbox_app:app``: objectives and webhook on it."""
    served = build_app()
    slo.register(served, *objectives())
    if os.environ.get(WEBHOOK_ENV):
        slo.add_alert_sinks(served, slo.WebhookSink(os.environ[WEBHOOK_ENV], timeout=2.0))
    return served


app = _registered()


def main() -> None:
    """Evaluate and deliver until SIGTERM."""
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    app = build_app()
    sink = slo.WebhookSink(os.environ[WEBHOOK_ENV], timeout=2.0)
    evaluator = slo.Evaluator.for_app(app, objectives(), sinks=[slo.LogSink(), sink])
    for delivery in evaluator.deliveries:
        delivery.interval = 0.05
        delivery.lease_seconds = 1.0
        delivery.base_backoff = 0.2
        delivery.max_backoff = 1.0
    services = [slo.EvaluatorService(evaluator, interval=EVALUATE_EVERY), *evaluator.deliveries]
    app.worker(concurrency=1, lease_seconds=2.0, poll_interval=0.25, services=services).run()


if __name__ == "__main__":
    main()
