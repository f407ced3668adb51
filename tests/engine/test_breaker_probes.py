"""Half-open probe permits are taken atomically and fenced by the lease token, like
dependency slots: only the permitted number of probes run, a probe whose worker died frees
its permit when its lease expires, and a stale run neither takes nor returns one."""

from __future__ import annotations

from daytwo import App, BreakerPolicy, BreakerState, CallOutcome, Context, FakeClock
from daytwo.store import EventKind, events_after

POLICY = BreakerPolicy(window=2, minimum_calls=2, open_for=30, half_open_calls=2)


def _app(app: App, count: int) -> None:
    app.circuit_breaker("pay", POLICY)

    @app.step(dependency="pay")
    def charge(n: int) -> int:
        return n

    @app.workflow(name="pay")
    def pay(ctx: Context, n: int) -> int:
        return charge(n)

    for n in range(count):
        app.start("pay", n, id=f"i{n}")


def _claim(app: App, instance_id: str, *, owner: str = "w", lease: float = 5.0) -> int:
    [row] = app.store.claim(
        owner,
        app.registry.pairs(),
        now=app.clock.now(),
        lease_seconds=lease,
        limit=1,
        instance_id=instance_id,
    )
    return int(row["lease_token"])


def _open(app: App, clock: FakeClock) -> None:
    breakers = app.flow.breakers
    for instance_id in ("i0", "i1"):
        token = _claim(app, instance_id)
        breakers.record("pay", POLICY, CallOutcome.FAILURE, instance_id, token, probe=False)
    assert breakers.snapshot(fresh=True)["pay"].state is BreakerState.OPEN
    clock.advance(31)


def test_only_the_permitted_probes_run_and_their_successes_close_it(
    fake_app: App, clock: FakeClock
) -> None:
    _app(fake_app, 5)
    _open(fake_app, clock)
    breakers = fake_app.flow.breakers
    tokens = {i: _claim(fake_app, i) for i in ("i2", "i3", "i4")}
    admitted = [breakers.admit("pay", POLICY, i, t) for i, t in tokens.items()]
    assert [(a.allowed, a.probe) for a in admitted] == [(True, True), (True, True), (False, False)]
    assert admitted[2].retry_at is not None and admitted[2].retry_at > clock.now() + 30
    # Asking again under the same lease keeps the permit (a replayed run), takes no other.
    assert breakers.admit("pay", POLICY, "i2", tokens["i2"]).probe
    for instance_id in ("i2", "i3"):
        breakers.record(
            "pay", POLICY, CallOutcome.SUCCESS, instance_id, tokens[instance_id], probe=True
        )
    assert breakers.snapshot(fresh=True)["pay"].state is BreakerState.CLOSED
    with fake_app.store.read() as conn:
        kinds = [e.kind for e in events_after(conn, 0)]
    assert kinds == [
        EventKind.CIRCUIT_OPENED,
        EventKind.CIRCUIT_HALF_OPENED,
        EventKind.CIRCUIT_CLOSED,
    ]


def test_a_probe_lost_with_its_worker_frees_its_permit_when_its_lease_expires(
    fake_app: App, clock: FakeClock
) -> None:
    _app(fake_app, 5)
    _open(fake_app, clock)
    breakers = fake_app.flow.breakers
    stale = {}
    for instance_id in ("i2", "i3"):  # both probes' worker dies inside the call
        stale[instance_id] = _claim(fake_app, instance_id, lease=2)
        assert breakers.admit("pay", POLICY, instance_id, stale[instance_id]).probe
    waiter = _claim(fake_app, "i4", lease=60)
    assert not breakers.admit("pay", POLICY, "i4", waiter).allowed
    clock.advance(3)  # their leases expire: the permits stop counting
    token = _claim(fake_app, "i2", owner="w2", lease=60)  # another worker takes i2 over
    assert breakers.admit("pay", POLICY, "i2", token).probe
    _claim(fake_app, "i3", owner="w2", lease=60)
    assert not breakers.admit("pay", POLICY, "i3", stale["i3"]).allowed, "a stale run"
    breakers.record("pay", POLICY, CallOutcome.FAILURE, "i2", stale["i2"], probe=True)
    assert breakers.snapshot(fresh=True)["pay"].probe_calls == 0, "a stale run's outcome"
    assert breakers.admit("pay", POLICY, "i4", waiter).probe, "i3's stale permit is free"


def test_failed_probes_reopen_it_for_another_open_for(fake_app: App, clock: FakeClock) -> None:
    _app(fake_app, 4)
    _open(fake_app, clock)
    breakers = fake_app.flow.breakers
    for instance_id in ("i2", "i3"):
        token = _claim(fake_app, instance_id)
        assert breakers.admit("pay", POLICY, instance_id, token).probe
        breakers.record("pay", POLICY, CallOutcome.FAILURE, instance_id, token, probe=True)
    view = breakers.snapshot(fresh=True)["pay"]
    assert view.state is BreakerState.OPEN and view.until == clock.now() + 30
