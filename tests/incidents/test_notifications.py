"""Notifications through the outbox to real receivers on loopback: an HTTP server for
webhooks, Slack and PagerDuty Events v2, and aiosmtpd for e-mail. Receivers that are down
for a while still get every notification once, in order; secrets never reach the DB."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa
from _receivers import Mailbox, free_port, smtp_server

import daytwo
from daytwo.incidents import ChannelKind, Incidents, RaciRole, Severity, TimelineKind
from daytwo.incidents._channels import SmtpSettings
from daytwo.incidents._contacts import Channel, Recipient
from daytwo.incidents._notifier import Notifier, notification_deliveries, register_notifiers
from daytwo.incidents._records import Incident
from daytwo.incidents._templates import Notice, Templates
from daytwo.store import EventKind, events_after, metadata
from daytwo.worker import OutboxDelivery

TOKEN = "XXSLACKTOKENSECRET42"
ROUTING_KEY = "PDROUTINGKEYSECRET77"


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class HttpReceiver:
    """Records the requests it accepted; answers 500 (echoing the request, secrets and
    all, as a careless receiver would) while ``failing`` says so for the path."""

    port: int = 0
    accepted: list[Request] = field(default_factory=list)
    refused: int = 0
    failing: dict[str, int] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def fail(self, path: str, times: int) -> None:
        self.failing[path] = times

    def paths(self, prefix: str) -> list[Request]:
        return [r for r in self.accepted if r.path.startswith(prefix)]


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                left = receiver.failing.get(self.path, 0) or receiver.failing.get("*", 0)
                if left:
                    key = self.path if self.path in receiver.failing else "*"
                    receiver.failing[key] = left - 1
                    receiver.refused += 1
                else:
                    receiver.accepted.append(
                        Request(self.path, dict(self.headers), json.loads(raw))
                    )
            status = 500 if left else 202
            answer = f"refused {self.path} {raw.decode()}" if left else "ok"
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer.encode())))
            self.end_headers()
            self.wfile.write(answer.encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def mailbox(smtp_port: int) -> Iterator[Mailbox]:
    """A real SMTP server; ``stop_smtp`` style tests start it late themselves."""
    with smtp_server(smtp_port) as box:
        yield box


@pytest.fixture
def people(http: HttpReceiver, monkeypatch: pytest.MonkeyPatch) -> list[Recipient]:
    monkeypatch.setenv("SLACK_TOKEN", TOKEN)
    monkeypatch.setenv("PD_KEY", ROUTING_KEY)
    ann = Recipient("ann", RaciRole.RESPONSIBLE, (
        Channel(ChannelKind.WEBHOOK, http.url("/hook/ann")),
        Channel(ChannelKind.SLACK, http.url("/services/T000/B000/${SLACK_TOKEN}")),
        Channel(ChannelKind.EMAIL, "ann@example.com"),
        Channel(ChannelKind.PAGERDUTY, http.url("/v2/enqueue"), "${PD_KEY}"),
    ))  # fmt: skip
    boss = Recipient(
        "boss", RaciRole.ACCOUNTABLE, (Channel(ChannelKind.WEBHOOK, http.url("/hook/boss")),)
    )
    cio = Recipient("cio", RaciRole.INFORMED, (
        Channel(ChannelKind.WEBHOOK, http.url("/hook/cio")),
        Channel(ChannelKind.EMAIL, "cio@example.com"),
    ))  # fmt: skip
    carl = Recipient(
        "carl", RaciRole.CONSULTED, (Channel(ChannelKind.WEBHOOK, http.url("/hook/carl")),)
    )
    return [ann, boss, cio, carl]


@pytest.fixture
def incidents(fake_app: daytwo.App) -> Incidents:
    return Incidents.for_app(fake_app)


@pytest.fixture
def deliveries(
    fake_app: daytwo.App, clock: daytwo.FakeClock, incidents: Incidents, people: list[Recipient],
    smtp_port: int,
) -> list[OutboxDelivery]:  # fmt: skip
    def recipients(incident: Incident) -> Sequence[Recipient]:
        return people

    smtp = SmtpSettings("127.0.0.1", smtp_port, "daytwo@example.com", timeout=5)
    built = notification_deliveries(
        fake_app.store, clock, incidents, recipients, smtp, Templates("http://daytwo.test")
    )
    with fake_app.store.write() as conn:
        register_notifiers(conn, clock.now())
    return built


def deliver(deliveries: list[OutboxDelivery], clock: daytwo.FakeClock, rounds: int = 1) -> None:
    """Worker rounds, the clock moved past the longest backoff between them."""
    for _ in range(rounds):
        for delivery in deliveries:
            delivery.run_once()
        clock.advance(301)


def events(requests: list[Request]) -> list[str]:
    return [r.body["event"] for r in requests]


def test_every_channel_kind_gets_its_message(
    incidents: Incidents, deliveries: list[OutboxDelivery], http: HttpReceiver,
    mailbox: Mailbox, clock: daytwo.FakeClock,
) -> None:  # fmt: skip
    incident = incidents.open("payments failing", severity=Severity.SEV2, workflow="order",
                              assignee="payments-team", by="ann")  # fmt: skip
    incidents.acknowledge(incident.id, by="ann")
    incidents.resolve(incident.id, by="ann", reason="fixed")
    deliver(deliveries, clock)

    hooks = http.paths("/hook/ann")
    assert events(hooks) == ["incident.opened", "incident.acknowledged", "incident.resolved"]
    first = hooks[0]
    assert first.body["incident"]["id"] == incident.id and first.body["text"]
    assert first.body["url"] == f"http://daytwo.test/v1/incidents/{incident.id}"
    assert first.headers["Idempotency-Key"] == f"daytwo-{first.body['event_id']}-ann"
    assert [r.body["event_id"] for r in hooks] == sorted(r.body["event_id"] for r in hooks)

    slack = http.paths("/services/T000/B000/")
    assert len(slack) == 3 and slack[0].path.endswith(TOKEN)
    message = slack[0].body
    assert message["text"] == f"[SEV2] #{incident.id} opened: payments failing"
    header, _what, fields, context = message["blocks"]
    assert header["type"] == "header" and header["text"]["type"] == "plain_text"
    assert (
        header["text"]["text"].startswith("SEV2") and "payments failing" in header["text"]["text"]
    )
    shown = [f["text"] for f in fields["fields"]]
    assert shown[:5] == ["*Status*\ntriggered", "*Severity*\nSEV2", "*Stage*\ntriage",
                         "*Workflow*\norder", "*Assignee*\npayments-team"]  # fmt: skip
    assert context["type"] == "context" and f"#{incident.id}" in context["elements"][0]["text"]

    pd = [r.body for r in http.paths("/v2/enqueue")]
    assert [e["event_action"] for e in pd] == ["trigger", "acknowledge", "resolve"]
    assert {e["dedup_key"] for e in pd} == {f"daytwo-incident-{incident.id}"}
    assert {e["routing_key"] for e in pd} == {ROUTING_KEY}
    payload = pd[0]["payload"]
    assert payload["severity"] == "error" and payload["source"] == "order"
    assert payload["summary"] == f"[SEV2] #{incident.id} opened: payments failing"
    assert payload["custom_details"]["incident"] == incident.id

    mails = mailbox.to("ann@example.com")
    assert [m["Subject"] for m in mails] == [
        f"[SEV2] #{incident.id} opened: payments failing",
        f"[SEV2] #{incident.id} acknowledged: payments failing",
        f"[SEV2] #{incident.id} resolved: payments failing",
    ]
    assert mails[0]["From"] == "daytwo@example.com"
    body = mails[0].get_content()
    assert "Severity:   SEV2" in body and "Workflow:   order" in body


def test_recipients_follow_the_raci_per_event(
    incidents: Incidents, deliveries: list[OutboxDelivery], http: HttpReceiver,
    mailbox: Mailbox, clock: daytwo.FakeClock,
) -> None:  # fmt: skip
    incident = incidents.open("checkout slow", severity=Severity.SEV3, by="ann")
    incidents.note(incident.id, "looking at the database", by="ann")
    incidents.acknowledge(incident.id, by="ann")
    incidents.resolve(incident.id, by="ann")
    incidents.reopen(incident.id, by="ann", reason="back again")
    deliver(deliveries, clock)

    everything = ["incident.opened", "incident.changed", "incident.acknowledged",
                  "incident.resolved", "incident.reopened"]  # fmt: skip
    assert events(http.paths("/hook/ann")) == everything  # R
    assert events(http.paths("/hook/boss")) == everything  # A
    assert events(http.paths("/hook/cio")) == [  # I: opened and resolved (and reopened)
        "incident.opened",
        "incident.resolved",
        "incident.reopened",
    ]
    assert http.paths("/hook/carl") == []  # C: consulted, not notified
    assert len(mailbox.to("cio@example.com")) == 3 and len(mailbox.to("ann@example.com")) == 5
    # PagerDuty has no "update": the note sends nothing there, and no row says otherwise.
    assert len(http.paths("/v2/enqueue")) == 4


def test_receivers_down_for_a_while_get_everything_once_in_order(
    incidents: Incidents, deliveries: list[OutboxDelivery], http: HttpReceiver,
    clock: daytwo.FakeClock, smtp_port: int,
) -> None:  # fmt: skip
    http.fail("*", 5)  # every HTTP receiver answers 500 five times
    first = incidents.open("payments failing", severity=Severity.SEV1, by="ann")
    second = incidents.open("refunds stuck", severity=Severity.SEV2, by="ann")
    incidents.acknowledge(first.id, by="ann")
    incidents.resolve(second.id, by="ann")
    incidents.resolve(first.id, by="ann")
    # The SMTP server is not even listening yet.
    deliver(deliveries, clock, rounds=3)
    assert http.refused == 5
    with smtp_server(smtp_port) as box:
        deliver(deliveries, clock, rounds=12)

    for name in ("/hook/ann", "/hook/boss", "/services/", "/v2/enqueue"):
        got = http.paths(name)
        keys = [r.headers["Idempotency-Key"] for r in got]
        assert len(keys) == len(set(keys)), f"{name} got a notification twice"
    per_incident = {
        n: [r.body["event"] for r in http.paths("/hook/ann") if r.body["incident"]["id"] == n]
        for n in (first.id, second.id)
    }
    assert per_incident == {
        first.id: ["incident.opened", "incident.acknowledged", "incident.resolved"],
        second.id: ["incident.opened", "incident.resolved"],
    }
    subjects = [m["Subject"] for m in box.to("ann@example.com")]
    assert subjects == [
        f"[SEV1] #{first.id} opened: payments failing",
        f"[SEV2] #{second.id} opened: refunds stuck",
        f"[SEV1] #{first.id} acknowledged: payments failing",
        f"[SEV2] #{second.id} resolved: refunds stuck",
        f"[SEV1] #{first.id} resolved: payments failing",
    ]
    assert all(d.state().attempts == 0 for d in deliveries)  # type: ignore[union-attr]

    # One failure row per message that failed (its first attempt), one notified row each.
    timeline = incidents.timeline(first.id)
    failed = [e for e in timeline if e.kind is TimelineKind.NOTIFICATION_FAILED]
    notified = [e for e in timeline if e.kind is TimelineKind.NOTIFIED]
    assert len(notified) == 3 * 4 + 3 + 2 * 2  # ann: 4 channels, boss: 3 events, cio: 2 and 2
    failures = [(e.data["event"], e.data["recipient"], e.data["channel"]) for e in failed]
    assert len(failures) == len(set(failures)) and failed
    retried = [e for e in notified if e.data["attempts"] > 1]
    assert retried and all("after" in e.text for e in retried)
    mail = next(e for e in failed if e.data["channel"] == "email")
    assert mail.data["target"] == "ann@example.com" and "ConnectionRefusedError" in mail.text


def test_a_redelivered_event_skips_the_recipients_already_told(
    fake_app: daytwo.App, incidents: Incidents, people: list[Recipient], http: HttpReceiver,
) -> None:  # fmt: skip
    notifier = Notifier(ChannelKind.WEBHOOK, incidents, lambda incident: people)
    incident = incidents.open("payments failing", severity=Severity.SEV2, by="ann")
    with fake_app.store.read() as conn:
        (event,) = events_after(conn, 0, [EventKind.INCIDENT_OPENED])
    http.fail("/hook/ann", 1)
    with pytest.raises(daytwo.DaytwoError, match=r"1 webhook notification\(s\) of incident"):
        notifier.handle(event)
    assert [r.path for r in http.accepted] == ["/hook/boss", "/hook/cio"]
    notifier.handle(event)  # the retry: only ann's
    notifier.handle(event)  # a crash before the position moved: nobody again
    assert [r.path for r in http.accepted] == ["/hook/boss", "/hook/cio", "/hook/ann"]
    with fake_app.store.read() as conn:
        rows = conn.execute(sa.text(
            "SELECT recipient, status, attempts FROM incident_notifications ORDER BY recipient"
        )).all()  # fmt: skip
    assert [tuple(r) for r in rows] == [
        ("ann", "delivered", 2),
        ("boss", "delivered", 1),
        ("cio", "delivered", 1),
    ]
    kinds = [e.kind for e in incidents.timeline(incident.id)][1:]
    assert kinds.count(TimelineKind.NOTIFIED) == 3
    assert kinds.count(TimelineKind.NOTIFICATION_FAILED) == 1


def test_secrets_never_reach_the_database_the_errors_or_the_logs(
    fake_app: daytwo.App, incidents: Incidents, deliveries: list[OutboxDelivery],
    http: HttpReceiver, mailbox: Mailbox, clock: daytwo.FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    # The failing receiver echoes the request: the Slack path (with its token) and the
    # PagerDuty body (with its routing key) come back in the error text.
    http.fail("/services/T000/B000/" + TOKEN, 2)
    http.fail("/v2/enqueue", 2)
    incident = incidents.open("payments failing", severity=Severity.SEV1, by="ann")
    deliver(deliveries, clock)
    errors = [d.state().last_error for d in deliveries]  # type: ignore[union-attr]
    assert any(e and "HTTP 500" in e and "***" in e for e in errors)
    deliver(deliveries, clock, rounds=4)
    assert len(http.paths("/services/")) == 1 and len(http.paths("/v2/enqueue")) == 1

    dump = []
    with fake_app.store.read() as conn:
        for table in metadata.sorted_tables:
            dump += [repr(tuple(row)) for row in conn.execute(sa.select(table)).all()]
    text = "\n".join(dump) + "\n".join(str(e) for e in errors) + caplog.text
    assert TOKEN not in text and ROUTING_KEY not in text
    failed = [e for e in incidents.timeline(incident.id)
              if e.kind is TimelineKind.NOTIFICATION_FAILED]  # fmt: skip
    slack = next(e for e in failed if e.data["channel"] == "slack")
    assert slack.data["target"] == http.url("/services/T000/B000/…")
    assert "HTTP 500" in slack.data["error"]


def test_an_unset_secret_variable_is_a_failure_naming_it(
    incidents: Incidents, deliveries: list[OutboxDelivery], http: HttpReceiver,
    mailbox: Mailbox, clock: daytwo.FakeClock, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.delenv("PD_KEY")
    incidents.open("payments failing", severity=Severity.SEV1, by="ann")
    deliver(deliveries, clock)
    pd = next(d for d in deliveries if d.subscriber.name == "incident-notify-pagerduty")
    state = pd.state()
    assert state is not None and state.attempts == 1
    assert "environment variable PD_KEY is not set" in (state.last_error or "")
    monkeypatch.setenv("PD_KEY", ROUTING_KEY)
    deliver(deliveries, clock)
    assert len(http.paths("/v2/enqueue")) == 1


def test_smtp_settings_from_a_url() -> None:
    settings = SmtpSettings.from_url(
        "smtp://mailer:p%40ss@mail.example.com:2525?from=daytwo@example.com&starttls=1"
    )
    assert (settings.host, settings.port, settings.sender) == ("mail.example.com", 2525,
                                                               "daytwo@example.com")  # fmt: skip
    assert settings.username == "mailer" and settings.password == "p@ss" and settings.starttls
    assert "p@ss" not in repr(settings)
    assert SmtpSettings.from_url("smtps://h?from=a@b").port == 465
    assert SmtpSettings.from_env({}) is None
    assert SmtpSettings.from_env({"DAYTWO_SMTP_URL": "smtp://h:25?from=a@b"}) is not None
    for url, message in [
        ("http://h?from=a@b", "must start with smtp://"),
        ("smtp://user:hunter2@h:25", "needs ?from="),
        ("smtp://user:hunter2@h:25?from=a@b&tls=1", "unknown option"),
        ("smtp://user:hunter2@h:x?from=a@b", "not a valid URL"),
    ]:
        with pytest.raises(daytwo.InvalidInput, match=re.escape(message)) as caught:
            SmtpSettings.from_url(url)
        assert "hunter2" not in str(caught.value)


def test_templates_are_overridden_by_subclassing(
    fake_app: daytwo.App, incidents: Incidents, people: list[Recipient], http: HttpReceiver
) -> None:
    class Terse(Templates):
        def webhook(self, notice: Notice) -> dict[str, Any] | None:
            if notice.recipient.role is RaciRole.ACCOUNTABLE:
                return None  # nothing for the accountable on this channel
            return {"say": notice.headline}

    notifier = Notifier(ChannelKind.WEBHOOK, incidents, lambda i: people, templates=Terse())
    incident = incidents.open("payments failing", severity=Severity.SEV4, by="ann")
    with fake_app.store.read() as conn:
        (event,) = events_after(conn, 0, [EventKind.INCIDENT_OPENED])
    notifier.handle(event)
    assert {r.path: r.body for r in http.accepted} == {
        "/hook/ann": {"say": f"[SEV4] #{incident.id} opened: payments failing"},
        "/hook/cio": {"say": f"[SEV4] #{incident.id} opened: payments failing"},
    }
