"""When a schedule's ticks fall: a cron expression in a time zone, or a fixed interval.

Cron expressions are evaluated by ``cronsim`` on aware datetimes of the schedule's zone
(``zoneinfo``), so daylight-saving changes follow the wall clock as cron on Debian does:

- a wall time that does not exist (02:30 on a spring-forward day in Europe/Zagreb) runs
  at the first moment after the gap (03:00 local time) that day;
- a wall time that exists twice (02:30 on a fall-back day) runs once, at its first
  occurrence;
- an expression with a wildcard hour (``0 * * * *``) ticks every real hour: 23 ticks on
  the spring-forward day, 25 on the fall-back day.

Interval schedules (``every=``) tick in absolute time, at the multiples of the interval
since the Unix epoch: every worker computes the same ticks, and no DST change moves them.
Ticks are epoch seconds (floats), as everything in the store.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from daytwo._errors import InvalidInput

__all__ = ["Cadence", "iso_tick"]

#: A late tick still counts as on time (not missed) up to this many seconds late, and at
#: most half its period (a tick must not be on time when the next one is due).
ON_TIME_GRACE = 60.0


def iso_tick(moment: float) -> str:
    """``moment`` as the UTC ISO 8601 text of schedule ids (``2026-01-01T02:00:00Z``)."""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Cadence:
    """A schedule's ticks: ``cron`` (five fields) in ``timezone``, or every ``every`` seconds."""

    cron: str | None
    every: float | None
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if (self.cron is None) == (self.every is None):
            raise InvalidInput(
                "a schedule needs exactly one of a cron expression and every=; give "
                "app.schedule('0 2 * * *') or app.schedule(every=timedelta(minutes=1))"
            )
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidInput(
                f"unknown time zone {self.timezone!r}; use an IANA name such as "
                "'Europe/Zagreb' or 'UTC'"
            ) from None
        if self.every is not None:
            if self.every < 1:
                raise InvalidInput(
                    f"a schedule's every= must be at least one second (got {self.every} s)"
                )
            if self.every != int(self.every):
                raise InvalidInput(
                    f"a schedule's every= must be whole seconds (got {self.every} s)"
                )
            return
        assert self.cron is not None
        try:
            CronSim(self.cron, datetime.now(zone))
        except CronSimError as error:
            raise InvalidInput(
                f"invalid cron expression {self.cron!r} ({error}); use five fields: minute "
                "hour day-of-month month day-of-week, e.g. '0 2 * * *' for 02:00 daily"
            ) from None

    @property
    def zone(self) -> ZoneInfo:
        """The schedule's time zone."""
        return ZoneInfo(self.timezone)

    def describe(self) -> str:
        """``0 2 * * * (Europe/Zagreb)`` or ``every 60 s``."""
        if self.every is not None:
            return f"every {self.every:g} s"
        return f"{self.cron} ({self.timezone})"

    def next_after(self, moment: float) -> float:
        """The first tick strictly after ``moment``."""
        return next(self.ticks_after(moment))

    def ticks_after(self, moment: float) -> Iterator[float]:
        """The ticks strictly after ``moment``, in order."""
        if self.every is not None:
            tick = (moment // self.every + 1) * self.every
            while True:
                yield tick
                tick += self.every
        assert self.cron is not None
        start = datetime.fromtimestamp(moment, self.zone)
        for when in CronSim(self.cron, start):
            # cronsim starts at the minute after ``start``'s (seconds dropped): skip a tick
            # at or before ``moment`` itself.
            tick = when.timestamp()
            if tick > moment:
                yield tick

    def due(self, first: float, now: float, limit: int) -> tuple[list[float], int, float]:
        """The ticks from ``first`` (a tick, included) to ``now`` (included): the latest
        ``limit`` of them, how many there were in all, and the first tick after ``now``."""
        if self.every is not None:  # arithmetic: a long outage of a short interval is cheap
            if first > now:
                return [], 0, first
            count = int((now - first) // self.every) + 1
            last = first + (count - 1) * self.every
            shown = min(count, limit)
            return [last - k * self.every for k in reversed(range(shown))], count, last + self.every
        latest: list[float] = []
        count = 0
        tick = first
        later = self.ticks_after(first)
        while tick <= now:
            count += 1
            latest.append(tick)
            if len(latest) > limit:
                del latest[0]
            tick = next(later)
        return latest, count, tick

    def on_time(self, tick: float, now: float) -> bool:
        """Whether ``tick``, seen at ``now``, is not late enough to count as missed."""
        period = self.next_after(tick) - tick
        return now - tick <= min(ON_TIME_GRACE, period / 2)
