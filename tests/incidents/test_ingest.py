"""Alertmanager (webhook v4) and PagerDuty Events v2 payloads, shaped like their documented
examples (``tests/fixtures/ingest/``), parsed into triggers and ingested into the real
store: a repeated trigger appends, a resolve resolves, an acknowledge acknowledges; a bad
payload is refused naming the field."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

import daytwo
from daytwo.incidents import (
    Incidents,
    IncidentStatus,
    IngestOutcome,
    Severity,
    Source,
    TriggerAction,
)
from daytwo.incidents._ingest import InvalidPayload, alertmanager_triggers, event_triggers

FIXTURES = Path(__file__).parent.parent / "fixtures" / "ingest"
#: Alertmanager's groupKey in alertmanager_firing.json.
GROUP = '{}/{severity="critical"}:{alertname="PaymentsFailing"}'


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return loaded


@pytest.fixture
def incidents(fake_app: daytwo.App) -> Incidents:
    return Incidents.for_app(fake_app)


def test_an_alertmanager_notification_is_one_trigger_per_alert() -> None:
    first, second = alertmanager_triggers(fixture("alertmanager_firing"))
    assert first.source is Source.ALERTMANAGER and first.kind == "alertmanager"
    assert first.dedup_key == second.dedup_key == GROUP
    assert (first.alert_key, second.alert_key) == ("1a30ba71cca2921f", "7be4d3f1c2a9e510")
    assert first.action is TriggerAction.TRIGGER
    assert first.summary == "Payment provider calls failing on shop-1"
    assert (first.workflow, first.dependency, first.severity_hint) == (
        "order", "payments", Severity.SEV1,
    )  # fmt: skip
    assert first.labels["instance"] == "shop-1:9100"
    # Nanoseconds are read (below the microsecond dropped), as UTC.
    assert first.at == pytest.approx(1714564800.123456)
    assert second.at == 1714564830.5
    assert first.details["receiver"] == "daytwo"
    assert first.details["externalURL"] == "http://alertmanager.example.org:9093"
    assert first.details["generatorURL"].startswith("http://prometheus.example.org:9090/")
    assert first.details["annotations"]["description"].startswith("More than 20%")
    resolved = alertmanager_triggers(fixture("alertmanager_resolved"))
    assert [t.action for t in resolved] == [TriggerAction.RESOLVE] * 2
    assert [t.at for t in resolved] == [1714565400.0, 1714565430.0]  # their endsAt


def test_alertmanager_repeats_append_and_the_resolve_resolves(incidents: Incidents) -> None:
    firing = alertmanager_triggers(fixture("alertmanager_firing"))
    outcomes = [incidents.ingest(t).outcome for t in firing]
    assert outcomes == [IngestOutcome.OPENED, IngestOutcome.APPENDED]
    again = [incidents.ingest(t) for t in alertmanager_triggers(fixture("alertmanager_firing"))]
    assert [r.outcome for r in again] == [IngestOutcome.APPENDED] * 2
    [incident] = incidents.list()
    assert again[0].incident is not None and again[0].incident.id == incident.id
    assert incident.severity is Severity.SEV1 and incident.workflow == "order"
    assert incident.dedup_key == GROUP and incident.opened_at == pytest.approx(1714564800.123456)
    assert [(a.alert_key, a.count) for a in incidents.alerts(incident.id)] == [
        ("1a30ba71cca2921f", 2), ("7be4d3f1c2a9e510", 2),
    ]  # fmt: skip
    done = [incidents.ingest(t) for t in alertmanager_triggers(fixture("alertmanager_resolved"))]
    assert [r.outcome for r in done] == [IngestOutcome.ALERT_RESOLVED, IngestOutcome.RESOLVED]
    closed = incidents.get(incident.id)
    assert closed.status is IncidentStatus.RESOLVED and closed.resolved_at == 1714565430.0


def test_a_missing_fingerprint_is_a_stable_hash_of_the_labels() -> None:
    payload = fixture("alertmanager_firing")
    for alert in payload["alerts"]:
        del alert["fingerprint"]
    reordered = copy.deepcopy(payload)
    reordered["alerts"][0]["labels"] = dict(reversed(payload["alerts"][0]["labels"].items()))
    first, second = alertmanager_triggers(payload)
    assert len(first.alert_key) == 16 and first.alert_key != second.alert_key
    assert alertmanager_triggers(reordered)[0].alert_key == first.alert_key


@pytest.mark.parametrize(
    ("word", "severity"),
    [("CRITICAL", Severity.SEV1), ("error", Severity.SEV2), ("High", Severity.SEV2),
     ("warning", Severity.SEV3), ("info", Severity.SEV4), ("low", Severity.SEV4),
     ("page", None)],
)  # fmt: skip
def test_the_severity_label_is_the_hint(word: str, severity: Severity | None) -> None:
    payload = fixture("alertmanager_firing")
    payload["alerts"][0]["labels"]["severity"] = word
    assert alertmanager_triggers(payload)[0].severity_hint is severity


def test_summary_falls_back_to_description_then_alertname() -> None:
    payload = fixture("alertmanager_firing")
    del payload["alerts"][0]["annotations"]["summary"]
    payload["alerts"][1]["annotations"] = {}
    first, second = alertmanager_triggers(payload)
    assert first.summary.startswith("More than 20% of payment calls failed")
    assert second.summary == "PaymentsFailing"


def test_a_pagerduty_event_is_one_trigger_without_the_routing_key() -> None:
    trigger = event_triggers(fixture("events_trigger"))
    assert trigger.source is Source.EVENTS and trigger.kind == "events"
    assert trigger.dedup_key == "dedupkeyhere" and trigger.action is TriggerAction.TRIGGER
    assert trigger.summary == "Example alert on host1.example.com"
    assert trigger.severity_hint is Severity.SEV2 and trigger.workflow == "order"
    assert trigger.at == pytest.approx(1437122578.315)  # "+0000" read as UTC
    source = "monitoringtool:cloudvendor:central-region-dc-01:852559987:cluster/api-stats-prod-003"
    assert trigger.labels == {
        "source": source, "component": "postgres", "group": "prod-datapipe", "class": "deploy",
    }  # fmt: skip
    assert trigger.details["custom_details"]["ping time"] == "1500ms"
    assert trigger.details["links"] == [{"href": "https://example.com/", "text": "Link text"}]
    assert trigger.details["client"] == "Sample Monitoring Service"
    assert "routingkeyhere" not in json.dumps(trigger.details)
    assert "routing_key" not in json.dumps(trigger.details)


def test_a_trigger_without_dedup_key_gets_a_new_one() -> None:
    payload = fixture("events_trigger")
    del payload["dedup_key"]
    first, second = event_triggers(payload), event_triggers(payload)
    assert first.dedup_key and first.dedup_key != second.dedup_key


def test_events_trigger_repeat_acknowledge_resolve(incidents: Incidents) -> None:
    assert incidents.ingest(event_triggers(fixture("events_trigger"))).outcome is (
        IngestOutcome.OPENED
    )
    again = incidents.ingest(event_triggers(fixture("events_trigger")))
    assert again.outcome is IngestOutcome.APPENDED and again.incident is not None
    number = again.incident.id
    assert again.incident.severity is Severity.SEV2
    acknowledged = incidents.ingest(event_triggers(fixture("events_acknowledge")))
    assert acknowledged.outcome is IngestOutcome.ACKNOWLEDGED
    assert incidents.get(number).status is IncidentStatus.ACKNOWLEDGED
    resolved = incidents.ingest(event_triggers(fixture("events_resolve")))
    assert resolved.outcome is IngestOutcome.RESOLVED
    assert incidents.get(number).status is IncidentStatus.RESOLVED
    stored = json.dumps([e.to_json() for e in incidents.timeline(number)])
    assert "routingkeyhere" not in stored
    # A resolve for a key with no open incident does nothing (PagerDuty drops it).
    assert incidents.ingest(event_triggers(fixture("events_resolve"))).outcome is (
        IngestOutcome.IGNORED
    )


def _set(payload: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    """``payload`` with the field at ``a.0.b`` set to ``value`` (``...`` deletes it)."""
    changed = copy.deepcopy(payload)
    *parents, last = path.split(".")
    node: Any = changed
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return changed


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("alerts.0.status", "bogus", "alerts[0].status: must be 'firing' or 'resolved'"),
        ("status", "pending", "status: must be 'firing' or 'resolved'"),
        ("version", "3", "version: must be '4'"),
        ("groupKey", ..., "groupKey: is required"),
        ("alerts", [], "alerts: must have at least 1 item(s)"),
        ("alerts", "many", "alerts: must be a list"),
        ("alerts.1.labels.instance", 7, "alerts[1].labels.instance: must be a string"),
        ("alerts.0.startsAt", "yesterday", "alerts[0].startsAt: must be an RFC 3339 time"),
        ("alerts.1.labels", ..., "alerts[1].labels: is required"),
        ("truncatedAlerts", -1, "truncatedAlerts: must be at least 0"),
    ],
)
def test_a_bad_alertmanager_payload_names_the_field(path: str, value: object, message: str) -> None:
    with pytest.raises(InvalidPayload) as refused:
        alertmanager_triggers(_set(fixture("alertmanager_firing"), path, value))
    text = str(refused.value)
    assert text.startswith(message) and "\n" not in text


@pytest.mark.parametrize(
    ("name", "path", "value", "message"),
    [
        ("events_trigger", "payload.severity", "fatal",
         "payload.severity: must be 'critical', 'error', 'warning' or 'info'"),
        ("events_trigger", "event_action", "escalate",
         "event_action: must be 'trigger', 'acknowledge' or 'resolve'"),
        ("events_trigger", "payload.summary", ..., "payload.summary: is required"),
        ("events_trigger", "payload.source", "", "payload.source: must not be empty"),
        ("events_trigger", "payload.timestamp", "noon", "payload.timestamp: must be an RFC 3339"),
        ("events_trigger", "payload", ..., "payload: is required for a trigger event"),
        ("events_trigger", "dedup_key", "k" * 256, "dedup_key: must be at most 255 characters"),
        ("events_trigger", "links.0.href", ..., "links[0].href: is required"),
        ("events_resolve", "dedup_key", ..., "dedup_key: is required for resolve"),
        ("events_acknowledge", "event_action", ..., "event_action: is required"),
    ],
)  # fmt: skip
def test_a_bad_event_names_the_field(name: str, path: str, value: object, message: str) -> None:
    with pytest.raises(InvalidPayload) as refused:
        event_triggers(_set(fixture(name), path, value))
    text = str(refused.value)
    assert text.startswith(message) and "\n" not in text
    assert "routingkeyhere" not in text


def test_a_body_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(InvalidPayload, match=r"^body: must be a JSON object"):
        alertmanager_triggers([fixture("alertmanager_firing")])
    with pytest.raises(InvalidPayload, match=r"^body: must be a JSON object"):
        event_triggers("trigger")


def test_extra_fields_are_accepted_and_not_kept() -> None:
    payload = fixture("events_trigger")
    payload["a_future_field"] = {"secret": "s3cr3t"}
    payload["links"][0]["tracking"] = "s3cr3t"
    assert "s3cr3t" not in json.dumps(dict(event_triggers(payload).details))
    alerts = fixture("alertmanager_firing")
    alerts["orgId"] = 1  # Grafana's webhook adds fields like these
    alerts["alerts"][0]["silenceURL"] = "http://example.org/silence"
    assert len(alertmanager_triggers(alerts)) == 2
