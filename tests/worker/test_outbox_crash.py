"""The outbox's done-when test: SIGKILL between commit and delivery, a receiver that is
down for a while, and still every alert event arrives, none twice after deduplication.

A real worker process (:mod:`workloads.outbox_app`) evaluates flapping objectives and
delivers their alert events to a real HTTP receiver on loopback, which deduplicates on the
event id. The test SIGKILLs the worker at random moments, while the receiver is down (so
committed events wait undelivered) and from inside the receiver after it has taken a POST
but before it answers (so the worker dies between delivery and moving its position), and
restarts it each time. At the end the receiver's deduplicated events are exactly the alert
events in the outbox, in their order.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from _harness import TESTS_DIR, free_port, wait_until, worker_command
from workloads.outbox_app import FLAPS, WEBHOOK_ENV, build_app, flap_workflow

import daytwo
from daytwo import slo
from daytwo.slo import ALERT_KINDS
from daytwo.store import EventKind, OutboxEvent, events_after, subscriber_position

#: Scenario rounds; each ends with one kind of SIGKILL and a restart.
ROUNDS = 9
#: Seed of the schedule (``$DAYTWO_OUTBOX_SEED`` explores others).
SEED = int(os.environ.get("DAYTWO_OUTBOX_SEED", "20261201"))


class DedupReceiver:
    """A webhook receiver on a fixed loopback port that can be stopped and restarted.

    Records every POST's event id in arrival order (repeats included) and each event's
    body once. ``kill_next`` (a pid) is SIGKILLed when the next POST has been read, before
    it is answered: the sender dies between handing the event over and recording it.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.arrivals: list[int] = []
        self.bodies: dict[int, dict[str, Any]] = {}
        self.kill_next: int | None = None
        self.killed_in_delivery = 0
        self._server: HTTPServer | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/alerts"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                event_id = int(self.headers["X-Daytwo-Event-Id"])
                assert body["event_id"] == event_id
                with receiver._lock:
                    receiver.arrivals.append(event_id)
                    receiver.bodies.setdefault(event_id, body)
                    victim, receiver.kill_next = receiver.kill_next, None
                if victim is not None:
                    os.kill(victim, signal.SIGKILL)
                    receiver.killed_in_delivery += 1
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = HTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def unique(self) -> list[int]:
        """Event ids in order of first arrival (what a deduplicating receiver keeps)."""
        with self._lock:
            return list(dict.fromkeys(self.arrivals))


class Workers:
    """The one worker process of the scenario, restarted after each kill."""

    def __init__(self, database: str, webhook: str, directory: Path) -> None:
        self.environment = {
            **os.environ,
            "DAYTWO_DATABASE": database,
            WEBHOOK_ENV: webhook,
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(TESTS_DIR), os.environ.get("PYTHONPATH", "")) if p
            ),
            "PYTHONUNBUFFERED": "1",
        }
        self.directory = directory
        self.started: list[subprocess.Popen[bytes]] = []

    @property
    def current(self) -> subprocess.Popen[bytes]:
        return self.started[-1]

    def spawn(self, command: list[str] | None = None) -> None:
        log = self.directory / f"worker-{len(self.started)}.log"
        with log.open("wb") as out:
            self.started.append(
                subprocess.Popen(
                    command or [sys.executable, "-m", "workloads.outbox_app"],
                    env=self.environment,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )

    def kill(self) -> None:
        if self.current.poll() is None:
            self.current.send_signal(signal.SIGKILL)
        self.current.wait(timeout=30)

    def kill_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)

    def outputs(self) -> str:
        logs = sorted(self.directory.glob("worker-*.log"))
        return "\n".join(f"--- {p.name} ---\n{p.read_text(errors='replace')[-3000:]}" for p in logs)


@pytest.fixture
def receiver() -> Iterator[DedupReceiver]:
    server = DedupReceiver()
    yield server
    server.stop()


def _alert_events(app: daytwo.App) -> list[OutboxEvent]:
    with app.store.read() as conn:
        return events_after(conn, 0, ALERT_KINDS, limit=100_000)


def _undelivered(app: daytwo.App) -> int:
    """Alert events committed after the webhook subscriber's position."""
    with app.store.read() as conn:
        # Only the webhook's (``daytwo worker`` also registers the incidents package's).
        positions = [
            p for p in _subscribers(conn) if p is not None and p.name.startswith("webhook:")
        ]
        if not positions:
            return 0
        return len(events_after(conn, positions[0].position, ALERT_KINDS, limit=100_000))


def _subscribers(conn: Any) -> list[Any]:
    from daytwo.store._schema import outbox_subscribers

    names = [row[0] for row in conn.execute(outbox_subscribers.select().with_only_columns(
        outbox_subscribers.c.name))]  # fmt: skip
    return [subscriber_position(conn, name) for name in names]


