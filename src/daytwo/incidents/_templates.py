"""The message each channel kind gets about one incident event.

:class:`Templates` has one method per :class:`ChannelKind`; subclass it and override the
ones to change (the notifier calls them with a :class:`Notice`). A method that returns
None sends nothing on that channel for that event (the default PagerDuty template does so
for ``incident.changed``: PagerDuty has no "update", and a trigger would re-open a
resolved incident there). Templates never see a secret: the PagerDuty routing key is
added by the sender, after rendering.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from daytwo.incidents._contacts import Recipient
from daytwo.incidents._records import Incident
from daytwo.incidents._vocabulary import ChannelKind, RaciRole, Severity
from daytwo.store import EventKind

__all__ = [
    "EVENT_VERBS",
    "EmailContent",
    "Notice",
    "Templates",
    "incident_of_payload",
    "pagerduty_dedup_key",
]

#: How a subject line says what happened.
EVENT_VERBS: dict[EventKind, str] = {
    EventKind.INCIDENT_OPENED: "opened",
    EventKind.INCIDENT_TRIGGERED: "triggered again",
    EventKind.INCIDENT_ACKNOWLEDGED: "acknowledged",
    EventKind.INCIDENT_CHANGED: "updated",
    EventKind.INCIDENT_RESOLVED: "resolved",
    EventKind.INCIDENT_REOPENED: "reopened",
}

#: PagerDuty's severities for ours.
_PD_SEVERITY = {
    Severity.SEV1: "critical",
    Severity.SEV2: "error",
    Severity.SEV3: "warning",
    Severity.SEV4: "info",
}
_PD_ACTION = {
    EventKind.INCIDENT_OPENED: "trigger",
    EventKind.INCIDENT_TRIGGERED: "trigger",
    EventKind.INCIDENT_REOPENED: "trigger",
    EventKind.INCIDENT_ACKNOWLEDGED: "acknowledge",
    EventKind.INCIDENT_RESOLVED: "resolve",
}
_ROLE_NAMES = {
    RaciRole.RESPONSIBLE: "responsible",
    RaciRole.ACCOUNTABLE: "accountable",
    RaciRole.CONSULTED: "consulted",
    RaciRole.INFORMED: "informed",
}
#: Block Kit limits: a header's text, a section's text and a field's text.
_HEADER_MAX, _SECTION_MAX, _FIELD_MAX = 150, 3000, 2000
#: PagerDuty's payload.summary limit.
_PD_SUMMARY_MAX = 1024


@dataclass(frozen=True, slots=True)
class Notice:
    """What a template renders: one incident event for one recipient.

    ``incident`` is the incident as the event recorded it (not as it is now: a retried
    message still says what happened then); ``text`` and ``actor`` are the change's
    timeline text and who made it; ``url`` links to the incident (None: no base URL set).
    """

    event_seq: int
    event: EventKind
    incident: Incident
    change: str
    actor: str
    text: str
    at: float
    recipient: Recipient
    url: str | None = None

    @property
    def verb(self) -> str:
        return EVENT_VERBS.get(self.event, str(self.event))

    @property
    def headline(self) -> str:
        """``[SEV2] #12 opened: payments failing`` (the e-mail subject, Slack's fallback)."""
        incident = self.incident
        return f"[{incident.severity}] #{incident.id} {self.verb}: {incident.title}"


@dataclass(frozen=True, slots=True)
class EmailContent:
    """A plain-text e-mail (the sender adds From, To and the ids)."""

    subject: str
    body: str


def pagerduty_dedup_key(incident: Incident) -> str:
    """The key every PagerDuty event of one incident carries (so they are one PD alert)."""
    return f"daytwo-incident-{incident.id}"


def incident_of_payload(payload: dict[str, Any]) -> Incident:
    """The incident an ``incident.*`` outbox event carries (``Incident.to_json()``).

    Raises KeyError or ValueError when the payload is not one (the notifier skips it).
    """
    data = payload["incident"]
    row = {name: data.get(name) for name in _ROW_FIELDS}
    row["labels"] = json.dumps(data.get("labels") or {})
    row["stages"] = json.dumps(data.get("stages") or {})
    return Incident.from_row(row, firing=int(data.get("firing") or 0))


_ROW_FIELDS = (
    "id", "title", "status", "severity", "stage", "source", "kind", "dedup_key", "workflow",
    "dependency", "assignee", "ownership_version", "opened_at", "opened_by",
    "acknowledged_at", "acknowledged_by", "resolved_at", "resolved_by", "last_signal_at",
    "quiet_after", "impact", "urgency",
)  # fmt: skip


