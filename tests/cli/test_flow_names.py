"""Flow-control commands refuse names that nothing has (issue 9, item 14).

`pause`, `pause --step`, `queues set` and `dependencies set` accepted any name, so a typo
paused or limited nothing without a word. Names are known from the calling app's
registry, the registrations of workers, the stored settings and the instances; an unknown
one is refused with the known ones unless forced. One check, in ``FlowControl``, for
Python and the CLI.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from _cli import Invoke, clean_cli_environment, cli_invoker

import daytwo
from daytwo import App, Context

__all__ = ["clean_cli_environment"]


def _shop(app: App) -> None:
    @app.step
    def reserve(n: int) -> int:
        return n

    @app.step(dependency="payments-api")
    def charge_card(n: int) -> int:
        return n

    @app.workflow(name="order", queue="orders")
    def order(ctx: Context, n: int) -> int:
        reserve(n)
        ctx.wait_for_signal("go")
        return charge_card(n)


@pytest.fixture
def client(db_url: str) -> Iterator[App]:
    """An app without the code, like `daytwo pause` without --app."""
    other = App(db_url)
    yield other
    other.close()


def test_unknown_names_are_refused_with_the_known_ones(fake_app: App) -> None:
    _shop(fake_app)
    flow = fake_app.flow
    refusals: dict[str, Callable[[], object]] = {
        "workflow named 'ordr' is known (known: order)": lambda: flow.pause(
            "ordr", reason=None, by="ops"
        ),
        "step named 'charge' is known of workflow 'order' (known: charge_card, reserve)": (
            lambda: flow.pause("order", "charge", reason=None, by="ops")
        ),
        "queue named 'order' is known (known: default, orders)": lambda: flow.set_queue(
            "order", concurrency=2
        ),
        "dependency named 'payment-api' is known (known: payments-api)": (
            lambda: flow.set_dependency_limit("payment-api", 3)
        ),
    }
    for message, change in refusals.items():
        with pytest.raises(daytwo.InvalidInput, match="--force, force=True") as refused:
            change()
        assert message in str(refused.value)
    assert flow.list_pauses() == [] and flow.dependency_status() == []
    assert {q["name"] for q in flow.queue_status()} == set()

    flow.pause("order", "charge_card", reason=None, by="ops")
    flow.set_queue("orders", concurrency=2)
    flow.set_dependency_limit("payments-api", 3)
    flow.pause("ordr", reason="its workers start tomorrow", by="ops", force=True)
    flow.set_queue("order", concurrency=2, force=True)
    flow.set_dependency_limit("payment-api", 3, force=True)
    assert {(p["workflow"], p["step"]) for p in flow.list_pauses()} == {
        ("order", "charge_card"), ("ordr", ""),
    }  # fmt: skip
    flow.set_dependency_limit("nobody-calls-this", None)  # removing a limit needs no check


def test_names_are_known_from_worker_registrations(fake_app: App, client: App) -> None:
    _shop(fake_app)
    with pytest.raises(daytwo.InvalidInput, match="known: none"):
        client.flow.pause("order", reason=None, by="ops")
    with fake_app.worker(concurrency=1, queues=["orders", "bulk"]):
        pass  # registered, then stopped: its code's names stay known
    client.flow.pause("order", "charge_card", reason=None, by="ops")
    client.flow.set_queue("bulk", concurrency=1)
    client.flow.set_dependency_limit("payments-api", 2)
    with pytest.raises(daytwo.InvalidInput, match=r"known: charge_card, reserve\)"):
        client.flow.pause("order", "ship", reason=None, by="ops")


def test_names_are_known_from_instances_and_their_history(fake_app: App, client: App) -> None:
    _shop(fake_app)
    fake_app.start("order", 1, id="o1", queue="special")
    client.flow.pause("order", reason=None, by="ops")  # a workflow with instances
    assert fake_app.get("o1").waiting_for == "new starts of order are paused (daytwo resume order)"
    client.flow.resume("order")
    fake_app.flow.invalidate()  # its snapshot would expire within a second
    client.flow.set_queue("special", concurrency=1)  # a queue with runnable instances
    with pytest.raises(daytwo.InvalidInput, match=r"step named 'reserve' .*\(known: none\)"):
        client.flow.pause("order", "reserve", reason=None, by="ops")
    with fake_app.worker(concurrency=1, queues=["special"]) as worker:
        worker.drain()
    assert fake_app.get("o1").wait_kind == "signal"  # reserve is in its history now
    with fake_app.store.write() as conn:  # as if no worker had registered its code
        conn.exec_driver_sql("DELETE FROM workers")
    client.flow.pause("order", "reserve", reason=None, by="ops")


def test_the_cli_refuses_unknown_names_unless_forced(db_url: str, fake_app: App) -> None:
    _shop(fake_app)
    fake_app.start("order", 1, id="o1")
    invoke: Invoke = cli_invoker(db_url)
    refused = invoke("pause", "ordr")
    assert refused.exit_code == 2, refused.output
    assert "no workflow named 'ordr' is known (known: order)" in refused.stderr
    assert invoke("pause", "ordr", "--force").exit_code == 0
    refused = invoke("dependencies", "set", "payment-api", "--concurrency", "2")
    assert refused.exit_code == 2 and "known: none" in refused.stderr
    known = invoke("dependencies", "set", "payments-api", "--concurrency", "2",
                   "--app", "cli_app:app")  # fmt: skip
    assert known.exit_code == 2, known.output  # cli_app has no such dependency either
    refused = invoke("queues", "set", "ordrs", "--concurrency", "2")
    assert refused.exit_code == 2 and "known: default, orders" in refused.stderr
    assert invoke("queues", "set", "orders", "--concurrency", "2").exit_code == 0
