"""Restart and fork: a new instance made from an ended one, linked to it both ways; a fork
reuses the recorded results before its position; both audited, both refused on an active
instance, bad positions refused in one line with nothing changed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
import sqlalchemy as sa

import daytwo
from daytwo import AuditOutcome, LinkKind, OperatorAction

CALLS: Counter[tuple[str, str]] = Counter()


def _shop(app: daytwo.App) -> daytwo.App:
    @app.step()
    def reserve(n: int) -> str:
        CALLS[(daytwo.current_step().idempotency_key, "reserve")] += 1
        return f"r{n}"

    @app.step()
    def charge(n: int) -> str:
        CALLS[(daytwo.current_step().idempotency_key, "charge")] += 1
        return f"c{n}"

    @app.workflow(name="order")
    def order(ctx: daytwo.Context, n: int) -> dict[str, object]:
        reservation = reserve(n)
        approval = ctx.wait_for_signal("approve")
        return {"reservation": reservation, "approval": approval, "charge": charge(n)}

    return app


def _ended(app: daytwo.App, instance_id: str, n: int = 1) -> None:
    app.start("order", n, id=instance_id)
    with app.worker(concurrency=1, poll_interval=0.05) as worker:
        worker.drain()
        app.signal(instance_id, "approve", {"by": "ann"})
        worker.drain()
    assert app.get(instance_id).status is daytwo.InstanceStatus.SUCCEEDED


def _run(app: daytwo.App, *signal_ids: str) -> None:
    with app.worker(concurrency=1, poll_interval=0.05) as worker:
        worker.drain()
        for instance_id in signal_ids:
            app.signal(instance_id, "approve", {"by": "bob"})
        worker.drain()


def test_a_restart_runs_the_same_input_again_and_links_both_ways(fake_app: daytwo.App) -> None:
    app = _shop(fake_app)
    _ended(app, "o-1", 7)
    handle = app.restart("o-1", reason="bad data fixed", by="alice")
    assert (handle.id, handle.created) == ("o-1-restart-1", True)
    _run(app, handle.id)
    new = app.get(handle.id)
    assert new.status is daytwo.InstanceStatus.SUCCEEDED
    assert new.input == 7
    assert [e.kind for e in app.history(handle.id)] == ["step", "signal", "step"]
    assert [link.describe() for link in new.links or ()] == ["restart of o-1"]
    assert [link.describe() for link in app.get("o-1").links or ()] == [
        "restarted as o-1-restart-1"
    ]
    assert app.list()[0].links is None  # listings do not read links
    [record] = app.client.audit.list(action=OperatorAction.RESTART)
    assert (record.actor, record.target, record.reason, record.outcome) == (
        "alice", "o-1", "bad data fixed", AuditOutcome.DONE,
    )  # fmt: skip
    assert app.restart("o-1").id == "o-1-restart-2"  # the default id counts restarts


def test_a_restart_with_a_given_id_is_idempotent(fake_app: daytwo.App) -> None:
    app = _shop(fake_app)
    _ended(app, "o-1")
    first = app.restart("o-1", new_id="o-1-again")
    second = app.restart("o-1", new_id="o-1-again")
    assert (first.created, second.created) == (True, False)
    with app.store.read() as conn:
        links = conn.execute(sa.text("SELECT count(*) FROM instance_links")).scalar_one()
    assert links == 1


def test_restart_and_fork_refuse_an_active_instance(fake_app: daytwo.App) -> None:
    app = _shop(fake_app)
    app.start("order", 1, id="o-1")
    actions: list[Callable[[], object]] = [lambda: app.restart("o-1"), lambda: app.fork("o-1", 1)]
    for action in actions:
        with pytest.raises(daytwo.NotRunnable, match=r"is RUNNABLE .* cancel, abort or terminate"):
            action()
    assert [i.id for i in app.list()] == ["o-1"]
    refused = app.client.audit.list(outcome=AuditOutcome.REFUSED)
    assert {r.action for r in refused} == {OperatorAction.RESTART, OperatorAction.FORK}
    with pytest.raises(daytwo.InstanceNotFound):
        app.restart("nope")


def test_a_fork_reuses_the_results_before_its_position(fake_app: daytwo.App) -> None:
    app = _shop(fake_app)
    _ended(app, "o-1", 3)
    CALLS.clear()
    handle = app.fork("o-1", 2, by="alice")  # reserve and the signal reused; charge runs
    assert handle.id == "o-1-fork-1"
    _run(app)  # no signal needed: the approval is a copied row
    new = app.get(handle.id)
    assert new.status is daytwo.InstanceStatus.SUCCEEDED, new.error
    assert new.output == {"reservation": "r3", "approval": {"by": "ann"}, "charge": "c3"}
    assert CALLS == {("o-1-fork-1:2", "charge"): 1}  # reserve was not executed again
    events = app.history(handle.id)
    assert [(e.kind, e.idempotency_key) for e in events] == [
        ("step", "o-1:0"),  # copied: the key of the call that produced it
        ("signal", None),
        ("step", "o-1-fork-1:2"),
    ]
    assert app.attempts(handle.id) == []
    [link] = new.links or ()
    assert (link.kind, link.other, link.position) == (LinkKind.FORKED_FROM, "o-1", 2)
    assert link.describe() == "fork of o-1 at position 2"
    [record] = app.client.audit.list(action=OperatorAction.FORK)
    assert record.params == {"position": 2}


def test_a_fork_at_zero_is_a_restart_and_at_the_end_replays_everything(
    fake_app: daytwo.App,
) -> None:
    app = _shop(fake_app)
    _ended(app, "o-1")
    CALLS.clear()
    at_end = app.fork("o-1", 3)
    _run(app)
    assert app.get(at_end.id).status is daytwo.InstanceStatus.SUCCEEDED
    assert CALLS == {}
    at_start = app.fork("o-1", 0)
    _run(app, at_start.id)
    assert app.get(at_start.id).status is daytwo.InstanceStatus.SUCCEEDED
    assert sorted(name for _, name in CALLS) == ["charge", "reserve"]


@pytest.mark.parametrize(
    ("position", "message"),
    [
        (4, "position 4 is past the history of 'o-1', which has 3 operations; fork at 0..3"),
        (-1, "a fork position is a history position, 0 or more"),
    ],
)
def test_a_bad_fork_position_is_refused_in_one_line(
    fake_app: daytwo.App, position: int, message: str
) -> None:
    app = _shop(fake_app)
    _ended(app, "o-1")
    with pytest.raises(daytwo.InvalidInput, match=message) as refused:
        app.fork("o-1", position)
    assert "\n" not in str(refused.value)
    assert [i.id for i in app.list()] == ["o-1"]
    [record] = app.client.audit.list(action=OperatorAction.FORK)
    assert record.outcome is AuditOutcome.REFUSED


def test_a_fork_inside_the_compensation_is_refused(fake_app: daytwo.App) -> None:
    app = _shop(fake_app)

    @app.step()
    def book(n: int) -> int:
        return n

    @book.compensate
    def unbook(n: int, booked: int) -> None:
        return None

    @app.workflow(name="trip")
    def trip(ctx: daytwo.Context, n: int) -> None:
        book(n)
        raise daytwo.Reject("no seats")

    app.start("trip", 1, id="t-1")
    _run(app)
    kinds = [e.kind for e in app.history("t-1")]
    assert kinds == ["step", "compensation"]
    with pytest.raises(daytwo.InvalidInput, match=r"inside the ending of 't-1'.*fork at 0\.\.1"):
        app.fork("t-1", 2)
    assert app.fork("t-1", 1).created
