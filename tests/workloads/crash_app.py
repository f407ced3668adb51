"""A workload for process-level tests: a four-step saga with retries, a durable timer and
a compensation path, a slow workflow for graceful-shutdown tests, and a workflow that
waits for a signal.

Every step appends one record to a side-effect log (the "external world") with
``O_APPEND`` and ``fsync`` before it returns: a newline, then::

    instance_id seq label idempotency_key attempt pid outcome result end

A SIGKILL can land inside the ``write`` (the kernel stops a write at a page boundary of the
file for a fatal signal) and leave a torn record: the leading newline keeps the next record
on a line of its own, and the missing ``end`` marks the torn one, which the reader skips.

The database comes from ``$DAYTWO_DATABASE``, the log path from ``$DAYTWO_SIDE_EFFECTS``,
the longest simulated external call from ``$DAYTWO_MAX_STEP_SECONDS`` and the saga's timer
from ``$DAYTWO_SAGA_TIMER_SECONDS``, so ``app`` can be served by any worker process::

    python -m workloads.crash_app --concurrency 8 --lease-seconds 2

Tests build their own copy with :func:`build_app` to start and inspect instances.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
import time
import uuid
from typing import Any

import daytwo
from daytwo import Retry

#: The last field of a complete side-effect record.
RECORD_END = "end"
#: Environment variable holding the side-effect log path.
LOG_ENV = "DAYTWO_SIDE_EFFECTS"
#: Environment variable holding the saga's durable timer in seconds (default 0.3).
TIMER_SECONDS_ENV = "DAYTWO_SAGA_TIMER_SECONDS"
#: Environment variable holding the longest simulated external call of a saga step (s).
STEP_SECONDS_ENV = "DAYTWO_MAX_STEP_SECONDS"


def charge_fails_first(n: int) -> bool:
    """Whether the saga's ``charge`` step fails its first attempt for instance ``n``."""
    return n % 4 == 1


def ship_rejects(n: int) -> bool:
    """Whether the saga's ``ship`` step rejects instance ``n`` (which then compensates)."""
    return n % 10 == 7


def append_side_effect(path: str, label: str, outcome: str, result: str) -> None:
    """Record one execution of the current step in the external log, durably."""
    info = daytwo.current_step()
    line = (
        f"\n{info.instance_id} {info.seq} {label} {info.idempotency_key} {info.attempt} "
        f"{os.getpid()} {outcome} {result} {RECORD_END}"
    )
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def build_app(database: str | None = None, log_path: str | None = None) -> daytwo.App:
    """The workload app on ``database``, logging side effects to ``log_path``."""
    app = daytwo.App(database)
    path = log_path or os.environ.get(LOG_ENV) or "side-effects.log"
    max_step_seconds = float(os.environ.get(STEP_SECONDS_ENV, "0.025"))
    timer_seconds = float(os.environ.get(TIMER_SECONDS_ENV, "0.3"))
    quick = Retry(max_attempts=3, initial_delay=0.05, backoff=1.0, max_delay=0.05, jitter=0.0)

    def external_call(label: str, n: int, *, fail: str | None = None) -> str:
        # The request takes a while to arrive, takes effect, and its response takes a while
        # to come back: a crash in the second half repeats a call that took effect.
        time.sleep(random.uniform(0.0, max_step_seconds / 2))
        result = f"{label}-{n}-{uuid.uuid4().hex[:10]}"
        append_side_effect(path, label, "error" if fail else "ok", result)
        time.sleep(random.uniform(0.0, max_step_seconds / 2))
        if fail == "retry":
            raise ConnectionError(f"{label} of {n}: connection reset")
        if fail == "reject":
            raise daytwo.Reject(f"{label} of {n}: address undeliverable")
        return result

    @app.step(retry=quick)
    def reserve(n: int) -> str:
        return external_call("reserve", n)

    @reserve.compensate
    def release(n: int, reservation: str) -> None:
        external_call("release", n)

    @app.step(retry=quick)
    def charge(n: int) -> str:
        first = daytwo.current_step().attempt == 1
        return external_call("charge", n, fail="retry" if first and charge_fails_first(n) else None)

    @charge.compensate
    def refund(n: int, charge_id: str) -> None:
        external_call("refund", n)

    @app.step(retry=quick)
    def ship(n: int) -> str:
        return external_call("ship", n, fail="reject" if ship_rejects(n) else None)

    @app.step(retry=quick)
    def notify(n: int, shipment: str) -> str:
        return external_call("notify", n)

    @app.workflow(name="saga", version="1")
    def saga(ctx: daytwo.Context, n: int) -> dict[str, Any]:
        reservation = reserve(n)
        charge_id = charge(n)
        ctx.sleep(timer_seconds, name="cooling-off")
        shipment = ship(n)
        notification = notify(n, shipment)
        return {
            "n": n,
            "reservation": reservation,
            "charge": charge_id,
            "shipment": shipment,
            "notification": notification,
        }

    @app.step(retry=quick)
    def slow_step(label: str, seconds: float) -> str:
        time.sleep(seconds)
        result = f"{label}-{uuid.uuid4().hex[:10]}"
        append_side_effect(path, label, "ok", result)
        return result

    @app.workflow(name="slow", version="1")
    def slow(ctx: daytwo.Context, data: dict[str, Any]) -> list[str]:
        return [slow_step(f"slow{i}", data["seconds"]) for i in range(data["steps"])]

    @app.workflow(name="signalled", version="1")
    def signalled(ctx: daytwo.Context, n: int) -> dict[str, Any]:
        return {"n": n, "payload": ctx.wait_for_signal("go")}

    return app


app = build_app()


def main(argv: list[str] | None = None) -> None:
    """Run a worker for :data:`app` until SIGTERM/SIGINT."""
    serve(app, argv)


def serve(app: daytwo.App, argv: list[str] | None = None) -> None:
    """Run a worker for ``app`` until SIGTERM/SIGINT (the options of ``daytwo worker``)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--lease-seconds", type=float, default=2.0)
    parser.add_argument("--shutdown-grace", type=float, default=10.0)
    parser.add_argument("--poll-interval", type=float, default=0.25)
    parser.add_argument("--queue", action="append", dest="queues")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    app.worker(
        concurrency=args.concurrency,
        lease_seconds=args.lease_seconds,
        shutdown_grace=args.shutdown_grace,
        poll_interval=args.poll_interval,
        queues=args.queues or ["default"],
    ).run()


if __name__ == "__main__":
    main()
