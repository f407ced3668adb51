"""The small order shop that the SLO tests measure: retries, compensations, waits."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

import daytwo


def register_shop(app: daytwo.App) -> daytwo.App:
    """Register the ``order`` and ``plain`` workflows (and the ``charge`` step) on ``app``.

    ``order`` takes a spec: ``sleep`` (seconds), ``signal``/``task`` (names to wait for),
    ``flaky`` (charge fails every other call, then retries), ``reject`` (compensates).
    """
    calls = {"n": 0}

    @app.step(dependency="payments-api", retry=daytwo.Retry(max_attempts=3, initial_delay=1.0))
    def charge(flaky: bool) -> str:
        calls["n"] += 1
        if flaky and calls["n"] % 2:
            raise RuntimeError("card network down")
        return "c-1"

    @charge.compensate
    def refund(flaky: bool, charge_id: str) -> None:
        pass

    @app.workflow(name="order")
    def order(ctx: daytwo.Context, spec: dict[str, Any]) -> str:
        if spec.get("sleep"):
            ctx.sleep(spec["sleep"], name="shipping")
        if spec.get("signal"):
            ctx.wait_for_signal(spec["signal"])
        if spec.get("task"):
            ctx.human_task(spec["task"], assignee="role:sales-manager", due=timedelta(hours=1))
        charge(bool(spec.get("flaky")))
        if spec.get("reject"):
            raise daytwo.Reject("out of stock")
        return "ok"

    @app.workflow(name="plain")
    def plain(ctx: daytwo.Context, fail: bool) -> str:
        if fail:
            raise daytwo.Reject("no")
        return "ok"

    return app


def quietly(app: daytwo.App, workflow: str, value: Any, **options: Any) -> None:
    """Run inline; an instance that fails or keeps waiting is fine here.

    Pass ``timeout=0`` to return once the instance is left waiting: the timeout is real
    time while a fake clock's sleeps take none, so any positive timeout races the inline
    run's sleeps (on a fast machine it travels through timers the test meant to wait on).
    """
    with contextlib.suppress(daytwo.WorkflowFailed, TimeoutError):
        app.run(workflow, value, **options)