class Templates:
    """The default messages. ``base_url``: where daytwo's API is served, for the link to the
    incident (``<base_url>/v1/incidents/<n>``); None: messages carry no link."""

    def __init__(self, base_url: str | None = None) -> None:
        self.base_url = base_url.rstrip("/") if base_url else None

    def incident_url(self, incident: Incident) -> str | None:
        """The link to the incident in messages (override to point at a UI)."""
        return None if self.base_url is None else f"{self.base_url}/v1/incidents/{incident.id}"

    def render(self, kind: ChannelKind, notice: Notice) -> dict[str, Any] | EmailContent | None:
        """The message of ``kind`` (dispatches to the per-kind methods)."""
        if kind is ChannelKind.WEBHOOK:
            return self.webhook(notice)
        if kind is ChannelKind.SLACK:
            return self.slack(notice)
        if kind is ChannelKind.EMAIL:
            return self.email(notice)
        return self.pagerduty(notice)

    # -- one method per channel kind ------------------------------------------------------

    def webhook(self, notice: Notice) -> dict[str, Any] | None:
        """The JSON body POSTed to a webhook."""
        return {
            "event": str(notice.event),
            "event_id": notice.event_seq,
            "incident": notice.incident.to_json(),
            "change": notice.change,
            "actor": notice.actor,
            "text": notice.text,
            "url": notice.url,
            "recipient": {"name": notice.recipient.name, "role": str(notice.recipient.role)},
        }

    def slack(self, notice: Notice) -> dict[str, Any] | None:
        """A Slack incoming-webhook message: Block Kit blocks, ``text`` as the fallback
        (notifications and clients without blocks show it)."""
        incident = notice.incident
        header = f"{incident.severity} · #{incident.id} {notice.verb}: {incident.title}"
        what = f"*{_mrkdwn(notice.verb.capitalize())}* by {_mrkdwn(notice.actor)}: "
        what += _mrkdwn(notice.text)
        fields = [
            ("Status", str(incident.status)),
            ("Severity", str(incident.severity)),
            ("Stage", str(incident.stage)),
            ("Workflow", incident.workflow or "-"),
            ("Assignee", incident.assignee or "nobody"),
        ]
        if incident.dependency:
            fields.append(("Dependency", incident.dependency))
        context = f"daytwo incident #{incident.id} · event {notice.event_seq} · "
        context += f"{_mrkdwn(notice.recipient.name)} ({_ROLE_NAMES[notice.recipient.role]})"
        if notice.url:
            context += f" · <{notice.url}|open>"
        return {
            "text": notice.headline,
            "blocks": [
                {
                    "type": "header",
                    "text": {"type": "plain_text", "text": _cut(header, _HEADER_MAX)},
                },
                {"type": "section", "text": {"type": "mrkdwn", "text": _cut(what, _SECTION_MAX)}},
                {
                    "type": "section",
                    "fields": [
                        {"type": "mrkdwn", "text": _cut(f"*{name}*\n{_mrkdwn(value)}", _FIELD_MAX)}
                        for name, value in fields
                    ],
                },
                {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
            ],
        }

    def email(self, notice: Notice) -> EmailContent | None:
        """A plain-text e-mail; subject ``[SEV2] #12 opened: payments failing``."""
        incident = notice.incident
        rows = [
            ("Severity", str(incident.severity)),
            ("Status", str(incident.status)),
            ("Stage", str(incident.stage)),
            ("Workflow", incident.workflow or "-"),
            ("Dependency", incident.dependency or "-"),
            ("Assignee", incident.assignee or "nobody"),
            ("Opened", f"{_iso(incident.opened_at)} by {incident.opened_by}"),
        ]
        if incident.resolved_at is not None:
            rows.append(("Resolved", f"{_iso(incident.resolved_at)} by {incident.resolved_by}"))
        lines = [f"Incident #{incident.id} {notice.verb}: {incident.title}", ""]
        lines += [f"{name + ':':<12}{value}" for name, value in rows]
        lines += ["", f"What happened ({_iso(notice.at)}, {notice.actor}):", notice.text]
        if notice.url:
            lines += ["", notice.url]
        role = _ROLE_NAMES[notice.recipient.role]
        lines += [
            "",
            "--",
            f"You get this as {role} ({notice.recipient.role}) for {incident.severity} "
            f"incidents{' of ' + incident.workflow if incident.workflow else ''}.",
            f"daytwo, event {notice.event_seq}",
        ]
        return EmailContent(subject=_one_line(notice.headline), body="\n".join(lines) + "\n")

    def pagerduty(self, notice: Notice) -> dict[str, Any] | None:
        """A PagerDuty Events API v2 event, without ``routing_key`` (the sender adds it);
        None for ``incident.changed`` (see the module docstring)."""
        action = _PD_ACTION.get(notice.event)
        if action is None:
            return None
        incident = notice.incident
        event: dict[str, Any] = {
            "event_action": action,
            "dedup_key": pagerduty_dedup_key(incident),
        }
        if action != "trigger":
            return event  # PagerDuty ignores a payload on acknowledge and resolve
        event["payload"] = {
            "summary": _cut(notice.headline, _PD_SUMMARY_MAX),
            "source": incident.workflow or incident.dependency or "daytwo",
            "severity": _PD_SEVERITY[incident.severity],
            "timestamp": _iso(incident.opened_at),
            "component": incident.workflow,
            "group": incident.dependency,
            "class": incident.kind,
            "custom_details": {
                "incident": incident.id,
                "status": str(incident.status),
                "stage": str(incident.stage),
                "assignee": incident.assignee,
                "change": notice.text,
                "labels": incident.labels,
                "event_id": notice.event_seq,
            },
        }
        event["payload"] = {k: v for k, v in event["payload"].items() if v is not None}
        event["client"] = "daytwo"
        if notice.url:
            event["client_url"] = notice.url
            event["links"] = [{"href": notice.url, "text": f"daytwo incident #{incident.id}"}]
        return event


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _one_line(text: str) -> str:
    # A newline in a header would end it (or inject another one).
    return " ".join(text.split())


def _mrkdwn(text: str) -> str:
    """Text escaped for Slack's mrkdwn (``&``, ``<`` and ``>`` are its control characters)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
