"""Dependency slots are fenced by the lease token like every other write of a run (issue 9,
item 34): a stale run, whose lease expired and was taken over, neither frees nor replaces
the slot of the run that took its instance over."""

from __future__ import annotations

import pytest

from daytwo import App, Context, FakeClock

DEPENDENCY = "payments-api"


def _pay_app(app: App) -> None:
    @app.step(dependency=DEPENDENCY)
    def charge(n: int) -> int:
        return n

    @app.workflow(name="pay")
    def pay(ctx: Context, n: int) -> int:
        return charge(n)


def _claim(app: App, owner: str, instance_id: str, *, lease: float = 1.0) -> int:
    """Lease ``instance_id`` as ``owner`` now; its lease token."""
    pairs = app.registry.pairs()
    [row] = app.store.claim(
        owner, pairs, now=app.clock.now(), lease_seconds=lease, limit=1, instance_id=instance_id
    )
    return int(row["lease_token"])


def _in_flight(app: App) -> int:
    [status] = app.flow.dependency_status()
    return int(status["in_flight"])


@pytest.mark.parametrize("limit", [1, 2])
def test_a_stale_run_cannot_free_or_replace_the_slot_of_the_run_that_took_over(
    fake_app: App, clock: FakeClock, limit: int
) -> None:
    app = fake_app
    _pay_app(app)
    app.flow.set_dependency_limit(DEPENDENCY, limit)
    app.start("pay", 1, id="a")
    stale = _claim(app, "starved-worker", "a")
    assert app.flow.acquire_slot(DEPENDENCY, limit, "a", stale)
    clock.advance(2)  # the starved worker's heartbeat missed its lease
    current = _claim(app, "healthy-worker", "a", lease=30)
    assert current > stale
    assert app.flow.acquire_slot(DEPENDENCY, limit, "a", current)
    assert _in_flight(app) == 1

    # The stale run wakes up inside the call, asks again for the slot, and ends it.
    assert not app.flow.acquire_slot(DEPENDENCY, limit, "a", stale)
    assert _in_flight(app) == 1, "the stale run replaced the live slot"
    app.flow.release_slot(DEPENDENCY, "a", stale)
    assert _in_flight(app) == 1, "the stale run freed the slot of the run that took over"

    # So the limit still holds for everyone else.
    others = [f"b{n}" for n in range(limit)]
    admitted = []
    for instance_id in others:
        app.start("pay", 2, id=instance_id)
        admitted.append(
            app.flow.acquire_slot(DEPENDENCY, limit, instance_id, _claim(app, "w", instance_id))
        )
    assert admitted == [True] * (limit - 1) + [False]
    app.flow.release_slot(DEPENDENCY, "a", current)
    assert _in_flight(app) == limit - 1
