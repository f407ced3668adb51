"""How the command line shows things: JSON for scripts, Rich tables for people.

Times are shown in one way everywhere: UTC, marked ``Z`` (``2026-05-01 14:03:07Z``; in a
table ``14:03:07Z`` for today, else ``2026-05-01 14:03Z``); JSON carries ISO 8601 UTC.

Tables fit the terminal (80 columns included) without cutting what matters: every column
is either never cut (ids, names, statuses, times, numbers) or free text that wraps, and on
a narrow terminal optional columns are left out, in a fixed order, until the rest fits
(``--json`` always has everything).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from daytwo import InstanceStatus, TaskStatus

__all__ = [
    "Column",
    "Row",
    "abbreviate",
    "duration",
    "fit_table",
    "print_json",
    "print_table",
    "short_time",
    "status_text",
    "stderr_console",
    "stdout_console",
    "timestamp",
]

STATUS_STYLES: dict[str, str] = {
    InstanceStatus.SUCCEEDED: "green",
    InstanceStatus.RUNNING: "cyan",
    InstanceStatus.RUNNABLE: "blue",
    InstanceStatus.WAITING: "yellow",
    InstanceStatus.COMPENSATED: "magenta",
    InstanceStatus.CANCELLED: "magenta",
    InstanceStatus.FAILED: "bold red",
    InstanceStatus.COMPENSATION_FAILED: "bold red",
    InstanceStatus.INCOMPATIBLE: "bold red",
    InstanceStatus.NEEDS_ATTENTION: "bold yellow",
    InstanceStatus.TERMINATED: "bold red",
    TaskStatus.OPEN: "yellow",
    TaskStatus.COMPLETED: "green",
    TaskStatus.CANCELLED: "magenta",
    TaskStatus.TIMED_OUT: "red",
}


def stdout_console() -> Console:
    """A console on the current stdout (looked up now, so tests can capture it).

    Markup is off: ids, payloads and errors are shown as they are, never as styles; style
    with :class:`rich.text.Text` instead.
    """
    return Console(file=sys.stdout, markup=False, emoji=False, highlight=False)


def stderr_console() -> Console:
    """A console on the current stderr, for notes that scripts should not parse."""
    return Console(file=sys.stderr, markup=False, emoji=False, highlight=False, soft_wrap=True)


def print_json(value: Any) -> None:
    """Print ``value`` as indented JSON on stdout."""
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def status_text(status: str) -> Text:
    """A status, coloured by what it means."""
    return Text(status, style=STATUS_STYLES.get(status, ""))


def timestamp(value: datetime | None) -> str:
    """A time in UTC to the second, ``2026-05-01 14:03:07Z`` ("" for none)."""
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def short_time(value: datetime | None) -> str:
    """A time for a table cell, in UTC: ``14:03:07Z`` today, else ``2026-05-01 14:03Z``."""
    if value is None:
        return ""
    utc = value.astimezone(UTC)
    if utc.date() == datetime.now(UTC).date():
        return utc.strftime("%H:%M:%SZ")
    return utc.strftime("%Y-%m-%d %H:%MZ")


def duration(seconds: float | None) -> str:
    """A duration for people: ``0.25s``, ``42s``, ``3m 4s``, ``2h 5m``, ``3d 4h``."""
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def abbreviate(value: Any, width: int = 60) -> str:
    """A JSON value on one line, cut to ``width`` characters ("" for None)."""
    if value is None:
        return ""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


@dataclass(frozen=True)
class Column:
    """A table column: never cut (the default), or free text that wraps (``wrap``).

    ``drop``: 0 for a column that is always shown; otherwise the column is left out when
    the terminal is too narrow for the table, those with 1 first, then 2, and so on.
    """

    header: str
    wrap: bool = False
    drop: int = 0
    #: The narrowest a wrapping column may become (never narrower than its longest word).
    min_width: int = 12


#: Between two columns: one space of padding and one of the (blank) column separator.
COLUMN_GAP = 2

#: One table row: its cells by column header.
Row = Mapping[str, str | Text]


def _cell_width(cell: str | Text) -> int:
    text = cell.plain if isinstance(cell, Text) else str(cell)
    return max((cell_len(line) for line in text.splitlines()), default=0)


def _needed_width(columns: Sequence[Column], rows: Sequence[Row]) -> int:
    """The narrowest the table can be without cutting a column: a column that never wraps
    needs its widest cell, a wrapping one its ``min_width`` but at least its longest word."""
    return COLUMN_GAP * (len(columns) - 1) + sum(_narrowest(c, rows) for c in columns)


def _narrowest(column: Column, rows: Sequence[Row]) -> int:
    cells = [column.header, *(row.get(column.header, "") for row in rows)]
    natural = max(_cell_width(cell) for cell in cells)
    if not column.wrap:
        return natural
    longest_word = max(_longest_word(cell) for cell in cells)
    return max(longest_word, min(natural, column.min_width))


def _longest_word(cell: str | Text) -> int:
    text = cell.plain if isinstance(cell, Text) else str(cell)
    return max((cell_len(word) for word in text.split()), default=0)


def fit_table(
    columns: Sequence[Column],
    rows: Sequence[Row],
    *,
    width: int,
    title: str | None = None,
    caption: str | None = None,
) -> Table:
    """A table of ``rows`` (cells by column header) in the house style, fitted to ``width``
    by leaving out optional columns (see :class:`Column`)."""
    shown = list(columns)
    while _needed_width(shown, rows) > width and any(c.drop for c in shown):
        first = min(c.drop for c in shown if c.drop)
        shown.remove(next(c for c in shown if c.drop == first))
    table = Table(
        title=title,
        caption=caption,
        title_justify="left",
        caption_justify="left",
        title_style="bold",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),
        # A table narrower than its title would wrap the title.
        min_width=cell_len(title) if title else None,
    )
    for column in shown:
        if column.wrap:
            # Wraps between words, never inside one: the table was cut to fit those widths.
            table.add_column(column.header, overflow="fold", min_width=_narrowest(column, rows))
        else:
            table.add_column(column.header, no_wrap=True)
    for row in rows:
        table.add_row(*(row.get(column.header, "") for column in shown))
    return table


def print_table(
    columns: Sequence[Column],
    rows: Sequence[Row],
    *,
    title: str | None = None,
    caption: str | None = None,
    console: Console | None = None,
) -> None:
    """Print :func:`fit_table` on ``console`` (default: stdout), fitted to its width."""
    out = console or stdout_console()
    out.print(fit_table(columns, rows, width=out.width, title=title, caption=caption))
