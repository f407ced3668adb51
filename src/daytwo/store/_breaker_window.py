"""The sliding window of a closed breaker in SQL: the calls it holds now, and pruning the
calls that fell out of it (the same window as :func:`~._breaker_policy.count_window`)."""

from __future__ import annotations

import sqlalchemy as sa

from daytwo.store._breaker_policy import BreakerPolicy, WindowCounts
from daytwo.store._operator_schema import breaker_calls

__all__ = ["counted", "prune", "window_rows"]


def window_rows(
    conn: sa.Connection, name: str, policy: BreakerPolicy, now: float
) -> list[tuple[int, str]]:
    """``(id, outcome)`` of the calls in ``name``'s window now, newest first."""
    query = sa.select(breaker_calls.c.id, breaker_calls.c.outcome).where(
        breaker_calls.c.name == name
    )
    if policy.window_seconds is not None:
        query = query.where(breaker_calls.c.at > now - policy.window_seconds)
    else:
        query = query.order_by(breaker_calls.c.id.desc()).limit(policy.window)
    return [(row[0], row[1]) for row in conn.execute(query)]


def prune(
    conn: sa.Connection,
    name: str,
    policy: BreakerPolicy,
    rows: list[tuple[int, str]],
    now: float,
) -> None:
    """Delete the calls that fell out of the window."""
    mine = breaker_calls.c.name == name
    if policy.window_seconds is not None:
        gone = breaker_calls.c.at <= now - policy.window_seconds
    elif policy.window is not None and len(rows) >= policy.window:
        gone = breaker_calls.c.id < min(row_id for row_id, _ in rows)
    else:
        return
    conn.execute(breaker_calls.delete().where(mine, gone))


def counted(rows: list[tuple[int, str]]) -> WindowCounts:
    """The counts of the window's rows."""
    return WindowCounts.of(outcome for _, outcome in rows)
