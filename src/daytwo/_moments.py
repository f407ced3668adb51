"""Moments given as text: ``90d`` ago, or a date and time.

Operators select by time everywhere (``--since 2h``, ``--started-before 2026-11-30``,
``purge --before 90d``); the CLI, the HTTP API and the runbooks read such text with
:func:`parse_moment`, so one spelling means the same thing in each.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

__all__ = ["MOMENT_HELP", "parse_ago", "parse_moment"]

MOMENT_HELP = "a time ago (30s, 15m, 36h, 90d, 2w) or a UTC date/time (2026-11-30T08:00)"

_AGO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_ago(text: str) -> timedelta | None:
    """``90d`` as a timedelta; None when ``text`` is not a duration of that form."""
    match = _AGO.match(text)
    if match is None:
        return None
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def parse_moment(text: str, now: float, what: str = "the time") -> float:
    """Epoch seconds of ``text``: a duration before ``now``, or an ISO 8601 date/time (UTC
    unless it names its offset). Raises ValueError naming ``what`` and the forms it takes."""
    try:
        ago = parse_ago(text)
    except OverflowError:  # 99999999999d: more days than a date can hold
        raise ValueError(f"{what} {text!r} is further back than any date; {MOMENT_HELP}") from None
    if ago is not None:
        return now - ago.total_seconds()
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{what} {text!r} is not {MOMENT_HELP}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
