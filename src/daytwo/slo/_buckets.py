"""Reading the SLO aggregates: event counts of one workflow over any time window.

Per (workflow, version) and evaluation, three reads of ``slo_buckets``: minute buckets of
the recent past (:data:`MINUTE_SPAN`), hour buckets of the last few days
(:data:`HOUR_SPAN`), and for each window that starts earlier (the SLO window) one ``SUM ...
GROUP BY series`` over its older hours, done by the database. Cumulative sums over the
recent rows then make any window a few bisections. A window is the buckets that overlap
it: hour buckets inside it, minute buckets at its edges, the whole first hour when its start
is older than the minute span.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

import sqlalchemy as sa

from daytwo.store import Store, slo_buckets

__all__ = ["HOUR_SPAN", "MINUTE_SPAN", "Buckets", "OlderCache", "last_end", "load_buckets"]

#: How far back minute buckets are read (the longest short alert window is 6 h).
MINUTE_SPAN = 7 * 3600.0
#: How far back hour buckets are read row by row (the longest alert window is 3 d).
HOUR_SPAN = 3 * 86400.0 + 2 * 3600.0
_MINUTE, _HOUR = 60, 3600


def _floor(value: float, unit: int) -> float:
    return float(math.floor(value / unit) * unit)


class _Series:
    """Cumulative counts per series over sorted bucket starts of one resolution."""

    def __init__(self, rows: Iterable[tuple[float, str, int]]) -> None:
        per_start: dict[float, dict[str, int]] = defaultdict(dict)
        for start, series, events in rows:
            bucket = per_start[start]
            bucket[series] = bucket.get(series, 0) + events
        self.starts = sorted(per_start)
        names = {name for bucket in per_start.values() for name in bucket}
        self.cumulative: dict[str, list[int]] = {}
        for name in names:
            running, column = 0, [0]
            for start in self.starts:
                running += per_start[start].get(name, 0)
                column.append(running)
            self.cumulative[name] = column

    def add(self, into: dict[str, int], lo: float, hi: float) -> None:
        """Add the counts of buckets starting in ``[lo, hi)`` to ``into``."""
        if lo >= hi:
            return
        i, j = bisect.bisect_left(self.starts, lo), bisect.bisect_left(self.starts, hi)
        if i == j:
            return
        for name, column in self.cumulative.items():
            value = column[j] - column[i]
            if value:
                into[name] = into.get(name, 0) + value


class Buckets:
    """The counts of one (workflow, version) as read at ``now``.

    ``older`` holds, per window start before ``hour_from``, the sums of the hour buckets
    from that start's hour up to ``hour_from``.
    """

    def __init__(
        self,
        now: float,
        minutes: Iterable[tuple[float, str, int]],
        hours: Iterable[tuple[float, str, int]],
        older: dict[float, dict[str, int]] | None = None,
    ) -> None:
        self.now = now
        self.minute_from = _floor(now - MINUTE_SPAN, _HOUR)
        self.hour_from = _floor(now - HOUR_SPAN, _HOUR)
        self._minutes = _Series(minutes)
        self._hours = _Series(hours)
        self._older = older or {}

    def window(self, start: float) -> dict[str, int]:
        """Counts per series of the buckets overlapping ``[start, now]``."""
        end = self.now
        # The bucket that starts exactly at ``now`` holds events of that instant: include it.
        stop = math.nextafter(end, math.inf)
        out: dict[str, int] = {}
        hour_lo = float(math.ceil(start / _HOUR) * _HOUR)
        hour_hi = _floor(end, _HOUR)
        if start < self.minute_from:
            hour_lo = _floor(start, _HOUR)  # the whole first hour
            if hour_lo < self.hour_from:
                if start not in self._older:
                    raise KeyError(f"window start {start} was not prepared")
                out.update(self._older[start])
                hour_lo = self.hour_from
        elif hour_lo >= hour_hi:
            self._minutes.add(out, _floor(start, _MINUTE), stop)
            return out
        else:
            self._minutes.add(out, _floor(start, _MINUTE), hour_lo)
        self._hours.add(out, hour_lo, hour_hi)
        self._minutes.add(out, hour_hi, stop)
        return out


#: Sums of old hour buckets, by (workflow, version, first hour, end hour): they do not
#: change once the hours are past, so an evaluator that runs every minute reads them from
#: the database once an hour.
OlderCache = dict[tuple[str, str | None, float, float], dict[str, int]]


def load_buckets(
    store: Store,
    workflow: str,
    version: str | None,
    now: float,
    starts: Sequence[float],
    cache: OlderCache | None = None,
) -> Buckets:
    """Read the buckets of ``workflow`` (all versions if None) for windows from ``starts``."""
    key = [slo_buckets.c.workflow == workflow]
    if version is not None:
        key.append(slo_buckets.c.version == version)

    def rows(resolution: int, start: float) -> sa.Select[tuple[float, str, int]]:
        return (
            sa.select(
                slo_buckets.c.bucket_start,
                slo_buckets.c.series,
                sa.func.sum(slo_buckets.c.events),
            )
            .where(
                *key,
                slo_buckets.c.resolution == resolution,
                slo_buckets.c.bucket_start >= start,
            )
            .group_by(slo_buckets.c.bucket_start, slo_buckets.c.series)
        )

    minute_from = _floor(now - MINUTE_SPAN, _HOUR)
    hour_from = _floor(now - HOUR_SPAN, _HOUR)
    older: dict[float, dict[str, int]] = {}
    if cache is not None:
        for stale in [k for k in cache if k[3] != hour_from]:
            del cache[stale]
    with store.read() as conn:
        minutes = [(float(s), str(n), int(e)) for s, n, e in conn.execute(rows(60, minute_from))]
        hours = [(float(s), str(n), int(e)) for s, n, e in conn.execute(rows(3600, hour_from))]
        for start in sorted(set(starts)):
            if _floor(start, _HOUR) >= hour_from:
                continue
            cache_key = (workflow, version, _floor(start, _HOUR), hour_from)
            if cache is not None and cache_key in cache:
                older[start] = cache[cache_key]
                continue
            totals = conn.execute(
                sa.select(slo_buckets.c.series, sa.func.sum(slo_buckets.c.events))
                .where(
                    *key,
                    slo_buckets.c.resolution == _HOUR,
                    slo_buckets.c.bucket_start >= _floor(start, _HOUR),
                    slo_buckets.c.bucket_start < hour_from,
                )
                .group_by(slo_buckets.c.series)
            )
            older[start] = {str(series): int(events) for series, events in totals}
            if cache is not None:
                cache[cache_key] = older[start]
    return Buckets(now, minutes, hours, older)


def last_end(store: Store, workflow: str, version: str | None) -> float | None:
    """When the latest instance of ``workflow`` (all versions if None) ended, or None.

    The latest hour bucket holding an end (found walking the primary key backwards from
    now, so it costs a few rows while instances end), then the latest ``last_at`` in it.
    A row without ``last_at`` (0: loaded from outside the engine) counts as its start.
    """
    where = [
        slo_buckets.c.workflow == workflow,
        slo_buckets.c.resolution == _HOUR,
        slo_buckets.c.series.like("end:%"),
    ]
    if version is not None:
        where.append(slo_buckets.c.version == version)
    latest_hour = (
        sa.select(slo_buckets.c.bucket_start)
        .where(*where)
        .order_by(slo_buckets.c.bucket_start.desc())
        .limit(1)
        .scalar_subquery()
    )
    query = sa.select(
        sa.func.max(slo_buckets.c.last_at), sa.func.max(slo_buckets.c.bucket_start)
    ).where(*where, slo_buckets.c.bucket_start == latest_hour)
    with store.read() as conn:
        last_at, hour = conn.execute(query).one()
    if hour is None:
        return None
    return max(float(last_at), float(hour))
