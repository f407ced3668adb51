"""The incidents package's tables, on the store's shared metadata (created by the
``incidents`` migration branch, ``incidents/migrations/``). Every query of the package
over them lives in this package; the store never reads them."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Double,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from daytwo.store import metadata

__all__ = [
    "incident_alerts",
    "incident_notifications",
    "incident_timeline",
    "incidents",
    "ownership_versions",
]

#: Every ``ownership.yaml`` applied: a changed file is a new version, the same file applied
#: twice in a row is one (``digest`` is of the normalised content). The newest version is
#: the one in force; an incident records the version it was opened under (who owned it).
ownership_versions = Table(
    "ownership_versions",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=True),
    Column("digest", String(64), nullable=False),
    #: The validated definition as JSON (what the registry reads back).
    Column("spec", Text, nullable=False),
    #: Where it came from (a file name), for ``daytwo owners show``.
    Column("source", String(512), nullable=True),
    Column("created_at", Double, nullable=False),
    Column("created_by", String(128), nullable=False),
)

incidents = Table(
    "incidents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("title", String(512), nullable=False),
    Column("status", String(16), nullable=False),
    Column("severity", String(8), nullable=False),
    Column("stage", String(16), nullable=False),
    Column("impact", String(8), nullable=True),
    Column("urgency", String(8), nullable=True),
    #: ``Source`` of the first alert (or "manual").
    Column("source", String(16), nullable=False),
    #: What kind of alert opened it (``slo.page``, ``alertmanager``, ``instance.parked``).
    Column("kind", String(64), nullable=False),
    #: The key triggers are grouped by while the incident is open (NULL: opened by hand).
    Column("dedup_key", String(512), nullable=True),
    Column("workflow", String(255), nullable=True),
    Column("dependency", String(255), nullable=True),
    Column("assignee", String(255), nullable=True),
    Column("ownership_version", Integer, nullable=True),
    #: JSON object: the labels of the first alert.
    Column("labels", Text, nullable=False),
    #: JSON object: stage -> when it was reached (the stages' timestamps).
    Column("stages", Text, nullable=False),
    Column("opened_at", Double, nullable=False),
    Column("opened_by", String(128), nullable=False),
    Column("acknowledged_at", Double, nullable=True),
    Column("acknowledged_by", String(128), nullable=True),
    Column("resolved_at", Double, nullable=True),
    Column("resolved_by", String(128), nullable=True),
    #: When an alert last fired or resolved (the quiet period counts from here).
    Column("last_signal_at", Double, nullable=False),
    #: Resolve on its own after this many seconds without a signal (sources that never
    #: send a resolve); NULL: never.
    Column("quiet_after", Double, nullable=True),
    Index("ix_incidents_status", "status", "opened_at"),
    Index("ix_incidents_workflow", "workflow", "status"),
    Index("ix_incidents_opened_at", "opened_at"),
)

#: The alerts attached to an incident, one row per alert key (an Alertmanager alert's
#: fingerprint, a PagerDuty dedup_key, an SLO alert's dedup key).
incident_alerts = Table(
    "incident_alerts",
    metadata,
    Column("incident_id", Integer, primary_key=True),
    Column("alert_key", String(512), primary_key=True),
    #: The incident's grouping key, repeated so that an open key is found by index.
    Column("dedup_key", String(512), nullable=False),
    Column("source", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("summary", String(1024), nullable=False),
    Column("labels", Text, nullable=False),
    Column("first_at", Double, nullable=False),
    Column("last_at", Double, nullable=False),
    Column("count", Integer, nullable=False),
    Index("ix_incident_alerts_dedup", "dedup_key", "state"),
)

#: Everything that happened to an incident, in order (``TimelineKind``). Operator actions
#: on the affected instances are read from the audit log and merged in, not copied here.
incident_timeline = Table(
    "incident_timeline",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", Integer, nullable=False),
    Column("at", Double, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("actor", String(255), nullable=False),
    Column("text", Text, nullable=False),
    #: JSON object with the details (alert key, old and new severity, channel, ...).
    Column("data", Text, nullable=False),
    Index("ix_incident_timeline_incident", "incident_id", "id"),
)

#: One row per message to one recipient over one channel for one outbox event: the
#: notifier's record of what it sent, so a redelivered event never sends twice.
incident_notifications = Table(
    "incident_notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", Integer, nullable=False),
    #: The outbox event the message is about (its seq).
    Column("event_seq", Integer, nullable=False),
    Column("recipient", String(255), nullable=False),
    Column("channel", String(16), nullable=False),
    #: Where it went, without secrets (a URL's host and path, an e-mail address).
    Column("target", String(512), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("error", Text, nullable=True),
    Column("created_at", Double, nullable=False),
    Column("delivered_at", Double, nullable=True),
    UniqueConstraint("event_seq", "recipient", "channel", name="uq_incident_notifications"),
    Index("ix_incident_notifications_incident", "incident_id", "id"),
)
