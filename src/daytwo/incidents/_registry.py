"""Ownership versions in the store, and the assessor that judges new incidents by the
version in force.

``apply`` stores a validated :class:`Ownership` as a new version when its content changed
(the same definition applied twice is one version), audited in the same transaction. The
newest version is the one in force.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa

from daytwo._errors import DaytwoError
from daytwo.incidents._assessment import Assessment, DefaultAssessor
from daytwo.incidents._ownership import Ownership
from daytwo.incidents._severity import assess
from daytwo.incidents._tables import ownership_versions
from daytwo.incidents._triggers import Trigger
from daytwo.incidents._vocabulary import IncidentAction
from daytwo.store import AuditEntry, AuditTarget, Store, append_audit

__all__ = [
    "NoOwnershipApplied",
    "OwnershipAssessor",
    "OwnershipVersion",
    "apply",
    "history",
    "latest",
    "latest_version",
]


class NoOwnershipApplied(DaytwoError, LookupError):
    """No ``ownership.yaml`` was applied to this database (exit "not found", HTTP 404)."""

    def __init__(self) -> None:
        super().__init__(
            "no ownership registry applied yet; write an ownership.yaml and run "
            "`daytwo owners apply ownership.yaml`"
        )


@dataclass(frozen=True, slots=True)
class OwnershipVersion:
    """One stored version (without its definition)."""

    version: int
    digest: str
    source: str | None
    created_at: float
    created_by: str

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "digest": self.digest, "source": self.source,
                "created_at": self.created_at, "created_by": self.created_by}  # fmt: skip


#: PostgreSQL advisory lock serialising applies ("own" in ASCII): two people applying
#: the same file at once make one version.
_APPLY_LOCK = 0x6F776E


def apply(
    store: Store, ownership: Ownership, *, source: str | None, by: str, now: float
) -> tuple[int, bool]:
    """Put ``ownership`` in force: ``(version, created)``; the version in force unchanged
    when its content is the same. Going back to an older file is a new version with that
    content (the history shows what was in force when)."""
    digest = ownership.digest()
    newest = sa.select(ownership_versions.c.version, ownership_versions.c.digest).order_by(
        ownership_versions.c.version.desc()
    )
    with store.write() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_APPLY_LOCK)))
        current = conn.execute(newest.limit(1)).first()
        if current is not None and current.digest == digest:
            return int(current.version), False
        inserted = conn.execute(
            ownership_versions.insert().values(
                digest=digest,
                spec=json.dumps(ownership.spec(), sort_keys=True),
                source=source,
                created_at=now,
                created_by=by,
            )
        )
        key = inserted.inserted_primary_key
        assert key is not None
        version = int(key[0])
        entry = AuditEntry(
            by, IncidentAction.OWNERSHIP_APPLY, AuditTarget.OWNERSHIP, str(version),
            params={"source": source, "digest": digest},
        )  # fmt: skip
        append_audit(conn, entry, now)
    return version, True


def latest_version(store: Store) -> int | None:
    """The number of the version in force (one cheap query)."""
    with store.read() as conn:
        found = conn.execute(sa.select(sa.func.max(ownership_versions.c.version))).scalar()
    return None if found is None else int(found)


def latest(store: Store) -> tuple[int, Ownership] | None:
    """The version in force and its definition (None: none applied)."""
    query = sa.select(ownership_versions.c.version, ownership_versions.c.spec).order_by(
        ownership_versions.c.version.desc()
    )
    with store.read() as conn:
        row = conn.execute(query.limit(1)).first()
    if row is None:
        return None
    return int(row.version), Ownership.from_spec(json.loads(row.spec))


def version_info(store: Store, version: int) -> OwnershipVersion:
    """The record of ``version`` (which exists)."""
    with store.read() as conn:
        row = conn.execute(
            sa.select(ownership_versions).where(ownership_versions.c.version == version)
        ).one()
    return _version(row)


def history(store: Store) -> list[OwnershipVersion]:
    """Every version applied, oldest first."""
    query = sa.select(ownership_versions).order_by(ownership_versions.c.version)
    with store.read() as conn:
        return [_version(row) for row in conn.execute(query)]


def _version(row: Any) -> OwnershipVersion:
    return OwnershipVersion(
        int(row.version), row.digest, row.source, float(row.created_at), row.created_by
    )


class OwnershipAssessor:
    """Judges new incidents by the ownership version in force (read again when a newer
    one is applied: one ``max(version)`` per new incident), else as the default does."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._cached: tuple[int, Ownership] | None = None
        self._fallback = DefaultAssessor()

    def current(self) -> tuple[int, Ownership] | None:
        """The version in force, from the cache while it is the newest."""
        newest = latest_version(self.store)
        with self._lock:
            cached = self._cached
        if newest is None:
            return None
        if cached is None or cached[0] != newest:
            cached = latest(self.store)
            with self._lock:
                self._cached = cached
        return cached

    def assess(self, trigger: Trigger) -> Assessment:
        current = self.current()
        if current is None:
            return self._fallback.assess(trigger)
        version, ownership = current
        if ownership.entry_for(trigger.workflow, trigger.dependency) is None:
            return replace(self._fallback.assess(trigger), ownership_version=version)
        return assess(trigger, ownership, version)
