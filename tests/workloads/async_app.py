"""A workload of ``async def`` code for process-level tests: an async workflow whose async
steps run on the worker's event loop, with a durable timer and a signal between them.

Each step appends a record to the side-effect log (``$DAYTWO_SIDE_EFFECTS``, the format of
:mod:`workloads.crash_app`) halfway through its simulated external call, so a SIGKILL can
land before, during or after the effect::

    daytwo worker workloads.async_app:app --concurrency 8 --lease-seconds 2
"""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from typing import Any

import daytwo
from workloads.crash_app import LOG_ENV, STEP_SECONDS_ENV, append_side_effect, serve


def build_app(database: str | None = None, log_path: str | None = None) -> daytwo.App:
    """The workload app on ``database``, logging side effects to ``log_path``."""
    app = daytwo.App(database)
    path = log_path or os.environ.get(LOG_ENV) or "side-effects.log"
    max_step_seconds = float(os.environ.get(STEP_SECONDS_ENV, "0.05"))

    async def external_call(label: str, n: int) -> str:
        await asyncio.sleep(random.uniform(0.0, max_step_seconds / 2))
        result = f"{label}-{n}-{uuid.uuid4().hex[:10]}"
        # A blocking write of a few bytes: the record is on disk before the step returns.
        append_side_effect(path, label, "ok", result)
        await asyncio.sleep(random.uniform(0.0, max_step_seconds / 2))
        return result

    @app.step
    async def reserve(n: int) -> str:
        return await external_call("reserve", n)

    @app.step
    async def charge(n: int, approval: str) -> str:
        return await external_call("charge", n)

    @app.workflow(name="async-order", version="1")
    async def async_order(ctx: daytwo.AsyncContext, n: int) -> dict[str, Any]:
        reservation = await reserve(n)
        await ctx.sleep(0.3, name="cooling-off")
        approval = await ctx.wait_for_signal("approve")
        charged = await charge(n, approval)
        return {"n": n, "reservation": reservation, "approval": approval, "charge": charged}

    return app


app = build_app()

if __name__ == "__main__":
    serve(app)
