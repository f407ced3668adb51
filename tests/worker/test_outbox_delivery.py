"""Delivering outbox events: in order, at least once, durable backoff, one deliverer per
subscriber across processes; SLO alerts to webhooks through it (both backends)."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Collection, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import pytest
from _shop import quietly
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import daytwo
from daytwo import slo
from daytwo.store import EventKind, OutboxEvent, SubscriberStart, append_event
from daytwo.worker import (
    InstanceDeadlines,
    OutboxDelivery,
    OutboxSubscriber,
    Scheduler,
    TaskDeadlines,
    delivery_backoff,
)

FIRED = EventKind.ALERT_FIRED
_names = itertools.count()


class Receiver:
    """A subscriber that fails while ``down`` (or for the attempts ``failures`` says)."""

    kinds: Collection[EventKind] | None = None

    def __init__(self, name: str | None = None, failures: list[bool] | None = None) -> None:
        self.name = name or f"receiver-{next(_names)}"
        self.down = False
        self.failures = list(failures or [])
        self.calls: list[int] = []
        self.handled: list[int] = []

    def handle(self, event: OutboxEvent) -> None:
        self.calls.append(event.seq)
        if self.down or (self.failures and self.failures.pop(0)):
            raise ConnectionError("receiver down")
        self.handled.append(event.seq)


def _append(app: daytwo.App, n: int, kind: EventKind = FIRED) -> list[int]:
    seqs = []
    for i in range(n):
        with app.store.write() as conn:
            seqs.append(append_event(conn, kind, f"k{i}", {"i": i}, app.clock.now()))
    return seqs


def _delivery(app: daytwo.App, receiver: OutboxSubscriber, **options: Any) -> OutboxDelivery:
    return OutboxDelivery(app.store, app.clock, receiver, **options)


def test_the_receiver_protocol_is_an_outbox_subscriber() -> None:
    assert isinstance(Receiver(), OutboxSubscriber)
    assert isinstance(slo.AlertSubscriber(slo.WebhookSink("http://127.0.0.1:1/")), OutboxSubscriber)


def test_events_are_delivered_in_order_and_the_position_is_stored(
    fake_app: daytwo.App,
) -> None:
    seqs = _append(fake_app, 5)
    receiver = Receiver()
    delivery = _delivery(fake_app, receiver, batch=2)
    delivery.run_once()
    assert receiver.handled == seqs
    state = delivery.state()
    assert state is not None and state.position == seqs[-1] and state.attempts == 0
    # A new deliverer (another process, after a restart) goes on from the stored position.
    delivery.close()
    more = _append(fake_app, 2)
    again = Receiver(receiver.name)
    _delivery(fake_app, again).run_once()
    assert again.handled == more


def test_only_the_kinds_a_subscriber_wants_reach_it(fake_app: daytwo.App) -> None:
    _append(fake_app, 2, EventKind.INSTANCE_ENDED_BADLY)
    wanted = _append(fake_app, 2, FIRED)
    receiver = Receiver()
    receiver.kinds = {FIRED}
    _delivery(fake_app, receiver).run_once()
    assert receiver.handled == wanted


def test_a_new_subscriber_starts_at_the_beginning_or_at_the_end(fake_app: daytwo.App) -> None:
    old = _append(fake_app, 2)
    everything, from_now = Receiver(), Receiver()
    late = _delivery(fake_app, from_now, start=SubscriberStart.END)
    late.run_once()
    new = _append(fake_app, 1)
    _delivery(fake_app, everything).run_once()
    late.run_once()
    assert everything.handled == old + new and from_now.handled == new


def test_a_failing_event_is_retried_with_capped_exponential_backoff_in_order(
    fake_app: daytwo.App, clock: daytwo.FakeClock
) -> None:
    """A receiver down for ten minutes gets every event, in order, once it is back."""
    seqs = _append(fake_app, 3)
    receiver = Receiver()
    receiver.down = True
    delivery = _delivery(fake_app, receiver, lease_seconds=3600)
    delays = []
    for attempt in range(1, 12):
        delivery.run_once()
        state = delivery.state()
        assert state is not None and state.attempts == attempt and state.position == 0
        assert state.last_error == "ConnectionError: receiver down"
        assert state.next_attempt_at is not None
        delays.append(state.next_attempt_at - clock.now())
        calls = len(receiver.calls)
        delivery.run_once()  # not due yet: nothing is tried
        assert len(receiver.calls) == calls
        clock.advance(delays[-1])
    assert delays == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    assert set(receiver.calls) == {seqs[0]}  # nothing after the failing event was tried
    receiver.down = False
    delivery.run_once()
    assert receiver.handled == seqs
    state = delivery.state()
    assert state is not None and (state.attempts, state.next_attempt_at, state.last_error) == (
        0, None, None
    )  # fmt: skip


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    failures=st.lists(st.booleans(), max_size=20),
    events=st.integers(min_value=1, max_value=6),
    batch=st.integers(min_value=1, max_value=4),
)
def test_whatever_fails_every_event_is_handled_once_in_order(
    fake_app: daytwo.App, clock: daytwo.FakeClock, failures: list[bool], events: int, batch: int
) -> None:
    receiver = Receiver(failures=failures)
    delivery = _delivery(fake_app, receiver, start=SubscriberStart.END, batch=batch)
    delivery.run_once()  # registers at the end: earlier examples' events are not its own
    seqs = _append(fake_app, events)
    for _ in range(len(failures) + events + 1):
        delivery.run_once()
        clock.advance(delivery.max_backoff)
    assert receiver.handled == seqs
    # Every call was the oldest event not yet handled.
    assert receiver.calls == sorted(receiver.calls)


@given(st.integers(min_value=1, max_value=200))
def test_the_backoff_doubles_up_to_its_cap(attempts: int) -> None:
    delay = delivery_backoff(attempts)
    assert 1 <= delay <= 300
    assert delivery_backoff(attempts + 1) == min(300, 2 * delay)


def test_one_deliverer_per_subscriber_at_a_time(
    fake_app: daytwo.App, clock: daytwo.FakeClock
) -> None:
    receiver = Receiver()
    first = _delivery(fake_app, receiver, lease_seconds=10)
    second = _delivery(fake_app, receiver, lease_seconds=10)
    seqs = _append(fake_app, 2)
    first.run_once()
    second.run_once()
    assert (first.delivered, second.delivered) == (2, 0)
    more = _append(fake_app, 1)
    clock.advance(11)  # the first holder died: its lease runs out
    second.run_once()
    assert second.delivered == 1 and receiver.handled == seqs + more
    second.close()  # a stopping worker gives the lease up: another takes over at once
    last = _append(fake_app, 1)
    first.run_once()
    assert receiver.handled == seqs + more + last


def test_a_deliverer_that_lost_its_lease_cannot_move_the_position_back(
    fake_app: daytwo.App,
) -> None:
    seqs = _append(fake_app, 3)
    receiver = Receiver()
    _delivery(fake_app, receiver).run_once()
    from daytwo.store import advance_position

    with fake_app.store.write() as conn:
        assert not advance_position(conn, receiver.name, 0, seqs[0], 0.0)
    state = _delivery(fake_app, receiver).state()
    assert state is not None and state.position == seqs[-1]


def test_bad_subscriber_names_are_refused(fake_app: daytwo.App) -> None:
    with pytest.raises(ValueError, match="name of 1 to 100 characters"):
        _delivery(fake_app, Receiver(name="x" * 101))


# -- SLO alerts to webhooks -------------------------------------------------------------


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, Any], str | None]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.received.append(
            (json.loads(self.rfile.read(length)), self.headers["X-Daytwo-Event-Id"])
        )
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server:
    """A receiver on a fixed loopback port that is really down (nothing listens) until
    :meth:`start`."""

    def __init__(self) -> None:
        probe = HTTPServer(("127.0.0.1", 0), _Hook)
        self.port = probe.server_port
        probe.server_close()
        self.server: HTTPServer | None = None

    def start(self) -> None:
        self.server = HTTPServer(("127.0.0.1", self.port), _Hook)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@pytest.fixture
def hook() -> Iterator[_Server]:
    _Hook.received = []
    server = _Server()
    yield server
    server.stop()


def _objective() -> slo.Objective:
    return slo.Objective(
        name="plain-ok", workflow="plain", objective=0.99, sli=slo.Success(),
        alerting=slo.AlertPolicy(min_events=1),
    )  # fmt: skip


def test_webhook_alerts_carry_the_event_id_and_survive_a_receiver_that_was_down(
    shop: daytwo.App, clock: daytwo.FakeClock, hook: _Server
) -> None:
    sink = slo.WebhookSink(f"http://127.0.0.1:{hook.port}/alerts?token=secret", timeout=2)
    assert "secret" not in sink.subscriber_name and "127.0.0.1" in sink.subscriber_name
    evaluator = slo.Evaluator.for_app(shop, [_objective()], sinks=[sink, slo.LogSink()])
    quietly(shop, "plain", True)
    [status] = evaluator.evaluate()  # the receiver is not listening yet
    assert status.alert_state == "firing (page, ticket)" and _Hook.received == []
    [delivery] = evaluator.deliveries
    state = delivery.state()
    assert state is not None and state.attempts == 1 and state.last_error is not None
    assert "secret" not in state.last_error
    hook.start()
    delivery.run_once()  # backoff not over: nothing yet
    assert _Hook.received == []
    clock.advance(1)
    delivery.run_once()
    bodies = [body for body, _ in _Hook.received]
    assert [(b["event"], b["alert"]["severity"]) for b in bodies] == [
        ("firing", "page"), ("firing", "ticket")
    ]  # fmt: skip
    assert [str(b["event_id"]) for b in bodies] == [header for _, header in _Hook.received]
    assert bodies[0]["event_id"] < bodies[1]["event_id"]
    clock.advance(4 * 86400)
    evaluator.evaluate()  # resolved: delivered right after the commit
    assert [b["event"] for b, _ in _Hook.received[2:]] == ["resolved", "resolved"]


def test_a_worker_runs_the_deliveries_of_the_sinks_added_to_the_app(
    fake_app: daytwo.App,
) -> None:
    slo.register(fake_app, slo.Objective(name="w-ok", workflow="w", objective=0.99,
                                         sli=slo.Success()))  # fmt: skip
    slo.add_alert_sinks(fake_app, slo.WebhookSink("http://127.0.0.1:9/hook"))
    # What daytwo worker runs too, after the core services: task deadlines, the
    # scheduler, instance deadlines.
    deadlines, scheduler, instance_deadlines, evaluator, delivery = fake_app.worker().services
    assert isinstance(deadlines, TaskDeadlines) and isinstance(scheduler, Scheduler)
    assert isinstance(instance_deadlines, InstanceDeadlines)
    assert isinstance(evaluator, slo.EvaluatorService)
    assert isinstance(delivery, OutboxDelivery) and delivery.name.startswith("outbox:webhook:")
    assert delivery is evaluator.evaluator.deliveries[0]
    with pytest.raises(daytwo.InvalidInput, match="not an alert sink"):
        slo.add_alert_sinks(fake_app, object())  # type: ignore[arg-type]


def test_an_alert_event_from_another_release_still_delivers() -> None:
    """Fields an old event lacks are None and fields it has that are gone are dropped, so
    an old event never blocks the webhook behind it."""
    from daytwo.slo._delivery import alert_of

    payload = {"id": 1, "dedup_key": "slo/x/page", "objective": "x", "definition_version": 1,
               "severity": "page", "status": "firing", "labels": {}, "summary": "s",
               "detail": {}, "fired_at": 1.0, "resolved_at": None, "gone": "field"}  # fmt: skip
    alert = alert_of(OutboxEvent(7, FIRED, "slo/x/page", payload, 1.0))
    assert alert.runbook is None and alert.dedup_key == "slo/x/page"


def test_a_long_webhook_host_still_makes_a_valid_subscriber_name() -> None:
    sink = slo.WebhookSink(f"https://{'h' * 200}.example/hook")
    assert len(sink.subscriber_name) <= 100
