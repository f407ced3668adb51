"""Business calendars against hand-computed expectations: holidays, the end of a working
day, and both daylight-saving changes of Europe/Zagreb (2026-03-29 and 2026-10-25)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

import daytwo
from daytwo.sla import BusinessCalendar

ZAGREB = ZoneInfo("Europe/Zagreb")
#: Whit Monday is not a holiday in Croatia; a made-up one on Monday 2026-06-01 will do.
HOLIDAY = date(2026, 6, 1)
OFFICE = BusinessCalendar.office("Europe/Zagreb", holidays=[HOLIDAY])
ALWAYS = BusinessCalendar("Europe/Zagreb", {d: ((time(0), time.max),) for d in range(7)})


def local(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZAGREB)


def test_one_business_day_from_friday_afternoon_skips_the_weekend_and_the_holiday() -> None:
    start = local(2026, 5, 29, 16, 0)  # Friday 16:00, Monday 1 June a holiday
    assert OFFICE.add_days(start, 1) == local(2026, 6, 2, 16, 0)
    assert OFFICE.add_hours(start, timedelta(hours=8)) == local(2026, 6, 2, 16, 0)
    assert OFFICE.elapsed(start, local(2026, 6, 2, 16, 0)) == timedelta(hours=8)


def test_two_business_hours_across_the_end_of_a_working_day() -> None:
    start = local(2026, 5, 27, 16, 30)  # Wednesday 16:30: half an hour left today
    assert OFFICE.add_hours(start, timedelta(hours=2)) == local(2026, 5, 28, 10, 30)
    # Asked after hours, the clock starts at the next opening.
    assert OFFICE.add_hours(local(2026, 5, 27, 20, 0), timedelta(hours=2)) == (
        local(2026, 5, 28, 11, 0)
    )


def test_spring_forward() -> None:
    # Friday 27 March 10:00 CET (UTC+1) + 1 business day: Monday 30 March 10:00 CEST (UTC+2).
    assert OFFICE.add_days(local(2026, 3, 27, 10, 0), 1) == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)
    # Working around the clock: Sunday 29 March has 23 hours; 01:30 + 1 h is 03:30 local.
    assert ALWAYS.add_hours(local(2026, 3, 29, 1, 30), timedelta(hours=1)) == (
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    )
    day = ALWAYS.intervals(date(2026, 3, 29))
    assert sum((b - a for a, b in day), timedelta(0)) == timedelta(hours=23)


def test_fall_back() -> None:
    # Friday 23 October 16:30 CEST + 2 business hours: Monday 26 October 10:30 CET (09:30Z).
    assert OFFICE.add_hours(local(2026, 10, 23, 16, 30), timedelta(hours=2)) == (
        datetime(2026, 10, 26, 9, 30, tzinfo=UTC)
    )
    day = ALWAYS.intervals(date(2026, 10, 25))
    assert sum((b - a for a, b in day), timedelta(0)) == timedelta(hours=25)


def test_half_days_and_bad_calendars() -> None:
    eve = date(2026, 12, 24)
    calendar = BusinessCalendar.office("Europe/Zagreb", half_days={eve: ((time(9), time(12)),)})
    # Thursday 24 December 11:00, a half day: one hour left, then Friday 25th from 09:00.
    assert calendar.add_hours(local(2026, 12, 24, 11, 0), timedelta(hours=2)) == (
        local(2026, 12, 25, 10, 0)
    )
    with pytest.raises(daytwo.InvalidInput, match="unknown time zone 'Mars/Olympus'"):
        BusinessCalendar.office("Mars/Olympus")
    with pytest.raises(daytwo.InvalidInput, match="end before they start"):
        BusinessCalendar.office("UTC", time(17), time(9))
    with pytest.raises(daytwo.InvalidInput, match="no time zone"):
        OFFICE.add_hours(datetime(2026, 1, 1), timedelta(hours=1))
    with pytest.raises(daytwo.InvalidInput, match="no working time"):
        BusinessCalendar("UTC", {}).add_hours(0.0, timedelta(hours=1))


@given(
    start=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)),
    minutes=st.integers(min_value=0, max_value=60 * 8 * 30),
)
def test_the_time_added_is_the_working_time_elapsed(start: datetime, minutes: int) -> None:
    begin = start.replace(tzinfo=UTC)
    end = OFFICE.add_hours(begin, timedelta(minutes=minutes))
    assert OFFICE.elapsed(begin, end) == timedelta(minutes=minutes)
