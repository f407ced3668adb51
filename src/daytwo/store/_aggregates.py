"""SLO aggregates kept in the same transaction as the state changes they count.

When an instance ends, retries a step or runs a compensation, the write that records it
also adds one to a few counters in ``slo_buckets``: per (workflow, version), per time
bucket (a minute and an hour, see :data:`RESOLUTIONS`), per series. An SLO over 28 days
then reads hour buckets, never the instances. Only those events are counted — not every
step — so the hot path pays for an upsert only when an instance ends or something went
wrong.

Series: ``end:<STATUS>:<bound>`` (one per ended instance, by end status and cycle-time
histogram bin: the smallest bound in :data:`CYCLE_TIME_BOUNDS` at or above
created→finished, else ``inf``; one series for both keeps it to one upsert per resolution),
``retry:<step>`` (a failed step attempt), ``comp:<step>`` (a compensation run).

Besides ``events``, the same upsert keeps two columns: ``cycle_seconds``, the sum of the
cycle times an ``end:`` row counts (the histogram's exact ``_sum``; 0 in other rows), and
``last_at``, the time of the row's latest event (an objective's last-event timestamp, for
its no-data alert). Neither costs a statement: they ride on the increment that is there.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from daytwo.store._schema import slo_buckets
from daytwo.store._vocabulary import HistoryKind

__all__ = [
    "BUCKET_KEY",
    "CYCLE_TIME_BOUNDS",
    "RESOLUTIONS",
    "add_events_on_conflict",
    "bucket_key",
    "bucket_rows",
    "bucket_upsert",
    "cycle_time_bin",
    "end_series",
    "merge_bucket_rows",
]

#: Bucket lengths in seconds: minutes for alert windows of up to a few hours, hours for
#: the rest.
RESOLUTIONS = (60, 3600)

#: Upper bounds (seconds) of the stored cycle-time histogram. Objectives' targets must be
#: one of them so that "finished within the target" is an exact count.
CYCLE_TIME_BOUNDS: tuple[float, ...] = tuple(
    sorted(
        [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1200, 1800, 2700]
        + [h * 3600 for h in (1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 36, 48, 72, 96, 120)]
        + [d * 86400 for d in (7, 10, 14, 21, 28, 30, 45, 60, 90)]
    )
)
_BINS = (*(f"{bound:g}" for bound in CYCLE_TIME_BOUNDS), "inf")
_COMPENSATION = HistoryKind.COMPENSATION.value


def cycle_time_bin(seconds: float) -> str:
    """The histogram bin (its upper bound, or ``inf``) of an instance that took ``seconds``."""
    return _BINS[bisect.bisect_left(CYCLE_TIME_BOUNDS, seconds)]


def end_series(status: str, seconds: float) -> str:
    """The series an instance that ended ``status`` after ``seconds`` is counted in."""
    return f"end:{status}:{cycle_time_bin(seconds)}"


_Upsert = TypeVar("_Upsert", postgresql.Insert, sqlite.Insert)

#: The primary key of ``slo_buckets``.
BUCKET_KEY = tuple(column.name for column in slo_buckets.primary_key.columns)


def bucket_key(row: dict[str, Any]) -> tuple[Any, ...]:
    """The primary key of a ``slo_buckets`` row: the order in which writers lock them."""
    return tuple(row[name] for name in BUCKET_KEY)


def merge_bucket_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sum increments of the same bucket (one statement may upsert a row only once), in
    :func:`bucket_key` order."""
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        key = bucket_key(row)
        if key in merged:
            before = merged[key]
            merged[key] = {
                **before,
                "events": before["events"] + row["events"],
                "cycle_seconds": before["cycle_seconds"] + row["cycle_seconds"],
                "last_at": max(before["last_at"], row["last_at"]),
            }
        else:
            merged[key] = row
    return [merged[key] for key in sorted(merged)]


def add_events_on_conflict(statement: _Upsert) -> _Upsert:
    """``... ON CONFLICT (key) DO UPDATE SET events = events + excluded.events`` (and the
    cycle-time sum likewise; ``last_at`` the later of the two)."""
    excluded = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=list(BUCKET_KEY),
        set_={
            "events": slo_buckets.c.events + excluded.events,
            "cycle_seconds": slo_buckets.c.cycle_seconds + excluded.cycle_seconds,
            # CASE rather than max()/GREATEST(): one spelling for both dialects.
            "last_at": sa.case(
                (excluded.last_at > slo_buckets.c.last_at, excluded.last_at),
                else_=slo_buckets.c.last_at,
            ),
        },
    )


def bucket_upsert(dialect_name: str) -> sa.Insert:
    """One bucket row inserted, or its ``events`` added to the stored row."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    statement = dialect.insert(slo_buckets).values(
        {c.name: sa.bindparam(c.name) for c in slo_buckets.c}
    )
    upsert: sa.Insert = add_events_on_conflict(statement)
    return upsert


def _add(
    rows: list[dict[str, Any]],
    workflow: str,
    version: str,
    at: float,
    series: str,
    cycle_seconds: float = 0.0,
) -> None:
    for resolution in RESOLUTIONS:
        rows.append(
            {
                "workflow": workflow,
                "resolution": resolution,
                "bucket_start": at - at % resolution,
                "version": version,
                "series": series,
                "events": 1,
                "cycle_seconds": cycle_seconds,
                "last_at": at,
            }
        )


def bucket_rows(
    identity: tuple[str, str, float] | None,
    values: dict[str, Any],
    attempts: Iterable[dict[str, Any]],
    history: Iterable[dict[str, Any]],
) -> list[dict[str, Any]]:
    """The counter increments of one instance write (usually none).

    ``identity`` is (workflow, version, created_at) of the instance; ``values`` its new
    run columns; ``attempts`` and ``history`` the rows the write adds.
    """
    rows: list[dict[str, Any]] = []
    if identity is None:
        return rows
    workflow, version, created_at = identity
    for attempt in attempts:
        _add(rows, workflow, version, attempt["finished_at"], f"retry:{attempt['name']}")
    for event in history:
        if event["kind"] == _COMPENSATION:
            _add(rows, workflow, version, event["finished_at"], f"comp:{event['name']}")
    finished_at = values["finished_at"]
    if finished_at is not None:
        took = finished_at - created_at
        _add(rows, workflow, version, finished_at, end_series(values["status"], took), took)
    return rows
