"""The workload of the fan-out crash test: one workflow fanning out to 100 parallel steps.

Each execution of ``effect`` appends ``idempotency_key pid`` to the file named by
``$DAYTWO_FANOUT_EFFECTS`` (the external world the test counts side effects in) and takes
a moment, so that a SIGKILL finds branches in flight. The database comes from
``$DAYTWO_DATABASE``; tests build their own copy with :func:`build_app`.
"""

from __future__ import annotations

import os
import time

import daytwo

EFFECTS_ENV = "DAYTWO_FANOUT_EFFECTS"
BRANCHES = 100
#: How long one branch takes (seconds): 100 branches, 8 at a time, take about 2.5 s.
BRANCH_SECONDS = 0.2


def build_app(database: str | None = None) -> daytwo.App:
    """The workload app on ``database``."""
    app = daytwo.App(database)

    @app.step(retry=daytwo.Retry(max_attempts=1))
    def effect(n: int) -> int:
        step = daytwo.current_step()
        time.sleep(BRANCH_SECONDS)
        with open(os.environ[EFFECTS_ENV], "a") as effects:
            effects.write(f"{step.idempotency_key} {os.getpid()}\n")
        return n * n

    @app.workflow(name="fanout")
    def fanout(ctx: daytwo.Context, count: int) -> int:
        return sum(ctx.map(effect, range(count), concurrency=8))

    return app


app = build_app()
