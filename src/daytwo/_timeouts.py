"""Timeouts of whole instances: checking ``timeout=`` and saying a deadline in words.

``@app.workflow(timeout=...)`` gives every instance of a workflow a deadline, which a start
may override (``app.start(..., timeout=...)``, ``client.start``, ``start_many``, ``daytwo
start --timeout``). The deadline is stored on the instance when it is created
(``instances.deadline_at``); the worker's deadline service fails (or parks) an instance
still active after it (``worker/_deadlines.py``, ``engine/_deadline.py``).
"""

from __future__ import annotations

import math
from datetime import timedelta

from daytwo._errors import InvalidInput

__all__ = ["check_timeout", "deadline_of", "in_words"]


def check_timeout(value: object, what: str) -> float | None:
    """``value`` (a timedelta, seconds, or None) as seconds; anything else is refused."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise InvalidInput(
            f"{what} must be a datetime.timedelta or a number of seconds (got {value!r}); "
            "for example timeout=timedelta(days=3)"
        )
    if not math.isfinite(seconds) or seconds <= 0:
        raise InvalidInput(
            f"{what} must be positive (got {value!r}); give how long an instance may take, "
            "for example timeout=timedelta(days=3), or leave it out for no deadline"
        )
    return seconds


def deadline_of(now: float, timeout: float | None) -> float | None:
    """The deadline of an instance created at ``now`` with ``timeout`` (None: none)."""
    return None if timeout is None else now + timeout


def in_words(seconds: float) -> str:
    """A duration the way the command line writes one: "3 d", "2 h", "1.5 h", "0.5 s"
    (within a twentieth of a whole unit, the whole unit: "in 3 d" a moment later too)."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if seconds >= size or unit == "s":
            value = seconds / size
            if abs(value - round(value)) < 0.05:
                return f"{round(value)} {unit}"
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")
