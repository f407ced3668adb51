"""Retention: how long a database keeps what has ended, and the service that enforces it.

:class:`Retention` is the policy (``App(retention=...)``, with per-workflow periods from
``@app.workflow(retention=...)``). :class:`RetentionService` is the background service
every worker of such an app runs; one of them at a time does the work, by the store lease
``retention``. Each round deletes (archiving first when asked) the ended instances past
their workflow's period in batches, then prunes the audit log, the delivered outbox events
and old SLO buckets. A round stops after :data:`ROUND_SECONDS` of work, so that a worker
stops promptly, and the next one comes a second later while a backlog remains.

The worker knows nothing of the App: the App hands the service the periods it computed
from its code (``{workflow: seconds}``).
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from daytwo._errors import InvalidInput
from daytwo.engine import Clock, Registry
from daytwo.store import (
    DEFAULT_BATCH,
    ArchiveWriter,
    AuditEntry,
    AuditTarget,
    OperatorAction,
    Store,
    acquire_lease,
    compact_slo_buckets,
    prune_audit,
    prune_outbox,
    purge_ended,
    release_lease,
)

__all__ = [
    "RETENTION_ACTOR",
    "ROUND_SECONDS",
    "SLO_BUCKETS_FLOOR",
    "Retention",
    "RetentionService",
    "check_period",
    "retention_periods",
]

log = logging.getLogger("daytwo.retention")

LEASE_NAME = "retention"
#: Who the audit log says purged instances past their period.
RETENTION_ACTOR = "daytwo:retention"
#: Real seconds of work per round at most (a round ends after the batch that passes it).
ROUND_SECONDS = 10.0
#: While a backlog remains, the next round comes this many seconds later.
BACKLOG_INTERVAL = 1.0
#: SLO buckets are kept at least this long: the longest calendar window (a month) and a day.
SLO_BUCKETS_FLOOR = timedelta(days=32)
#: Rows per batch when pruning the audit log and the outbox.
PRUNE_BATCH = 5000


@dataclass(frozen=True)
class Retention:
    """How long the database keeps ended work; every period optional (None: forever).

    ``instances``: the default period of this app's workflows (a workflow's own
    ``@app.workflow(retention=...)`` wins); an instance goes that long after it ended,
    with its history, attempts, transitions, signals and tasks. Workflows this app's code
    does not declare are left alone (``daytwo purge`` handles those). ``archive_dir``: write
    each batch to a gzip JSON Lines file there before deleting it. ``slo_buckets``: fold
    SLO buckets older than this into all-time totals (at least :data:`SLO_BUCKETS_FLOOR`;
    keep it above your longest SLO window). ``audit``: delete audit rows older than this.
    ``outbox``: delete outbox events older than this that every subscriber has handled.
    (A relative ``archive_dir`` is relative to the worker's current directory.)
    ``batch``: instances per transaction. ``interval``: seconds between rounds.
    """

    instances: timedelta | None = None
    archive_dir: str | os.PathLike[str] | None = None
    slo_buckets: timedelta | None = None
    audit: timedelta | None = None
    outbox: timedelta | None = None
    batch: int = DEFAULT_BATCH
    interval: float = 300.0

    def __post_init__(self) -> None:
        for what in ("instances", "audit", "outbox", "slo_buckets"):
            check_period(f"retention {what}", getattr(self, what))
        if self.slo_buckets is not None and self.slo_buckets < SLO_BUCKETS_FLOOR:
            raise InvalidInput(
                f"retention slo_buckets must be at least {SLO_BUCKETS_FLOOR.days} days (got "
                f"{self.slo_buckets}); keep them longer than your longest SLO window"
            )
        if not isinstance(self.batch, int) or self.batch < 1:
            raise InvalidInput(f"retention batch must be a positive integer (got {self.batch!r})")
        if self.interval <= 0:
            raise InvalidInput(f"retention interval must be positive (got {self.interval!r})")

    @property
    def prunes(self) -> bool:
        """Whether anything besides instances has a period."""
        return any(p is not None for p in (self.slo_buckets, self.audit, self.outbox))


def check_period(what: str, period: timedelta | None) -> None:
    """Refuse a period that is not a positive timedelta (None is forever)."""
    if period is None:
        return
    if not isinstance(period, timedelta) or period <= timedelta(0):
        raise InvalidInput(
            f"{what} must be a positive timedelta, e.g. timedelta(days=90) (got {period!r})"
        )


def retention_periods(registry: Registry, default: timedelta | None) -> dict[str, float]:
    """Seconds each of ``registry``'s workflows keeps its ended instances: its own period
    (the longest over its versions that declare one), else ``default``; workflows kept
    forever are left out."""
    periods: dict[str, float] = {}
    for name, versions in registry.workflows.items():
        own = [d.retention for d in versions.values() if d.retention is not None]
        if own:
            periods[name] = max(own)
        elif default is not None:
            periods[name] = default.total_seconds()
    return periods


class RetentionService:
    """Enforces a :class:`Retention` once per cluster (a :class:`BackgroundService`)."""

    name = "retention"

    def __init__(
        self, store: Store, clock: Clock, retention: Retention, periods: Mapping[str, float]
    ) -> None:
        self.store = store
        self.clock = clock
        self.retention = retention
        #: Seconds after its end that an instance of each workflow is kept.
        self.periods = dict(periods)
        #: Read by the worker before each wait: short while a backlog remains.
        self.interval = retention.interval
        self.owner = f"retention-{uuid.uuid4().hex[:12]}"
        self.lease_seconds = max(3 * retention.interval, 60.0)
        self._renewed_at = 0.0
        #: Instances deleted by this service so far (and rounds it did work in).
        self.deleted = 0
        self.rounds = 0

    def run_once(self) -> None:
        """One round, if this process holds (or can take) the cluster-wide lease."""
        if not self._hold():
            return
        deadline = time.monotonic() + ROUND_SECONDS
        finished = self._purge_instances(deadline) and self._prune(deadline)
        self.interval = self.retention.interval if finished else BACKLOG_INTERVAL
        self.rounds += 1

    def close(self) -> None:
        """Give the lease up (another worker takes over at once)."""
        try:
            release_lease(self.store, LEASE_NAME, self.owner)
        except Exception:  # the database may be gone at shutdown
            log.debug("could not release the retention lease", exc_info=True)

    def _hold(self) -> bool:
        now = self.clock.now()
        if not acquire_lease(self.store, LEASE_NAME, self.owner, now, self.lease_seconds):
            return False
        self._renewed_at = now
        return True

    def _keep_going(self, deadline: float) -> bool:
        if time.monotonic() >= deadline:
            return False
        if self.clock.now() - self._renewed_at >= self.lease_seconds / 2:
            return self._hold()
        return True

    def _purge_instances(self, deadline: float) -> bool:
        archive = None
        if self.retention.archive_dir is not None:
            archive = ArchiveWriter(self.retention.archive_dir)
        for workflow, seconds in sorted(self.periods.items()):
            now = self.clock.now()
            before = now - seconds
            entry = AuditEntry(
                RETENTION_ACTOR,
                OperatorAction.PURGE,
                AuditTarget.WORKFLOW,
                workflow,
                reason=f"retention: ended more than {timedelta(seconds=seconds)} ago",
                selection={
                    "workflow": workflow,
                    "before": datetime.fromtimestamp(before, UTC).isoformat(),
                },
            )
            run = purge_ended(
                self.store, {workflow: before}, self.clock.now,
                batch=self.retention.batch, archive=archive, audit=entry,
                keep_going=lambda: self._keep_going(deadline),
                audit_empty=False,
            )  # fmt: skip
            if run.deleted:
                self.deleted += run.deleted
                log.info("retention purged %d ended instance(s) of %s", run.deleted, workflow)
            if run.interrupted:
                return False
        return True

    def _prune(self, deadline: float) -> bool:
        retention, now = self.retention, self.clock.now()
        pruners: list[Callable[[sa.Connection], int]] = []
        if retention.audit is not None:
            cut = now - retention.audit.total_seconds()
            pruners.append(lambda conn: prune_audit(conn, cut, PRUNE_BATCH))
        if retention.outbox is not None:
            cut_outbox = now - retention.outbox.total_seconds()
            pruners.append(lambda conn: prune_outbox(conn, cut_outbox, PRUNE_BATCH))
        for prune in pruners:
            while True:
                if not self._keep_going(deadline):
                    return False
                with self.store.write() as conn:
                    if prune(conn) < PRUNE_BATCH:
                        break
        if retention.slo_buckets is not None:
            with self.store.write() as conn:
                compact_slo_buckets(conn, now - retention.slo_buckets.total_seconds())
        return True
