"""The incidents package's vocabularies: severities, stages, statuses and what a timeline
row, an alert source or a notification channel can be."""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "STAGE_ORDER",
    "AlertState",
    "ChannelKind",
    "Criticality",
    "DeliveryStatus",
    "Impact",
    "IncidentAction",
    "IncidentStatus",
    "RaciRole",
    "Severity",
    "Source",
    "Stage",
    "TimelineKind",
    "TriggerAction",
    "Urgency",
]


class Severity(StrEnum):
    """How bad an incident is: SEV1 (the worst: a critical process down for customers) to
    SEV4 (a minor problem, handled in working hours)."""

    SEV1 = "SEV1"
    SEV2 = "SEV2"
    SEV3 = "SEV3"
    SEV4 = "SEV4"

    @property
    def rank(self) -> int:
        """1 for SEV1 ... 4 for SEV4 (lower is worse)."""
        return int(self.value[3:])


class Impact(StrEnum):
    """How much of the business an incident touches (one axis of the severity matrix)."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Urgency(StrEnum):
    """How soon it must be handled (the other axis of the severity matrix)."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Criticality(StrEnum):
    """How much a workflow or dependency matters to the business (``ownership.yaml``)."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Stage(StrEnum):
    """The standard stages of an incident, in order; each is timestamped when reached."""

    TRIAGE = "triage"
    CONTAIN = "contain"
    DIAGNOSE = "diagnose"
    RESOLVE = "resolve"
    RECOVER = "recover"
    REVIEW = "review"


#: The stages in the order an incident goes through them.
STAGE_ORDER: tuple[Stage, ...] = tuple(Stage)


class IncidentStatus(StrEnum):
    """Where an incident is in its life (PagerDuty's three)."""

    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Source(StrEnum):
    """Where the alert that opened an incident came from."""

    SLO = "slo"
    ALERTMANAGER = "alertmanager"
    #: PagerDuty Events API v2 (``POST /ingest/events``).
    EVENTS = "events"
    #: A rule over the engine's own events (a parked instance, an opened circuit).
    RULE = "rule"
    MANUAL = "manual"


class TriggerAction(StrEnum):
    """What an incoming alert says (PagerDuty's ``event_action``)."""

    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


class AlertState(StrEnum):
    """An alert attached to an incident: still firing, or resolved by its source."""

    FIRING = "firing"
    RESOLVED = "resolved"


class TimelineKind(StrEnum):
    """What one row of an incident's timeline records."""

    OPENED = "opened"
    #: An alert fired (the first, or a repeat on an open dedup key).
    TRIGGERED = "triggered"
    #: An alert's source said it resolved.
    ALERT_RESOLVED = "alert_resolved"
    ACKNOWLEDGED = "acknowledged"
    REASSIGNED = "reassigned"
    NOTE = "note"
    SEVERITY_CHANGED = "severity_changed"
    STAGE = "stage"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    NOTIFIED = "notified"
    NOTIFICATION_FAILED = "notification_failed"
    #: An audit row of an operator action on the affected workflow or its instances while
    #: the incident was open (merged in when the timeline is read, not stored twice).
    AUDIT = "audit"


class RaciRole(StrEnum):
    """Responsible, accountable, consulted, informed: who does what at a severity."""

    RESPONSIBLE = "R"
    ACCOUNTABLE = "A"
    CONSULTED = "C"
    INFORMED = "I"


class ChannelKind(StrEnum):
    """How a person or team is told."""

    WEBHOOK = "webhook"
    SLACK = "slack"
    EMAIL = "email"
    PAGERDUTY = "pagerduty"


class DeliveryStatus(StrEnum):
    """Where one notification is."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class IncidentAction(StrEnum):
    """The incidents package's operator actions, as the audit log names them."""

    OPEN = "incident.open"
    ACKNOWLEDGE = "incident.acknowledge"
    REASSIGN = "incident.reassign"
    NOTE = "incident.note"
    SEVERITY = "incident.severity"
    STAGE = "incident.stage"
    RESOLVE = "incident.resolve"
    REOPEN = "incident.reopen"
    OWNERSHIP_APPLY = "ownership.apply"
