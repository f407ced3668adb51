"""Business calendars: working hours per weekday in a time zone, holidays and half days,
and durations counted in working time ("within 1 business day", "respond within 2
business hours").

Working hours are wall-clock times of the calendar's zone, so each day's intervals are
built in local time and converted to UTC one day at a time (``zoneinfo``): a working day
that contains a daylight-saving change keeps its 09:00-17:00 on the clock and is an hour
shorter or longer in elapsed time, which is what a contract on office hours means. A
local time that does not exist (the spring-forward gap) is read as the time after the gap;
one that exists twice (the autumn fold) as its first occurrence.

Business days count whole working days: ``n`` business days after a moment inside working
hours is the same working time ``n`` working days later (Friday 16:00 + 1 business day =
Monday 16:00, or Tuesday 16:00 when Monday is a holiday); business hours count working
time.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from daytwo._errors import InvalidInput

__all__ = ["BusinessCalendar", "WorkingHours"]

#: A working stretch of one day: from, to (wall clock; ``to`` may be 24:00 as time.max).
WorkingHours = tuple[time, time]
#: How far ahead a computation looks for working time before it gives up (a calendar with
#: no working hours at all, or holidays for years).
_HORIZON_DAYS = 3 * 366


def _utc(moment: datetime | float) -> datetime:
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise InvalidInput(f"{moment.isoformat()} has no time zone; give an aware datetime")
        return moment.astimezone(UTC)
    return datetime.fromtimestamp(float(moment), UTC)


@dataclass(frozen=True)
class BusinessCalendar:
    """Working hours per weekday (0 Monday .. 6 Sunday) in ``zone``, ``holidays`` without
    work, and ``half_days`` (or any other day) with hours of their own."""

    zone: str
    hours: Mapping[int, tuple[WorkingHours, ...]]
    holidays: frozenset[date] = frozenset()
    half_days: Mapping[date, tuple[WorkingHours, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidInput(
                f"unknown time zone {self.zone!r}; use an IANA name such as Europe/Zagreb"
            ) from None
        for weekday, stretches in self.hours.items():
            if weekday not in range(7):
                raise InvalidInput(f"weekday {weekday} is not 0 (Monday) to 6 (Sunday)")
            _check(stretches, f"weekday {weekday}")
        for day, stretches in self.half_days.items():
            _check(stretches, day.isoformat())

    @classmethod
    def office(
        cls,
        zone: str,
        start: time = time(9),
        end: time = time(17),
        *,
        holidays: Iterable[date] = (),
        half_days: Mapping[date, tuple[WorkingHours, ...]] | None = None,
    ) -> BusinessCalendar:
        """Monday to Friday, ``start`` to ``end`` in ``zone``."""
        return cls(zone, {d: ((start, end),) for d in range(5)}, frozenset(holidays),
                   dict(half_days or {}))  # fmt: skip

    # -- one day --------------------------------------------------------------------------

    def stretches(self, day: date) -> tuple[WorkingHours, ...]:
        """The working hours of ``day`` (wall clock), none on a holiday."""
        if day in self.half_days:
            return self.half_days[day]
        if day in self.holidays:
            return ()
        return self.hours.get(day.weekday(), ())

    def intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The working intervals of local ``day`` in UTC."""
        zone = ZoneInfo(self.zone)
        found = []
        for start, end in self.stretches(day):
            begin = _local(day, start, zone)
            finish = _local(day + timedelta(days=1), time(0), zone) if end == time.max else (
                _local(day, end, zone)
            )  # fmt: skip
            if finish > begin:
                found.append((begin, finish))
        return found

    def _days(self, moment: datetime) -> Iterator[tuple[date, list[tuple[datetime, datetime]]]]:
        day = moment.astimezone(ZoneInfo(self.zone)).date()
        for offset in range(_HORIZON_DAYS):
            current = day + timedelta(days=offset)
            yield current, self.intervals(current)
        raise InvalidInput(
            f"the calendar has no working time in the {_HORIZON_DAYS} days after "
            f"{moment.isoformat()}; check its hours and holidays"
        )

    # -- durations ------------------------------------------------------------------------

    def add_hours(self, start: datetime | float, business: timedelta) -> datetime:
        """The moment ``business`` working time after ``start`` (UTC)."""
        if business < timedelta(0):
            raise InvalidInput("a business duration must not be negative")
        moment = _utc(start)
        left = business
        for _, intervals in self._days(moment):
            for begin, finish in intervals:
                if finish <= moment:
                    continue
                begin = max(begin, moment)
                if begin + left <= finish:
                    return begin + left
                left -= finish - begin
        raise AssertionError("unreachable")  # _days raises first

    def add_days(self, start: datetime | float, days: int) -> datetime:
        """The same working time ``days`` working days after ``start`` (UTC): the working
        time already done on the start's day is done again on the last one."""
        if days < 0:
            raise InvalidInput("a number of business days must not be negative")
        moment = self.next_working(_utc(start))
        if days == 0:
            return moment
        walk = self._days(moment)
        _, first = next(walk)
        done = sum((min(f, moment) - b for b, f in first if b < moment), timedelta(0))
        counted = 0
        for _day, intervals in walk:
            if not intervals:
                continue
            counted += 1
            if counted == days:
                return self.add_hours(intervals[0][0], done) if done else intervals[0][0]
        raise AssertionError("unreachable")

    def next_working(self, moment: datetime | float) -> datetime:
        """``moment`` if it is working time, else the start of the next working time."""
        at = _utc(moment)
        for _, intervals in self._days(at):
            for begin, finish in intervals:
                if finish > at:
                    return max(begin, at)
        raise AssertionError("unreachable")

    def elapsed(self, start: datetime | float, end: datetime | float) -> timedelta:
        """Working time between ``start`` and ``end`` (0 when ``end`` is not after it)."""
        begin, finish = _utc(start), _utc(end)
        total = timedelta(0)
        if finish <= begin:
            return total
        day = begin.astimezone(ZoneInfo(self.zone)).date()
        last = finish.astimezone(ZoneInfo(self.zone)).date()
        while day <= last:
            for a, b in self.intervals(day):
                overlap = min(b, finish) - max(a, begin)
                if overlap > timedelta(0):
                    total += overlap
            day += timedelta(days=1)
        return total


def _local(day: date, at: time, zone: ZoneInfo) -> datetime:
    """Wall-clock ``at`` on ``day`` in ``zone``, in UTC: a time in the spring-forward gap is
    the moment the clock jumps to, a time in the autumn fold its first occurrence."""
    naive = datetime.combine(day, at)
    aware = naive.replace(tzinfo=zone, fold=0)
    back = aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if back != naive:  # in the gap: the first existing time after it
        aware = naive.replace(tzinfo=zone, fold=1)
        return aware.astimezone(UTC).astimezone(zone).astimezone(UTC)
    return aware.astimezone(UTC)


def _check(stretches: tuple[WorkingHours, ...], where: str) -> None:
    for start, end in stretches:
        if not start < end:
            raise InvalidInput(f"{where}: working hours {start}-{end} end before they start")
    ordered = sorted(stretches)
    for (_, first_end), (second_start, _) in itertools.pairwise(ordered):
        if second_start < first_end:
            raise InvalidInput(f"{where}: working hours overlap")
