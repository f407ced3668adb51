"""The tables of the operator toolbox, on the engine's :data:`metadata`: circuit breakers
and their windows and probes, the audit log, instance links (restarts, forks), bulk jobs
and their items.

Split from ``_schema.py`` by job (that one holds the tables of running instances); one
schema all the same: the same metadata, the same migrations chain (0009-0013), compared
with the migrations by ``tests/store/test_migrations.py``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Double,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from daytwo.store._schema import metadata

__all__ = [
    "audit_log",
    "breaker_calls",
    "breaker_probes",
    "breakers",
    "bulk_items",
    "bulk_jobs",
    "instance_links",
]

#: Circuit breakers per dependency (``_breakers.py``), shared by every worker: the state
#: (a :class:`~daytwo.store.BreakerState`), since when, until when an open circuit may
#: half-open, the half-open probes' results, and the policy as JSON (``policy_source``:
#: ``code`` as the latest worker's declaration wrote it, or ``operator``).
breakers = Table(
    "breakers",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("since", Double, nullable=False),
    Column("until", Double),
    Column("probe_calls", Integer, nullable=False, server_default="0"),
    Column("probe_failures", Integer, nullable=False, server_default="0"),
    Column("probe_slow", Integer, nullable=False, server_default="0"),
    Column("policy", Text, nullable=False),
    Column("policy_source", String(16), nullable=False),
    Column("reason", Text),
    Column("changed_by", String(255)),
    Column("updated_at", Double, nullable=False),
)

#: The sliding window of a closed breaker: one row per recorded call (a
#: :class:`~daytwo.store.CallOutcome`), pruned to the window at each record (the last N
#: calls, or the last N seconds).
breaker_calls = Table(
    "breaker_calls",
    metadata,
    Column(
        "id",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("name", String(255), nullable=False),
    Column("at", Double, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("duration", Double, nullable=False),
    Index("ix_breaker_calls_name_id", "name", "id"),
    Index("ix_breaker_calls_name_at", "name", "at"),
    sqlite_autoincrement=True,
)

#: Half-open probe permits in flight: like a dependency slot, a permit counts only while
#: its instance still runs under the lease token it was taken with.
breaker_probes = Table(
    "breaker_probes",
    metadata,
    Column("name", String(255), nullable=False),
    Column("instance_id", String(255), nullable=False),
    Column("lease_token", Integer, nullable=False),
    Column("taken_at", Double, nullable=False),
    PrimaryKeyConstraint("name", "instance_id", name="pk_breaker_probes"),
)

#: The audit log (``_audit.py``): one row per operator action, single or bulk, refused ones
#: included. An action's row is written in the transaction that carries the action out, so
#: the log never shows an action that did not happen (nor misses one that did); a refusal
#: is written on its own. ``target`` is an instance id, a task id or a name; a bulk action
#: records its ``selection`` (the query, JSON) and the ``count`` it acted on.
audit_log = Table(
    "audit_log",
    metadata,
    Column(
        "id",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("at", Double, nullable=False),
    Column("actor", String(255), nullable=False),
    #: What was done: an :class:`~daytwo.store.OperatorAction` (packages add their own).
    Column("action", String(64), nullable=False),
    #: What it was done to: an :class:`~daytwo.store.AuditTarget`.
    Column("target_kind", String(32), nullable=False),
    Column("target", String(300), nullable=False),
    Column("reason", Text),
    #: JSON object: the action's parameters (a skip's result, a queue's new limits).
    Column("params", Text),
    #: JSON object: the query of a bulk action.
    Column("selection", Text),
    Column("count", Integer),
    #: An :class:`~daytwo.store.AuditOutcome`, and what it means in words.
    Column("outcome", String(16), nullable=False),
    Column("detail", Text),
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_target", "target_kind", "target"),
    sqlite_autoincrement=True,
)

#: How instances descend from each other (``_links.py``): ``instance_id`` was made from
#: ``linked_id`` (a restart, a fork at ``position``; child workflows later). Read only when
#: one instance is shown, from either side (hence the index on ``linked_id``).
instance_links = Table(
    "instance_links",
    metadata,
    Column("instance_id", String(255), nullable=False),
    Column("linked_id", String(255), nullable=False),
    #: A :class:`~daytwo.store.LinkKind`.
    Column("kind", String(32), nullable=False),
    Column("position", Integer),
    Column("created_at", Double, nullable=False),
    PrimaryKeyConstraint("instance_id", "kind", "linked_id", name="pk_instance_links"),
    Index("ix_instance_links_linked", "linked_id", "kind"),
)

#: One row per bulk action (``_bulk.py``): what it does (``action``, ``params`` JSON), to
#: which instances (``selection``, the query as JSON, evaluated once when the job starts),
#: who asked and why, its pace, and how it stands. ``audit_id`` is its audit row.
bulk_jobs = Table(
    "bulk_jobs",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("action", String(64), nullable=False),
    Column("params", Text),
    Column("selection", Text, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("reason", Text),
    #: A :class:`~daytwo.store.BulkStatus`.
    Column("status", String(16), nullable=False),
    Column("selected", Integer, nullable=False),
    Column("rate", Double, nullable=False),
    Column("batch_size", Integer, nullable=False),
    Column("audit_id", BigInteger),
    Column("detail", Text),
    Column("created_at", Double, nullable=False),
    Column("finished_at", Double),
)

#: The instances of a bulk job, one row each, written when the job starts (``pending``)
#: and updated in the transaction of the action on that instance: a batch run again after
#: a crash finds the instances already acted on, so each is acted on once.
bulk_items = Table(
    "bulk_items",
    metadata,
    Column("job_id", String(255), nullable=False),
    Column("instance_id", String(255), nullable=False),
    #: A :class:`~daytwo.store.BulkOutcome`.
    Column("outcome", String(16), nullable=False),
    Column("detail", Text),
    Column("acted_at", Double),
    PrimaryKeyConstraint("job_id", "instance_id", name="pk_bulk_items"),
    # A batch takes the next pending instances by id.
    Index("ix_bulk_items_outcome", "job_id", "outcome", "instance_id"),
    sqlite_with_rowid=False,
)
