"""The SLO package's tables, on the store's shared metadata (the engine's counters,
``slo_buckets``, are the store's: the hot path writes them)."""

from __future__ import annotations

from sqlalchemy import Column, Double, Index, Integer, PrimaryKeyConstraint, String, Table, Text

from daytwo.store import metadata

__all__ = ["slo_alerts", "slo_definitions", "slo_evaluations"]

#: Every version of every SLO definition: a changed objective gets a new version, and the
#: evaluations and alerts made under the old one keep pointing at it.
slo_definitions = Table(
    "slo_definitions",
    metadata,
    Column("name", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", String(32), nullable=False),
    Column("spec", Text, nullable=False),
    Column("created_at", Double, nullable=False),
    PrimaryKeyConstraint("name", "version", name="pk_slo_definitions"),
)

#: One row per objective per evaluation: the SLI and budget then, and the raw good/valid
#: counts of gauge indicators (stuck ratio), whose windows are averages of these samples.
slo_evaluations = Table(
    "slo_evaluations",
    metadata,
    Column("objective", String(128), nullable=False),
    Column("at", Double, nullable=False),
    Column("definition_version", Integer, nullable=False),
    Column("good", Double, nullable=False),
    Column("valid", Double, nullable=False),
    Column("sli", Double),
    Column("budget_remaining", Double),
    Column("detail", Text),
    PrimaryKeyConstraint("objective", "at", name="pk_slo_evaluations"),
)

#: Alerts raised by the SLO evaluator; at most one firing row per ``dedup_key``.
slo_alerts = Table(
    "slo_alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dedup_key", String(300), nullable=False),
    Column("objective", String(128), nullable=False),
    Column("definition_version", Integer, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("labels", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("runbook", Text),
    Column("detail", Text),
    Column("fired_at", Double, nullable=False),
    Column("resolved_at", Double),
    Index("ix_slo_alerts_key_status", "dedup_key", "status"),
    Index("ix_slo_alerts_fired", "fired_at"),
)
