"""``client.purge``: delete ended instances before a moment, on an operator's command.

A dry run (the default) counts what would go, per workflow, with the oldest and newest
finish times, and changes nothing. A real purge deletes in batches (``daytwo.store``'s
``purge_ended``, the loop the retention service runs), archiving each batch first when
asked, and is audited (``OperatorAction.PURGE``: the selection and the count). Only ended
instances are ever selected; a moment in the future is refused, since it never means
what was meant.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daytwo._audit import resolve_actor
from daytwo._errors import InvalidInput
from daytwo._moments import parse_moment
from daytwo.store import (
    DEFAULT_BATCH,
    ArchiveWriter,
    AuditEntry,
    AuditTarget,
    OperatorAction,
    PurgeRun,
    count_ended,
    ended_workflows,
    purge_ended,
)

if TYPE_CHECKING:
    from daytwo._client import Client

__all__ = ["PurgeReport", "WorkflowPurge", "purge"]


@dataclass(frozen=True)
class WorkflowPurge:
    """The ended instances of one workflow a purge selects."""

    workflow: str
    count: int
    oldest: datetime | None
    newest: datetime | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (times as ISO 8601)."""
        return {
            "workflow": self.workflow,
            "count": self.count,
            "oldest": None if self.oldest is None else self.oldest.isoformat(),
            "newest": None if self.newest is None else self.newest.isoformat(),
        }


@dataclass(frozen=True)
class PurgeReport:
    """What a purge selected and, unless it was a dry run, deleted."""

    before: datetime
    workflow: str | None
    dry_run: bool
    #: What the selection held when the purge began, per workflow.
    selected: list[WorkflowPurge]
    deleted: int = 0
    archives: list[Path] = field(default_factory=list)

    @property
    def count(self) -> int:
        """How many ended instances were selected."""
        return sum(w.count for w in self.selected)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "before": self.before.isoformat(),
            "workflow": self.workflow,
            "dry_run": self.dry_run,
            "count": self.count,
            "deleted": self.deleted,
            "workflows": [w.to_dict() for w in self.selected],
            "archives": [str(p) for p in self.archives],
        }


def purge(
    client: Client,
    before: str | datetime | float | timedelta,
    *,
    workflow: str | None = None,
    archive_dir: str | Path | None = None,
    dry_run: bool = True,
    force: bool = False,
    batch: int = DEFAULT_BATCH,
    reason: str | None = None,
    by: str | None = None,
    progress: Callable[[PurgeRun], None] | None = None,
) -> PurgeReport:
    """The implementation of :meth:`Client.purge` (see there)."""
    now = client.clock.now()
    entry = AuditEntry(
        resolve_actor(by),
        OperatorAction.PURGE,
        AuditTarget.SELECTION if workflow is None else AuditTarget.WORKFLOW,
        "*" if workflow is None else workflow,
        reason,
        params={"archive_dir": None if archive_dir is None else str(archive_dir)},
        selection={"workflow": workflow, "before": str(before)},
    )
    with client.audit.refusals(entry):
        cut = _cutoff(before, now)
        if not isinstance(batch, int) or batch < 1:
            raise InvalidInput(f"purge batch must be a positive integer (got {batch!r})")
        if workflow is not None and not force:
            client.flow.names.workflow(workflow)
        archive = None if archive_dir is None else ArchiveWriter(archive_dir)
        if archive is not None and not dry_run:
            try:
                archive.check()
            except OSError as exc:
                raise InvalidInput(
                    f"cannot write archives to {archive_dir}: {exc.strerror or exc}; give a "
                    "writable --archive directory"
                ) from None
    store = client.store
    with store.read() as conn:
        selected = []
        for name in ended_workflows(conn, workflow):
            count, oldest, newest = count_ended(conn, name, cut)
            if count:
                selected.append(WorkflowPurge(name, count, _at(oldest), _at(newest)))
    report = PurgeReport(datetime.fromtimestamp(cut, UTC), workflow, dry_run, selected)
    if dry_run:
        return report
    selection = {"workflow": workflow, "before": report.before.isoformat()}
    run = purge_ended(
        store, {w.workflow: cut for w in selected}, client.clock.now,
        batch=batch, archive=archive, on_batch=progress,
        audit=replace(entry, selection=selection),
    )  # fmt: skip
    return PurgeReport(report.before, workflow, False, selected, run.deleted, run.archives)


def _cutoff(before: str | datetime | float | timedelta, now: float) -> float:
    if isinstance(before, str):
        try:
            cut = parse_moment(before, now, "--before")
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
    elif isinstance(before, timedelta):
        cut = now - before.total_seconds()
    elif isinstance(before, datetime):
        cut = (before if before.tzinfo else before.replace(tzinfo=UTC)).timestamp()
    elif isinstance(before, int | float) and not isinstance(before, bool):
        cut = float(before)
    else:
        raise InvalidInput(
            f"purge before must be a moment (90d, an ISO date, a datetime, epoch seconds), "
            f"not {before!r}"
        )
    if cut > now:
        moment = datetime.fromtimestamp(cut, UTC).isoformat(timespec="seconds")
        raise InvalidInput(
            f"--before {moment} is in the future; purge selects instances that ended before "
            "a moment in the past (e.g. --before 90d)"
        )
    return cut


def _at(seconds: float) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds else None
