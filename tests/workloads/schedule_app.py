"""A workload for the schedules process test: a schedule ticking every second whose
instances end at once; every missed tick is caught up (so a tick is never lost to a slow
or killed worker), and instances may overlap."""

from __future__ import annotations

from datetime import timedelta

import daytwo

app = daytwo.App()


@app.schedule(
    every=timedelta(seconds=1), name="heartbeat", catch_up=daytwo.CatchUp.ALL,
    max_catch_up=1000, overlap=daytwo.Overlap.ALLOW,
)  # fmt: skip
@app.workflow()
def beat(ctx: daytwo.Context) -> None:
    return None
