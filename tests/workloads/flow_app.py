"""A workload for flow-control tests on worker processes: workflows in a queue with a
cluster-wide concurrency limit, in a rate-limited queue, and steps calling a dependency
with a cluster-wide concurrency limit.

Every step appends two records to the side-effect log (``$DAYTWO_SIDE_EFFECTS``, in the
format of :mod:`workloads.crash_app`, so ``_harness.read_side_effects`` parses it): one as
it begins (outcome ``enter``) and one as it ends (outcome ``exit``), each with the time
(``time.time()``) in the result column. Label ``WORKFLOW.STEP``. Steps take up to
``$DAYTWO_MAX_STEP_SECONDS`` (default 0.05 s). The tests set the limits with
``app.flow`` before the workers start; the names are below.

    daytwo worker workloads.flow_app:app --queue bulk --queue rated --queue default
"""

from __future__ import annotations

import os
import random
import time

import daytwo
from workloads.crash_app import LOG_ENV, STEP_SECONDS_ENV, append_side_effect, serve

#: The queue whose instances may run at most a configured number at once, cluster-wide.
BULK_QUEUE = "bulk"
#: The queue whose instances may start at most N per period.
RATED_QUEUE = "rated"
#: The dependency with a cluster-wide concurrency limit.
DEPENDENCY = "payments-api"


def build_app(database: str | None = None, log_path: str | None = None) -> daytwo.App:
    """The workload app on ``database``, logging step entries and exits to ``log_path``."""
    app = daytwo.App(database)
    path = log_path or os.environ.get(LOG_ENV) or "side-effects.log"
    max_step_seconds = float(os.environ.get(STEP_SECONDS_ENV, "0.05"))

    def call(n: int) -> str:
        info = daytwo.current_step()
        label = f"{info.workflow}.{info.step}"
        append_side_effect(path, label, "enter", f"{time.time():.6f}")
        time.sleep(random.uniform(max_step_seconds / 2, max_step_seconds))
        append_side_effect(path, label, "exit", f"{time.time():.6f}")
        return f"{label}-{n}"

    @app.step
    def prepare(n: int) -> str:
        return call(n)

    @app.step(dependency=DEPENDENCY)
    def charge(n: int) -> str:
        return call(n)

    @app.step
    def ping(n: int) -> str:
        return call(n)

    @app.workflow(name="bulk", queue=BULK_QUEUE)
    def bulk(ctx: daytwo.Context, n: int) -> list[str]:
        prepared = prepare(n)
        ctx.sleep(0.05)  # back in the queue: a timer's wake-up is limited like a start
        return [prepared, charge(n)]

    @app.workflow(name="pay")
    def pay(ctx: daytwo.Context, n: int) -> list[str]:
        return [charge(n)]

    @app.workflow(name="rated", queue=RATED_QUEUE)
    def rated(ctx: daytwo.Context, n: int) -> list[str]:
        return [ping(n)]

    return app


app = build_app()

if __name__ == "__main__":
    serve(app)
