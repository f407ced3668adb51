"""A workload for the deadline crash test: instances that outlive their deadline.

Workflow ``late``: a step ``hold`` (compensated by ``release``), then, by its input, a
wait for a signal nobody sends or a slow step that runs past the deadline, then a last
step. Every instance is started with a short ``timeout=`` (seconds), so it meets its
deadline while waiting or while running. Served by ``daytwo worker
workloads.deadline_app:app``; the database comes from ``$DAYTWO_DATABASE``.
"""

from __future__ import annotations

import time

import daytwo


def build_app(database: str | None = None) -> daytwo.App:
    """The workload app on ``database`` (default: ``$DAYTWO_DATABASE``)."""
    app = daytwo.App(database)

    @app.step
    def hold(n: int) -> str:
        return f"hold-{n}"

    @hold.compensate
    def release(n: int, holding: str) -> None:
        time.sleep(0.01)

    @app.step
    def slow(n: int) -> str:
        time.sleep(0.5)
        return f"slow-{n}"

    @app.step
    def finish(n: int) -> str:
        return f"finish-{n}"

    @app.workflow(name="late", timeout=60)
    def late(ctx: daytwo.Context, n: int) -> str:
        hold(n)
        if n % 2:
            ctx.wait_for_signal("never")
        else:
            for _ in range(20):
                slow(n)
        return finish(n)

    return app


app = build_app()
