"""The database schema, in SQLAlchemy Core.

One schema for SQLite and PostgreSQL. Times are stored as epoch seconds (double precision):
one portable representation, cheap to compare, and what the injectable clock returns.
User values are JSON text. Alembic migrations under ``store/migrations`` create and upgrade
exactly these tables; a test checks that the two agree.

These are the engine's tables. An operations package declares its own in its
``_tables.py`` on the same :data:`metadata` (``slo/_tables.py``), so one schema holds them
all; it may read the engine's tables through ``daytwo.store``'s public names, and writes
only its own.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import (
    BigInteger,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from daytwo.store._vocabulary import InstanceStatus

metadata = MetaData()

#: Conditions of the partial indexes, written as literals in queries that must use them
#: (a query planner matches a partial index only against the same literal condition, not a
#: bound parameter). Built from the enum once, at import: the text is still a literal
#: (``status = 'RUNNABLE'``), and the migrations that created the indexes spell the same.
READY = f"status = '{InstanceStatus.RUNNABLE}'"
TIMED = f"status = '{InstanceStatus.WAITING}' AND run_at IS NOT NULL"
RUNNING = f"status = '{InstanceStatus.RUNNING}'"
#: Ended instances: ``finished_at`` is set exactly when an instance reaches a terminal status.
ENDED = "finished_at IS NOT NULL"
#: Instances started as a child by another (the parent index).
CHILD = "parent_id IS NOT NULL"
#: Columns only a child's row sets; the hot-path inserts of other instances leave them out.
PARENT_COLUMNS = ("parent_id", "parent_close")
#: Live instances with a deadline (``@app.workflow(timeout=...)``): the deadline service
#: reads only these, so instances without a deadline, and ended ones, cost it nothing.
DEADLINED = "deadline_at IS NOT NULL AND finished_at IS NULL"

#: One row per workflow instance. ``run_at`` is when a worker may claim the instance: the due
#: time of a runnable or waiting instance, the lease expiry of a running one, NULL when only
#: an event can wake it or it has ended. A single indexed column keeps the claim query simple.
instances = Table(
    "instances",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("workflow", String(255), nullable=False),
    Column("version", String(64), nullable=False),
    Column("status", String(32), nullable=False),
    Column("state", String(255), nullable=False),
    Column("state_entered_at", Double, nullable=False),
    Column("input", Text, nullable=False),
    Column("output", Text),
    Column("error", Text),
    Column("cancel_reason", Text),
    Column("queue", String(255), nullable=False, server_default="default"),
    Column("priority", Integer, nullable=False, server_default="0"),
    Column("run_at", Double),
    Column("wake_at", Double),
    Column("wait_kind", String(16)),
    Column("wait_name", String(255)),
    Column("wait_seq", Integer),
    Column("attempt", Integer, nullable=False, server_default="0"),
    Column("lease_owner", String(64)),
    Column("lease_token", Integer, nullable=False, server_default="0"),
    Column("history_size", Integer, nullable=False, server_default="0"),
    Column("transition_count", Integer, nullable=False, server_default="0"),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Column("finished_at", Double),
    # A child workflow's parent instance and what the parent's end does to it (a
    # :class:`ParentClose`); both NULL for an instance nothing started as a child.
    Column("parent_id", String(255)),
    Column("parent_close", String(16)),
    # When the instance fails for exceeding its deadline (set at creation, never updated by
    # its runs: no index of the hot path covers it).
    Column("deadline_at", Double),
    # Claiming and "when is the next one due" look only at instances that have a run_at,
    # through two partial indexes, so their cost does not depend on how many finished
    # instances the table holds. Runnable instances are taken from their queue by priority,
    # then FIFO; fired timers and expired leases of the worker's workflows by due time.
    Index(
        "ix_instances_ready",
        "queue",
        "priority",
        "run_at",
        sqlite_where=sa.text(READY),
        postgresql_where=sa.text(READY),
    ),
    Index(
        "ix_instances_due",
        "workflow",
        "version",
        "run_at",
        sqlite_where=sa.text(TIMED),
        postgresql_where=sa.text(TIMED),
    ),
    # Counting a queue's running instances (its global concurrency limit) reads only them.
    Index(
        "ix_instances_running",
        "queue",
        "run_at",
        sqlite_where=sa.text(RUNNING),
        postgresql_where=sa.text(RUNNING),
    ),
    # created_at last: the SLO evaluator counts a workflow's active instances created before
    # a cut-off (still running past their cycle-time target) from this index alone.
    Index("ix_instances_workflow_status", "workflow", "status", "created_at"),
    # Retention reads a workflow's ended instances oldest first (store/_retention.py);
    # live rows are not in this index, and an instance enters it once, when it ends.
    Index(
        "ix_instances_ended",
        "workflow",
        "finished_at",
        sqlite_where=sa.text(ENDED),
        postgresql_where=sa.text(ENDED),
    ),
    # A parent's children (status, cancel on the parent's end): only children are in it.
    Index(
        "ix_instances_parent",
        "parent_id",
        sqlite_where=sa.text(CHILD),
        postgresql_where=sa.text(CHILD),
    ),
    # The deadline service finds the live instances whose deadline has passed, soonest
    # first; an instance enters this index at creation (if it has a deadline) and leaves it
    # when it ends.
    Index(
        "ix_instances_deadline",
        "deadline_at",
        sqlite_where=sa.text(DEADLINED),
        postgresql_where=sa.text(DEADLINED),
    ),
)

#: The columns every start writes (the hot-path inserts), all but :data:`PARENT_COLUMNS`.
START_COLUMNS = tuple(column for column in instances.c if column.name not in PARENT_COLUMNS)

#: The durable operations of an instance in call order. ``(instance_id, seq)`` is the primary
#: key, which is what makes every outcome recorded exactly once.
history = Table(
    "history",
    metadata,
    Column("instance_id", String(255), ForeignKey("instances.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("name", String(255), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("args", Text),
    Column("result", Text),
    Column("error", Text),
    Column("attempt", Integer, nullable=False, server_default="1"),
    Column("idempotency_key", String(300)),
    Column("started_at", Double, nullable=False),
    Column("finished_at", Double, nullable=False),
    Column("detail", Text),
    PrimaryKeyConstraint("instance_id", "seq", name="pk_history"),
    sqlite_with_rowid=False,
)

#: Every failed attempt of a step or compensation (the successful one is its history row).
step_attempts = Table(
    "step_attempts",
    metadata,
    Column("instance_id", String(255), ForeignKey("instances.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("name", String(255), nullable=False),
    Column("error", Text, nullable=False),
    Column("idempotency_key", String(300), nullable=False),
    Column("started_at", Double, nullable=False),
    Column("finished_at", Double, nullable=False),
    Column("retry_at", Double),
    PrimaryKeyConstraint("instance_id", "seq", "attempt", name="pk_step_attempts"),
    sqlite_with_rowid=False,
)

#: Each change of an instance's state label, the raw material of time-in-state and backlog.
#: Keyed like ``history`` by (instance, per-instance number) and clustered on that key, so an
#: instance's transitions are read without a secondary index and a commit appends to one
#: b-tree instead of a table and an index.
transitions = Table(
    "transitions",
    metadata,
    Column("instance_id", String(255), ForeignKey("instances.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("from_state", String(255)),
    Column("to_state", String(255), nullable=False),
    Column("status", String(32), nullable=False),
    Column("at", Double, nullable=False),
    PrimaryKeyConstraint("instance_id", "seq", name="pk_transitions"),
    sqlite_with_rowid=False,
)

#: Signals delivered to instances; ``consumed_seq`` is the history position that took it.
signals = Table(
    "signals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("instance_id", String(255), ForeignKey("instances.id"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("payload", Text, nullable=False),
    Column("sent_by", String(255)),
    Column("received_at", Double, nullable=False),
    Column("consumed_seq", Integer),
    Index("ix_signals_pending", "instance_id", "name", "consumed_seq"),
)

#: The human-task inbox.
human_tasks = Table(
    "human_tasks",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("instance_id", String(255), ForeignKey("instances.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("name", String(255), nullable=False),
    Column("assignee", String(255)),
    Column("payload", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("result", Text),
    Column("due_at", Double),
    Column("created_at", Double, nullable=False),
    Column("completed_at", Double),
    Column("completed_by", String(255)),
    #: Set when the task was closed because its instance ended while it was open.
    Column("closed_reason", Text),
    #: JSON: its reminders, escalation chain and timeout as absolute times (migration 0012;
    #: ``_task_plans.TaskPlan``), NULL for a task without any.
    Column("plan", Text),
    #: Index in the plan's steps of the next reminder or escalation (NULL: all taken; a
    #: closed task keeps the index of the first step it never took), and when it is due:
    #: the task-deadline service takes ``next_action_at <= now``, NULL once nothing is
    #: left or the task is no longer open.
    Column("next_step", Integer),
    Column("next_action_at", Double),
    UniqueConstraint("instance_id", "seq", name="uq_human_tasks_instance_seq"),
    Index("ix_human_tasks_status", "status", "assignee"),
    Index("ix_human_tasks_next_action", "next_action_at"),
)

#: What happened to each human task, in order: created, reminded, escalated, reassigned,
#: completed, cancelled, timed out, closed (a :class:`~daytwo.store.TaskEventKind`).
task_events = Table(
    "task_events",
    metadata,
    Column(
        "id",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("task_id", String(64), ForeignKey("human_tasks.id"), nullable=False),
    Column("at", Double, nullable=False),
    Column("kind", String(16), nullable=False),
    #: Who: a person (``by=``), or ``daytwo`` for the plan's own steps.
    Column("actor", String(255)),
    Column("from_assignee", String(255)),
    Column("to_assignee", String(255)),
    #: The reason given, or what the step was ("1h before due").
    Column("detail", Text),
    Index("ix_task_events_task", "task_id", "id"),
    sqlite_autoincrement=True,
)

#: Worker processes, for leases and for telling a dead worker from a live one, and what
#: each serves (its registration, ``store/_workers.py``): a worker is live while it has not
#: stopped and its last heartbeat is within its lease. The JSON columns are NULL for
#: workers of a daytwo from before registrations (they may serve anything).
workers = Table(
    "workers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("concurrency", Integer, nullable=False),
    Column("started_at", Double, nullable=False),
    Column("heartbeat_at", Double, nullable=False),
    Column("stopped_at", Double),
    Column("lease_seconds", Double),
    #: JSON list of the queue names it claims from.
    Column("queues", Text),
    #: JSON list of [workflow, version, default queue] it runs.
    Column("workflows", Text),
    #: JSON object: step name -> the dependency it calls (or null).
    Column("steps", Text),
)

#: Flow-control settings of a named queue. A queue without a row has no limits.
queues = Table(
    "queues",
    metadata,
    Column("name", String(255), primary_key=True),
    #: At most this many of the queue's instances run at once, across all workers.
    Column("concurrency", Integer),
    #: At most this many run at once in one worker process.
    Column("worker_concurrency", Integer),
    #: At most ``rate_limit`` instances start (are first dequeued) per ``rate_period`` seconds.
    Column("rate_limit", Integer),
    Column("rate_period", Double),
    Column("updated_at", Double, nullable=False),
)

#: Recent first dequeues of rate-limited queues (pruned past the period): the rate limit
#: counts these instead of scanning instances.
queue_starts = Table(
    "queue_starts",
    metadata,
    Column("queue", String(255), nullable=False),
    Column("at", Double, nullable=False),
    Column("instance_id", String(255), nullable=False),
    PrimaryKeyConstraint("queue", "at", "instance_id", name="pk_queue_starts"),
)

#: Paused starts of a workflow (``step`` is the empty string) or a paused step of it.
pauses = Table(
    "pauses",
    metadata,
    Column("workflow", String(255), nullable=False),
    Column("step", String(255), nullable=False),
    Column("reason", Text),
    Column("paused_by", String(255)),
    Column("paused_at", Double, nullable=False),
    PrimaryKeyConstraint("workflow", "step", name="pk_pauses"),
)

#: Cluster-wide concurrency limits on calls to a named dependency (``@app.step(dependency=)``).
dependency_limits = Table(
    "dependency_limits",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("concurrency", Integer, nullable=False),
    Column("updated_at", Double, nullable=False),
)

#: Calls in flight to a limited dependency. A slot counts only while its instance still
#: holds the lease it was taken under, so a crashed worker's slots free themselves when
#: its leases are taken over.
dependency_slots = Table(
    "dependency_slots",
    metadata,
    Column("dependency", String(255), nullable=False),
    Column("instance_id", String(255), nullable=False),
    Column("lease_token", Integer, nullable=False),
    Column("acquired_at", Double, nullable=False),
    #: 0: the instance's step call; a fan-out branch's slot: the branch's position (> 0).
    Column("branch", Integer, nullable=False, server_default="0"),
    PrimaryKeyConstraint("dependency", "instance_id", "branch", name="pk_dependency_slots"),
)

#: SLO aggregates: event counts per (workflow, version) in time buckets of two resolutions
#: (minutes for the short alert windows, hours for the long ones). Updated in the same
#: transaction as the state change they count (``_aggregates.py``), so evaluating a 28-day
#: objective reads at most a few thousand rows however many instances ever ran. ``series``
#: is ``end:<STATUS>:<cycle-time bound>``, ``retry:<step>`` or ``comp:<step>``.
#: ``cycle_seconds`` sums the cycle times of the instances an ``end:`` row counts (0 for the
#: other series: the histogram's ``_sum``); ``last_at`` is the time of the row's latest event
#: (the objectives' last-event timestamp).
slo_buckets = Table(
    "slo_buckets",
    metadata,
    Column("workflow", String(255), nullable=False),
    Column("resolution", Integer, nullable=False),
    Column("bucket_start", Double, nullable=False),
    Column("version", String(64), nullable=False),
    Column("series", String(300), nullable=False),
    Column("events", Integer, nullable=False),
    Column("cycle_seconds", Double, nullable=False, server_default="0"),
    Column("last_at", Double, nullable=False, server_default="0"),
    PrimaryKeyConstraint(
        "workflow", "resolution", "bucket_start", "version", "series", name="pk_slo_buckets"
    ),
    sqlite_with_rowid=False,
)

#: Named leases for cluster-wide singletons (the SLO evaluator, each outbox subscriber's
#: delivery): one holder at a time (``_leases.py``).
service_leases = Table(
    "service_leases",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("owner", String(128), nullable=False),
    Column("expires_at", Double, nullable=False),
)

#: The durable outbox (``_outbox.py``): state changes other packages react to (an alert
#: fired, an instance ended badly), each appended in the transaction that makes the change.
#: ``seq`` is the event's id and its place in one total order: appends are serialised (on
#: PostgreSQL by a transaction-scoped advisory lock held to commit), so a reader that has
#: seen ``seq`` committed has seen every lower one that will ever commit. SQLite's
#: AUTOINCREMENT (and PostgreSQL's sequence) never hands out a number twice, even after
#: the newest rows are deleted.
outbox_events = Table(
    "outbox_events",
    metadata,
    Column(
        "seq",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("kind", String(64), nullable=False),
    #: What the event is about: an instance id, an alert's dedup key.
    Column("key", String(300), nullable=False),
    #: JSON object.
    Column("payload", Text, nullable=False),
    Column("created_at", Double, nullable=False),
    # A subscriber reads the kinds it wants after its position.
    Index("ix_outbox_events_kind_seq", "kind", "seq"),
    sqlite_autoincrement=True,
)

#: Each outbox subscriber's durable progress: ``position`` is the ``seq`` of the last event
#: it handled (every event up to it of the kinds it wants was handled), and the state of
#: its delivery of the next one: failed ``attempts``, when the next is due, the last error.
outbox_subscribers = Table(
    "outbox_subscribers",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", Double),
    Column("last_error", Text),
    Column("delivered_at", Double),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
)
