"""Incidents: who owns what, alerts that become incidents, and people who are told.

An operations package (see ``daytwo/_extension.py``): it owns its tables
(``_tables.py``, migration branch ``incidents``), plugs into an App as
:class:`IncidentsExtension`, and depends on the engine; the engine, the store and the
worker never import it.
"""

from daytwo.incidents._assessment import Assessment, Assessor, DefaultAssessor
from daytwo.incidents._errors import IncidentNotFound, IncidentStillFiring, InvalidIncidentChange
from daytwo.incidents._extension import IncidentsExtension
from daytwo.incidents._incidents import Incidents, IngestOutcome, IngestResult
from daytwo.incidents._queries import IncidentFilter
from daytwo.incidents._records import Incident, IncidentAlert, TimelineEntry
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
    "ChannelKind",
    "Criticality",
    "DefaultAssessor",
    "DeliveryStatus",
    "Impact",
    "Incident",
    "IncidentAction",
    "IncidentAlert",
    "IncidentFilter",
    "IncidentNotFound",
    "IncidentStatus",
    "IncidentStillFiring",
    "Incidents",
    "IncidentsExtension",
    "IngestOutcome",
    "IngestResult",
    "InvalidIncidentChange",
    "RaciRole",
    "Severity",
    "Source",
    "Stage",
    "TimelineEntry",
    "TimelineKind",
    "Trigger",
    "TriggerAction",
    "Urgency",
]
