"""Incidents: who owns what, alerts that become incidents, and people who are told.

An operations package (see ``daytwo/_extension.py``): it owns its tables
(``_tables.py``, migration branch ``incidents``), plugs into an App as
:class:`IncidentsExtension`, and depends on the engine; the engine, the store and the
worker never import it.
"""

from daytwo.incidents._assessment import Assessment, Assessor, DefaultAssessor
from daytwo.incidents._channels import NotificationError, SmtpSettings
from daytwo.incidents._contacts import Channel, Recipient
from daytwo.incidents._errors import IncidentNotFound, IncidentStillFiring, InvalidIncidentChange
from daytwo.incidents._extension import IncidentsExtension
from daytwo.incidents._incidents import Incidents, IngestOutcome, IngestResult
from daytwo.incidents._ingest import InvalidPayload, alertmanager_triggers, event_triggers
from daytwo.incidents._ownership import NoOwnerEntry, Ownership, load_ownership, parse_ownership
from daytwo.incidents._queries import IncidentFilter
from daytwo.incidents._records import Incident, IncidentAlert, TimelineEntry
from daytwo.incidents._registry import NoOwnershipApplied, OwnershipAssessor, OwnershipVersion
from daytwo.incidents._registry import apply as apply_ownership
from daytwo.incidents._registry import history as ownership_history
from daytwo.incidents._registry import latest as latest_ownership
from daytwo.incidents._report import IncidentReport, Percentiles, incident_report
from daytwo.incidents._severity import SeverityMatrix, SeverityRule, assess
from daytwo.incidents._templates import EmailContent, Notice, Templates
from daytwo.incidents._triggers import Trigger
from daytwo.incidents._vocabulary import (
    STAGE_ORDER,
    AlertState,
    ChannelKind,
    Criticality,
    DeliveryStatus,
    Impact,
    IncidentAction,
    IncidentStatus,
    RaciRole,
    Severity,
    Source,
    Stage,
    TimelineKind,
    TriggerAction,
    Urgency,
)

__all__ = [
    "STAGE_ORDER",
    "AlertState",
    "Assessment",
    "Assessor",
    "Channel",
    "ChannelKind",
    "Criticality",
    "DefaultAssessor",
    "DeliveryStatus",
    "EmailContent",
    "Impact",
    "Incident",
    "IncidentAction",
    "IncidentAlert",
    "IncidentFilter",
    "IncidentNotFound",
    "IncidentReport",
    "IncidentStatus",
    "IncidentStillFiring",
    "Incidents",
    "IncidentsExtension",
    "IngestOutcome",
    "IngestResult",
    "InvalidIncidentChange",
    "InvalidPayload",
    "NoOwnerEntry",
    "NoOwnershipApplied",
    "Notice",
    "NotificationError",
    "Ownership",
    "OwnershipAssessor",
    "OwnershipVersion",
    "Percentiles",
    "RaciRole",
    "Recipient",
    "Severity",
    "SeverityMatrix",
    "SeverityRule",
    "SmtpSettings",
    "Source",
    "Stage",
    "Templates",
    "TimelineEntry",
    "TimelineKind",
    "Trigger",
    "TriggerAction",
    "Urgency",
    "alertmanager_triggers",
    "apply_ownership",
    "assess",
    "event_triggers",
    "incident_report",
    "latest_ownership",
    "load_ownership",
    "ownership_history",
    "parse_ownership",
]
