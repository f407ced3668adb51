"""How the command line shows things: JSON for scripts, Rich tables for people."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = [
    "abbreviate",
    "duration",
    "new_table",
    "print_json",
    "short_time",
    "status_text",
    "stderr_console",
    "stdout_console",
    "timestamp",
]

STATUS_STYLES = {
    "SUCCEEDED": "green",
    "RUNNING": "cyan",
    "RUNNABLE": "blue",
    "WAITING": "yellow",
    "COMPENSATED": "magenta",
    "CANCELLED": "magenta",
    "FAILED": "bold red",
    "COMPENSATION_FAILED": "bold red",
    "INCOMPATIBLE": "bold red",
    "open": "yellow",
    "completed": "green",
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
    """A time in the local time zone, to the second ("" for none)."""
    return "" if value is None else value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def short_time(value: datetime | None) -> str:
    """A time for a table cell: ``HH:MM:SS`` today, else ``YYYY-MM-DD HH:MM``."""
    if value is None:
        return ""
    local = value.astimezone()
    if local.date() == datetime.now().astimezone().date():
        return local.strftime("%H:%M:%S")
    return local.strftime("%Y-%m-%d %H:%M")


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


def new_table(title: str | None, *columns: str, keep: tuple[str, ...] = ()) -> Table:
    """A table in the house style; columns named in ``keep`` are never wrapped or cut."""
    table = Table(title=title, title_justify="left", title_style="bold", header_style="bold")
    for column in columns:
        table.add_column(column, no_wrap=column in keep)
    return table
