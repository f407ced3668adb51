"""A workload for the child-workflow crash test: a ``family`` parent starts ``n`` ``member``
children with ``ctx.start_child``, then waits for each of their results; each child does
one step that appends a record to the side-effect log (``crash_app``'s format).

The database comes from ``$DAYTWO_DATABASE``, the log path from ``$DAYTWO_SIDE_EFFECTS``.
"""

from __future__ import annotations

import os
import random
import time
import uuid

import daytwo
from workloads.crash_app import LOG_ENV, append_side_effect, serve


def build_app(database: str | None = None, log_path: str | None = None) -> daytwo.App:
    """The workload app on ``database``, logging side effects to ``log_path``."""
    app = daytwo.App(database)
    path = log_path or os.environ.get(LOG_ENV) or "side-effects.log"

    @app.step(retry=daytwo.Retry(max_attempts=5, initial_delay=0.05, jitter=0.0))
    def work(n: int) -> str:
        # Long enough for the test's kills to land while children run (and in a step).
        time.sleep(random.uniform(0.02, 0.08))
        result = f"work-{n}-{uuid.uuid4().hex[:10]}"
        append_side_effect(path, "work", "ok", result)
        time.sleep(random.uniform(0.02, 0.08))
        return result

    @app.workflow(name="member")
    def member(ctx: daytwo.Context, n: int) -> str:
        return work(n)

    @app.workflow(name="family")
    def family(ctx: daytwo.Context, size: int) -> list[str]:
        handles = [ctx.start_child(member, n) for n in range(size)]
        return [handle.result() for handle in handles]

    return app


app = build_app()


if __name__ == "__main__":
    serve(app)
