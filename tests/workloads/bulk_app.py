"""Workloads for the bulk-job crash tests, in the queue ``held`` (the ``daytwo.bulk`` job
runs in ``default``):

* ``app``: a one-step workflow; the restart test's workers do not serve ``held``, so what
  the bulk restart makes stays put for the test to count;
* ``parking_app``: ``shipment`` instances park at ``deliver`` while the courier is down
  (a file exists), and log every execution of ``deliver``, for the bulk retry test.

The database comes from ``$DAYTWO_DATABASE``; tests build their own copies with
:func:`build_app` and :func:`build_parking_app`.
"""

from __future__ import annotations

import os

import daytwo

#: The queue of the workload's instances.
HELD = "held"


def build_app(database: str | None = None) -> daytwo.App:
    """The workload app on ``database``."""
    app = daytwo.App(database)

    @app.step()
    def record(n: int) -> int:
        return n

    @app.workflow(name="parcel", queue=HELD)
    def parcel(ctx: daytwo.Context, n: int) -> int:
        return record(n)

    return app


app = build_app()


#: While this file exists, ``deliver`` fails (the dependency is down): instances park.
DOWN_ENV = "DAYTWO_BULK_DOWN_FILE"
#: Each execution of ``deliver`` appends ``instance_id attempt pid`` here.
CALLS_ENV = "DAYTWO_BULK_CALLS_FILE"


def build_parking_app(database: str | None = None) -> daytwo.App:
    """An app whose ``shipment`` instances park at ``deliver`` while the courier is down."""
    app = daytwo.App(database)

    @app.step(retry=daytwo.Retry(max_attempts=1), on_failure=daytwo.FailurePolicy.PARK,
              dependency="courier")  # fmt: skip
    def deliver(n: int) -> int:
        step = daytwo.current_step()
        with open(os.environ[CALLS_ENV], "a") as calls:
            calls.write(f"{step.instance_id} {step.attempt} {os.getpid()}\n")
        if os.path.exists(os.environ[DOWN_ENV]):
            raise ConnectionError("courier down")
        return n

    @app.workflow(name="shipment", queue=HELD)
    def shipment(ctx: daytwo.Context, n: int) -> int:
        return deliver(n)

    return app


parking_app = build_parking_app()
