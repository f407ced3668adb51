"""Pauses changed by another process: how soon they take effect, and that a resume always
wakes what it lifted (issue 9, items 1 and 3).

An operator runs ``daytwo pause``/``resume`` in another process: here a second ``App`` on
the same database, whose flow-control changes the worker's settings snapshot does not see
until it expires (``SETTINGS_TTL``, stretched to an hour so that only the mechanisms under
test can tell the worker).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _harness import wait_until

import daytwo
from daytwo import App, Context
from daytwo.store import _flow
from daytwo.store._flow import FlowControl, FlowSettings
from daytwo.worker import Worker


@pytest.fixture
def stale_snapshots(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers trust their settings snapshot for an hour, and PostgreSQL's change
    notifications come too late to help (as while the listener reconnects)."""
    monkeypatch.setattr(_flow, "SETTINGS_TTL", 3600.0)
    monkeypatch.setattr(_flow, "FOLLOWED_TTL", 3600.0)
    monkeypatch.setattr(Worker, "_settings_changed", Worker.wake)


@pytest.fixture
def operator(db_url: str) -> Iterator[App]:
    """What `daytwo pause --app` / `daytwo resume` in another process use."""
    other = App(db_url)
    _order_app(other, [])  # its names are known, as with --app
    yield other
    other.close()


def _order_app(app: App, charged: list[int]) -> None:
    @app.step
    def reserve(n: int) -> int:
        return n

    @app.step
    def charge_card(n: int) -> int:
        charged.append(n)
        return n

    @app.workflow(name="order")
    def order(ctx: Context, n: int) -> int:
        return charge_card(reserve(n))


def _held(app: App, instance_id: str) -> bool:
    instance = app.get(instance_id)
    return (instance.status, instance.state) == ("WAITING", "paused:charge_card")


@pytest.mark.usefixtures("stale_snapshots")
def test_a_resume_by_another_process_wakes_held_instances_for_good(app: App, operator: App) -> None:
    """Item 1: `daytwo resume --step` while a worker's snapshot still says "paused".

    The woken instances were re-paused by the worker's stale snapshot, with nothing left to
    wake them; an instance reaching the step after the resume was paused the same way.
    """
    charged: list[int] = []
    _order_app(app, charged)
    operator.flow.pause("order", "charge_card", reason="card processor down", by="ops")
    for n in range(3):
        app.start("order", n, id=f"o{n}")
    with app.worker(concurrency=4, poll_interval=0.02):
        wait_until(
            lambda: all(_held(app, f"o{n}") for n in range(3)),
            timeout=30, what="the instances to wait at the paused step",
        )  # fmt: skip
        assert "order" not in app.flow.settings().paused_starts
        assert ("order", "charge_card") in app.flow.settings().paused_steps
        assert operator.flow.resume("order", "charge_card") == 3
        app.start("order", 3, id="o3")  # reaches the step after the resume
        for n in range(4):
            assert app.result(f"o{n}", timeout=30) == n
    assert sorted(charged) == [0, 1, 2, 3]


def test_a_resume_between_the_look_and_the_suspension_still_wakes_the_instance(
    app: App, operator: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 1, the narrow race: the resume commits after the run saw the pause but before
    its suspension is durable, so the resume finds nobody to wake."""
    _order_app(app, [])
    operator.flow.pause("order", "charge_card", reason="card processor down", by="ops")
    read_settings = FlowControl.settings
    resumed: list[int] = []

    def settings(flow: FlowControl, *, fresh: bool = False) -> FlowSettings:
        seen = read_settings(flow, fresh=fresh)
        held = fresh and flow is app.flow and ("order", "charge_card") in seen.paused_steps
        if held and not resumed:
            resumed.append(operator.flow.resume("order", "charge_card"))
        return seen

    monkeypatch.setattr(FlowControl, "settings", settings)
    app.start("order", 7, id="raced")
    with app.worker(concurrency=1, poll_interval=0.02):
        assert app.result("raced", timeout=30) == 7
    assert resumed == [0], "the resume came before the instance was held"
    assert [t.to_state for t in app.transitions("raced")].count("paused:charge_card") == 1


def test_a_pause_still_in_force_keeps_holding(app: App, operator: App) -> None:
    """The look after the suspension wakes nothing while the pause holds."""
    charged: list[int] = []
    _order_app(app, charged)
    operator.flow.pause("order", "charge_card", reason="card processor down", by="ops")
    app.start("order", 1, id="held")
    with app.worker(concurrency=1, poll_interval=0.02) as worker:
        wait_until(lambda: _held(app, "held"), timeout=30, what="the instance to be held")
        assert not app.flow.wake_if_resumed("held", "order", "charge_card")
        worker.drain()
        assert _held(app, "held") and charged == []
    with pytest.raises(daytwo.InvalidInput, match="not paused"):
        operator.flow.resume("order", "reserve")


@pytest.mark.usefixtures("stale_snapshots")
def test_a_pause_of_new_starts_holds_from_the_moment_it_commits(app: App, operator: App) -> None:
    """Item 3: an instance started one second after `daytwo pause WORKFLOW` still ran.

    The worker's snapshot predates the pause; the claim itself must see it.
    """
    charged: list[int] = []
    _order_app(app, charged)
    app.start("order", 0, id="before")
    with app.worker(concurrency=2, poll_interval=0.02) as worker:
        assert app.result("before", timeout=30) == 0
        assert app.flow.settings().paused_starts == frozenset()  # the snapshot to come
        operator.flow.pause("order", reason="fraud spike", by="ops")
        app.start("order", 1, id="after")
        worker.drain()
        assert app.get("after").status == "RUNNABLE" and charged == [0]
        [pause] = operator.flow.list_pauses()
        assert pause["held"] == 1
        operator.flow.resume("order")
        assert app.result("after", timeout=30) == 1
    assert charged == [0, 1]
