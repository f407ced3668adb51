"""Reading the SLO aggregates: event counts of one workflow over any time window.

Rows of ``slo_buckets`` are fetched once per (workflow, version) and evaluation: minute
buckets for the recent past (:data:`MINUTE_SPAN`), hour buckets for the long window. A
window's count is the sum of the buckets that overlap it, using hour buckets inside it and
minute buckets at its edges; cumulative sums make each window a few bisections, whatever
its length. A window whose start is older than the minute span starts at the hour.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Iterable

import sqlalchemy as sa

from daytwo.store import Store
from daytwo.store._schema import slo_buckets

__all__ = ["MINUTE_SPAN", "Buckets", "load_buckets"]

#: How far back minute buckets are read (the longest short alert window is 6 h).
MINUTE_SPAN = 7 * 3600.0
_MINUTE, _HOUR = 60, 3600


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
    """The counts of one (workflow, version) as read at ``now``."""

    def __init__(
        self, now: float, minutes: Iterable[tuple[float, str, int]],
        hours: Iterable[tuple[float, str, int]],
    ) -> None:  # fmt: skip
        self.now = now
        self.minute_from = math.floor((now - MINUTE_SPAN) / _HOUR) * _HOUR
        self._minutes = _Series(minutes)
        self._hours = _Series(hours)

    def window(self, start: float, end: float | None = None) -> dict[str, int]:
        """Counts per series of the buckets overlapping ``[start, end)`` (end: now)."""
        end = self.now if end is None else end
        # The bucket that starts exactly at ``end`` holds events of that instant: include it.
        stop = math.nextafter(end, math.inf)
        out: dict[str, int] = {}
        hour_lo = math.ceil(start / _HOUR) * _HOUR
        hour_hi = math.floor(end / _HOUR) * _HOUR
        if start < self.minute_from:
            hour_lo = math.floor(start / _HOUR) * _HOUR  # the whole first hour
        elif hour_lo >= hour_hi:
            self._minutes.add(out, math.floor(start / _MINUTE) * _MINUTE, stop)
            return out
        else:
            self._minutes.add(out, math.floor(start / _MINUTE) * _MINUTE, hour_lo)
        self._hours.add(out, hour_lo, hour_hi)
        self._minutes.add(out, hour_hi, stop)
        return out


def load_buckets(
    store: Store, workflow: str, version: str | None, now: float, since: float
) -> Buckets:
    """Read the buckets of ``workflow`` (all versions if None) back to ``since``."""
    columns = (slo_buckets.c.bucket_start, slo_buckets.c.series, sa.func.sum(slo_buckets.c.events))

    def query(resolution: int, start: float) -> sa.Select[tuple[float, str, int]]:
        select = sa.select(*columns).where(
            slo_buckets.c.workflow == workflow,
            slo_buckets.c.resolution == resolution,
            slo_buckets.c.bucket_start >= start,
        )
        if version is not None:
            select = select.where(slo_buckets.c.version == version)
        return select.group_by(slo_buckets.c.bucket_start, slo_buckets.c.series)

    minute_from = math.floor((now - MINUTE_SPAN) / _HOUR) * _HOUR
    with store.read() as conn:
        minutes = [tuple(r) for r in conn.execute(query(_MINUTE, minute_from))]
        hours = [tuple(r) for r in conn.execute(query(_HOUR, math.floor(since / _HOUR) * _HOUR))]
    return Buckets(now, minutes, hours)
