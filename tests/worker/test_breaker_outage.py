"""The acceptance test of circuit breakers: a dependency down for 20 simulated minutes
under 500 instances in flight costs no instance, and calls to it are bounded by the probes."""

from __future__ import annotations

import json
import math
import threading
from collections import Counter

import pytest
import sqlalchemy as sa

import daytwo
from daytwo import App, BreakerPolicy, Context, FakeClock, Retry
from daytwo.store import EventKind, events_after, step_attempts

INSTANCES = 500
OUTAGE = 20 * 60.0
CONCURRENCY = 8
POLICY = BreakerPolicy(failure_rate=50, window=20, minimum_calls=10, open_for=60, half_open_calls=3)


@pytest.mark.soak_on_postgresql
def test_a_twenty_minute_outage_fails_no_instance_and_only_probes_reach_it(
    fake_app: App, clock: FakeClock
) -> None:
    start = clock.now()
    down = (start + 10, start + 10 + OUTAGE)
    lock = threading.Lock()
    calls = {"dead": 0, "live": 0}
    fake_app.circuit_breaker("payments-api", POLICY)

    @fake_app.step(
        dependency="payments-api", retry=Retry(max_attempts=5, initial_delay=1, max_delay=30)
    )
    def charge(order: int) -> int:
        inside = down[0] <= clock.now() < down[1]
        with lock:
            calls["dead" if inside else "live"] += 1
        if inside:
            raise ConnectionError("payments-api: connection refused")
        return order

    @fake_app.workflow(name="order")
    def order(ctx: Context, number: int) -> int:
        ctx.sleep(20)  # every call starts inside the outage
        return charge(number)

    fake_app.start_many("order", list(range(INSTANCES)), ids=[f"o{n}" for n in range(INSTANCES)])
    with fake_app.worker(concurrency=CONCURRENCY) as worker:
        worker.drain(timeout=120)
        while clock.now() < down[1] + 120:
            clock.advance(20)
            worker.drain(timeout=120)
        worker.drain(timeout=120)

    statuses = {i.status for i in fake_app.list(limit=INSTANCES + 1)}
    assert statuses == {daytwo.InstanceStatus.SUCCEEDED}, "zero instances fail"
    assert calls["live"] == INSTANCES, "all complete after recovery, each charged once"
    # Before it opens the circuit sees minimum_calls failures (plus the calls already in
    # flight on the other threads); then each half-open period lets half_open_calls probes
    # through, one period per open_for during the outage (and the one that closes it).
    periods = math.ceil(OUTAGE / POLICY.open_for) + 1
    bound = POLICY.minimum_calls + (CONCURRENCY - 1) + POLICY.half_open_calls * periods
    assert POLICY.minimum_calls <= calls["dead"] <= bound
    assert fake_app.breakers.get("payments-api").state is daytwo.BreakerState.CLOSED
    with fake_app.store.read() as conn:
        kinds = [event.kind for event in events_after(conn, 0, limit=10_000)]
    opened = kinds.count(EventKind.CIRCUIT_OPENED)
    assert opened >= 2 and kinds.count(EventKind.CIRCUIT_HALF_OPENED) == opened
    assert kinds[-1] == EventKind.CIRCUIT_CLOSED and kinds.count(EventKind.CIRCUIT_CLOSED) == 1
    # No wait at the circuit spent an attempt, and failed probes do not count against
    # the retries: every failed call is one attempt row, and no instance came near its
    # max_attempts with counted ones.
    with fake_app.store.read() as conn:
        rows = conn.execute(sa.select(step_attempts.c.instance_id, step_attempts.c.error)).all()
    errors = [(instance_id, json.loads(error)) for instance_id, error in rows]
    assert len(errors) == calls["dead"]
    counted = Counter(instance_id for instance_id, error in errors if "circuit_probe" not in error)
    assert sum(counted.values()) <= POLICY.minimum_calls + CONCURRENCY - 1
    assert max(counted.values()) < 5
