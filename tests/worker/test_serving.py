"""Instances that no worker can run say so (issue 9, item 2).

Three ways in: a workflow declared with ``queue="orders"`` and a worker of the default
queue, a start into a queue nothing serves, and a ``version=`` bump while an instance of
the old version is in flight. Workers register what they serve; a due instance that no
live worker serves names the reason in ``Instance.waiting_for`` (``daytwo status``,
``daytwo list``, ``--json``), counts as stuck with it, and the worker (at start) and
``app.start`` warn.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from _cli import Invoke, clean_cli_environment, cli_invoker

from daytwo import App, Context, FakeClock, slo
from daytwo.slo._stuck import count_stuck
from daytwo.store._workers import ServedWorkflow, WorkerRegistration, coverage

__all__ = ["clean_cli_environment"]

QUEUE_REASON = "no worker serves queue 'orders' (live workers serve default)"


def _shop(app: App, version: str = "1.4.0") -> None:
    @app.step
    def charge_card(n: int) -> int:
        return n

    @app.workflow(name="order", version=version)
    def order(ctx: Context, n: int) -> int:
        ctx.sleep(60, name="cooling-off")
        return charge_card(n)

    @app.workflow(name="ship", queue="orders")
    def ship(ctx: Context, n: int) -> int:
        return n


def _warnings(caplog: pytest.LogCaptureFixture, logger: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger and r.levelno >= 30]


def test_a_workflow_in_a_queue_the_worker_does_not_serve(
    fake_app: App, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    _shop(fake_app)
    fake_app.start("ship", 1, id="s1")
    with caplog.at_level(logging.INFO), fake_app.worker(concurrency=2) as worker:
        [queue_warning, instance_warning] = _warnings(caplog, "daytwo.worker")
        assert "workflow ship 1 starts its instances in queue 'orders'" in queue_warning
        assert "start a worker with --queue orders" in queue_warning
        assert f"1 active instance(s) of ship 1 in queue 'orders' will not run: {QUEUE_REASON}" in (
            instance_warning
        )
        worker.drain()
        held = fake_app.get("s1")
        assert (held.status, held.held_by, held.waiting_for) == (
            "RUNNABLE", QUEUE_REASON, QUEUE_REASON
        )  # fmt: skip
        assert held.to_dict()["waiting_for"] == QUEUE_REASON
        assert [i.waiting_for for i in fake_app.list(workflow="ship")] == [QUEUE_REASON]
        assert count_stuck(fake_app.store, "ship", None, {}, clock.now()) == (1, 1)
        [stuck] = slo.stuck_report(fake_app.store, clock.now(), [], ["ship"])
        assert stuck.instance_id == "s1" and stuck.reason.endswith(
            f"not picked up by a worker; nothing will run it: {QUEUE_REASON}"
        )
        with fake_app.worker(queues=["orders"]) as orders_worker:
            orders_worker.drain()
    assert fake_app.get("s1").status == "SUCCEEDED"
    assert count_stuck(fake_app.store, "ship", None, {}, clock.now()) == (0, 0)


def test_a_start_into_a_queue_nothing_serves_is_stored_and_warned_about(
    fake_app: App, caplog: pytest.LogCaptureFixture
) -> None:
    _shop(fake_app)
    with fake_app.worker(concurrency=1) as worker:
        with caplog.at_level(logging.WARNING, logger="daytwo.app"):
            handle = fake_app.start("ship", 1, id="lost", queue="nosuchqueue")
            fake_app.start("ship", 2, id="lost-too", queue="nosuchqueue")
            fake_app.start("ship", 3, id="fine", queue="default")
        worker.drain()
        reason = "no worker serves queue 'nosuchqueue' (live workers serve default)"
        [warning] = _warnings(caplog, "daytwo.app")  # once while it lasts
        assert warning == (
            f"instance lost of ship 1 is stored in queue 'nosuchqueue', but {reason}; it runs "
            "once a worker serves it"
        )
        assert handle.created and handle.status().waiting_for == reason
        assert fake_app.get("fine").status == "SUCCEEDED"


def test_an_instance_of_a_version_the_new_code_no_longer_registers(
    db_url: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    old = App(db_url, clock=clock)
    _shop(old, "1.4.0")
    old.start("order", 1, id="in-flight")
    with old.worker(concurrency=1) as worker:
        worker.drain()
    assert old.get("in-flight").waiting_for.startswith("timer until")  # type: ignore[union-attr]
    old.close()

    new = App(db_url, clock=clock)
    _shop(new, "1.5.0")
    reason = "no worker serves order 1.4.0 (live workers serve 1.5.0)"
    with caplog.at_level(logging.WARNING), new.worker(concurrency=1) as worker:
        [warning] = [w for w in _warnings(caplog, "daytwo.worker") if "order 1.4.0" in w]
        assert f"1 active instance(s) of order 1.4.0 in queue 'default' will not run: {reason}" in (
            warning
        )
        assert "keep version '1.4.0' of order registered" in warning
        clock.advance(61)  # the timer fires: due, and nothing serves it
        worker.drain()
        instance = new.get("in-flight")
        assert instance.status == "WAITING" and instance.held_by == reason
        assert instance.waiting_for is not None
        assert instance.waiting_for.endswith(f"; due, but {reason}")
        assert count_stuck(new.store, "order", "1.4.0", {}, clock.now()) == (1, 1)
    new.close()


def test_a_worker_is_live_while_its_heartbeat_is_within_its_lease(
    fake_app: App, clock: FakeClock
) -> None:
    now = clock.now()
    registration = WorkerRegistration(
        id="elsewhere", host="other-host", pid=1, concurrency=4, started_at=now,
        heartbeat_at=now, lease_seconds=10.0, queues=("orders",),
        workflows=(ServedWorkflow("ship", "1", "orders"),),
    )  # fmt: skip
    fake_app.store.register_worker(registration.to_row())
    assert coverage(fake_app.store, now + 10).unserved("orders", "ship", "1") is None
    assert coverage(fake_app.store, now + 10.5).unserved("orders", "ship", "1") == (
        "no live worker (start one: daytwo worker MODULE:APP)"
    )
    older = {**registration.to_row(), "id": "old-daytwo", "queues": None, "workflows": None}
    fake_app.store.register_worker(older)  # registered nothing: it may serve anything
    assert coverage(fake_app.store, now).serves("nosuchqueue", "ship", "1")


@pytest.fixture
def invoke(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Invoke]:
    monkeypatch.syspath_prepend(str(__import__("pathlib").Path(__file__).parents[1]))
    yield cli_invoker(db_url)


def test_the_cli_says_why_nothing_runs_an_instance(invoke: Invoke) -> None:
    started = invoke("start", "greet", '{"name": "x"}', "--app", "cli_app:app",
                     "--queue", "nosuchqueue", "--id", "lost")  # fmt: skip
    assert started.exit_code == 0, started.output
    reason = "no live worker (start one: daytwo worker MODULE:APP)"
    assert f"note: {reason}; it is stored and runs once that changes" in started.stderr
    assert started.stderr.count(reason) == 1, started.stderr  # no log line besides the note
    status: dict[str, Any] = json.loads(invoke("status", "lost", "--json").stdout)
    assert status["waiting_for"] == reason and status["held_by"] == reason
    [listed] = json.loads(invoke("list", "--json").stdout)
    assert listed["waiting_for"] == reason
    table = invoke("status", "lost")
    assert "no live worker" in table.stdout
    stuck = json.loads(invoke("slo", "stuck", "--app", "cli_app:app", "--json").stdout)
    assert [s["instance_id"] for s in stuck] == ["lost"]
    assert stuck[0]["reason"].endswith(f"nothing will run it: {reason}")
    assert "cli_app" in sys.modules


def test_a_woken_instance_nothing_serves_is_not_said_to_wait_for_its_task(
    fake_app: App, clock: FakeClock
) -> None:
    @fake_app.workflow(name="approval", version="1")
    def approval(ctx: Context, _: Any) -> Any:
        return ctx.human_task("approve", assignee="alice")

    fake_app.start("approval", None, id="a1")
    with fake_app.worker(concurrency=1) as worker:
        worker.drain()
    [task] = fake_app.tasks.list()
    fake_app.tasks.complete(task.id, True, by="alice")  # woken, but no worker is left
    [stuck] = slo.stuck_report(fake_app.store, clock.now(), [], ["approval"])
    assert stuck.reason.startswith("runnable in state 'approve'"), stuck.reason
    assert "waiting for human task" not in stuck.reason