def _run_some(app: daytwo.App, rng: random.Random, seconds: float) -> None:
    """For ``seconds``, keep a random half of the workflows ending instances (their no-data
    alerts resolve) while the others are quiet (theirs fire after a second)."""
    alive = rng.sample(range(FLAPS), FLAPS // 2)
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        for index in alive:
            app.run(flap_workflow(index), None)
        time.sleep(0.25)


@pytest.mark.backends("sqlite")  # the delivery does not depend on the backend
def test_daytwo_worker_delivers_to_a_webhook_added_to_the_app_once_it_is_up(
    db_url: str, tmp_path: Path, receiver: DedupReceiver
) -> None:
    """The CLI path: ``daytwo worker`` runs the alert deliveries of the app's sinks and
    retries them until the receiver listens."""
    app = build_app(db_url)
    workers = Workers(db_url, receiver.url, tmp_path)
    command = [*worker_command("workloads.outbox_app:app"), "--slo-interval", "1"]
    try:
        workers.spawn(command)
        wait_until(lambda: _undelivered(app) >= FLAPS, timeout=60, what="undelivered alerts")
        receiver.start()
        wait_until(lambda: _undelivered(app) == 0, timeout=60, what="the alerts delivered")
        workers.current.send_signal(signal.SIGTERM)
        assert workers.current.wait(timeout=30) == 0, workers.outputs()
    finally:
        workers.kill_all()
    assert receiver.unique() == [event.seq for event in _alert_events(app)]
    app.close()


# Two minutes of real processes killed at random points: on PostgreSQL it is a soak test
# (the SQLite variant keeps the guarantee in the default run).
@pytest.mark.soak_on_postgresql
def test_sigkill_between_commit_and_delivery_and_a_receiver_down_lose_no_alert(
    db_url: str, tmp_path: Path, receiver: DedupReceiver
) -> None:
    rng = random.Random(SEED)
    app = build_app(db_url)
    workers = Workers(db_url, receiver.url, tmp_path)
    receiver.start()
    kills = {"random": 0, "receiver-down": 0, "in-delivery": 0}
    waiting_at_kill = 0
    try:
        workers.spawn()
        wait_until(lambda: bool(_alert_events(app)), timeout=60, what="the first alerts")
        for round_number in range(ROUNDS):
            kind = ("random", "receiver-down", "in-delivery")[round_number % 3]
            if kind == "random":
                _run_some(app, rng, rng.uniform(0.5, 2.5))
            elif kind == "receiver-down":
                receiver.stop()
                _run_some(app, rng, rng.uniform(1.5, 3.0))
                # Events committed and not delivered: the kill comes between the two.
                wait_until(lambda: _undelivered(app) > 0, timeout=30, what="undelivered events")
                waiting_at_kill += _undelivered(app)
            else:
                receiver.kill_next = workers.current.pid
                _run_some(app, rng, 0.5)
                wait_until(
                    lambda: workers.current.poll() is not None,
                    timeout=60,
                    what="the receiver to kill the worker during a delivery",
                )
            workers.kill()
            kills[kind] += 1
            if kind == "receiver-down":
                _run_some(app, rng, rng.uniform(0.2, 1.0))  # still down, no worker either
                receiver.start()
            workers.spawn()
        # No more instances: once every no-data alert fires nothing changes any more; then
        # wait for the worker to have delivered everything.
        wait_until(
            lambda: (
                len(slo.list_alerts(app.store, status="firing")) == FLAPS
                and _undelivered(app) == 0
                and workers.current.poll() is None
            ),
            timeout=90,
            what="every alert to fire and every alert event to be delivered",
        )
        assert workers.current.poll() is None, workers.outputs()
        workers.current.send_signal(signal.SIGTERM)
        assert workers.current.wait(timeout=30) == 0, workers.outputs()
    finally:
        workers.kill_all()
        receiver.stop()
    events = _alert_events(app)
    app.close()
    received = receiver.unique()
    assert received == [event.seq for event in events], workers.outputs()
    for event in events:
        body = receiver.bodies[event.seq]
        assert body["alert"] == event.payload
        assert body["event"] == ("firing" if event.kind is EventKind.ALERT_FIRED else "resolved")
    repeats = len(receiver.arrivals) - len(received)
    assert kills == {"random": 3, "receiver-down": 3, "in-delivery": 3}
    assert receiver.killed_in_delivery == 3 and repeats >= 3  # each was handed over again
    assert waiting_at_kill > 0
    fired = sum(event.kind is EventKind.ALERT_FIRED for event in events)
    assert fired and len(events) > fired  # alerts fired and resolved
    print(
        f"{len(events)} alert events ({fired} fired), {sum(kills.values())} SIGKILLs, "
        f"{repeats} repeats dropped by the receiver, {waiting_at_kill} waiting at kills"
    )
