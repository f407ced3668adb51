"""The app's serializer decodes every user value on every path (issue 10, item 5).

A custom serializer that stores a Decimal and a dataclass as tagged JSON: what a workflow
returns comes back as the same objects from ``start`` + a worker + ``result``, from
``App.run`` on a new instance and on an existing id, and in the records (input, output,
step arguments and results, human-task payloads and results).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import daytwo
from daytwo import App


@dataclass(frozen=True)
class Money:
    amount: Decimal
    currency: str


class TaggedSerializer:
    """JSON with tagged Decimals and Money (what JsonSerializer refuses)."""

    def dumps(self, value: Any, what: str) -> str:
        try:
            return json.dumps(value, default=self._tag, separators=(",", ":"))
        except TypeError as exc:
            raise daytwo.SerializationError(f"{what} cannot be stored: {exc}") from exc

    def loads(self, text: str) -> Any:
        return json.loads(text, object_hook=self._untag)

    @staticmethod
    def _tag(value: Any) -> Any:
        if isinstance(value, Money):
            return {"$money": [str(value.amount), value.currency]}
        if isinstance(value, Decimal):
            return {"$decimal": str(value)}
        raise TypeError(f"{type(value).__name__} is not tagged")

    @staticmethod
    def _untag(obj: dict[str, Any]) -> Any:
        if "$money" in obj:
            amount, currency = obj["$money"]
            return Money(Decimal(amount), currency)
        if "$decimal" in obj:
            return Decimal(obj["$decimal"])
        return obj


PRICE = Money(Decimal("19.99"), "EUR")
TOTAL = Money(Decimal("21.79"), "EUR")


def _priced_app(db_url: str) -> App:
    app = App(db_url, serializer=TaggedSerializer())

    @app.step
    def add_tax(price: Money, rate: Decimal) -> Money:
        assert isinstance(price, Money) and isinstance(rate, Decimal)
        return Money((price.amount * (1 + rate)).quantize(Decimal("0.01")), price.currency)

    @app.workflow(name="price")
    def price(ctx: daytwo.Context, item: Any) -> Money:
        return add_tax(item, Decimal("0.09"))

    @app.workflow(name="approved-price")
    def approved_price(ctx: daytwo.Context, item: Any) -> Any:
        return ctx.human_task("approve", payload={"price": item})

    return app


def test_start_worker_result_decode_with_the_serializer(db_url: str) -> None:
    app = _priced_app(db_url)
    try:
        handle = app.start("price", PRICE)
        with app.worker(concurrency=1, poll_interval=0.02):
            assert handle.result(timeout=30) == TOTAL
        instance = app.get(handle.id)
        assert (instance.input, instance.output) == (PRICE, TOTAL)
        [step] = app.history(handle.id)
        assert step.args == [[PRICE, Decimal("0.09")], {}] and step.result == TOTAL
        assert app.list(workflow="price")[0].output == TOTAL
    finally:
        app.close()


def test_app_run_decodes_alike_on_both_paths(db_url: str) -> None:
    """A new instance (its result from the run) and an existing id (from the stored row)."""
    app = _priced_app(db_url)
    try:
        assert app.run("price", PRICE, id="order-1") == TOTAL
        assert app.run("price", PRICE, id="order-1") == TOTAL
        # Started by a worker-less start, finished by App.run helping it along.
        app.start("price", PRICE, id="order-2")
        assert app.run("price", PRICE, id="order-2") == TOTAL
    finally:
        app.close()


def test_human_task_payload_and_result_decode_with_the_serializer(db_url: str) -> None:
    app = _priced_app(db_url)
    try:
        handle = app.start("approved-price", PRICE)
        with app.worker(concurrency=1, poll_interval=0.02):
            task = _first_open_task(app)
            assert task.payload == {"price": PRICE}
            app.tasks.complete(task.id, TOTAL, by="alice")
            assert handle.result(timeout=30) == TOTAL
        assert app.tasks.get(task.id).result == TOTAL
    finally:
        app.close()


def _first_open_task(app: App) -> daytwo.HumanTask:
    from _harness import wait_until

    wait_until(lambda: bool(app.tasks.list()), timeout=30, what="the task to open")
    return app.tasks.list()[0]
